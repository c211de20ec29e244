"""The on-device agent; ``agent.trusted`` is its trusted core (device keys, evidence).

The agent never imports the service or the CLI; it talks to the service over HTTP.
"""
