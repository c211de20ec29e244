"""The agent's trusted core: device keys and the evidence they sign.

A small package of its own: no network code and no app code (an import-linter
contract in pyproject.toml holds it to that). The rest of the agent sees only the
``KeyStore`` interface and never private key material.
"""
