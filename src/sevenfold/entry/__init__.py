"""The composition root: the ``sevenfold`` console script joins every component's
commands. It is the only package allowed to import the service, the CLI and the agent
together; they never import each other.
"""
