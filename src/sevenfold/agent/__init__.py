"""The on-device agent (its trusted core arrives with the attestation issue).

The agent never imports the service or the CLI; it talks to the service over HTTP.
"""
