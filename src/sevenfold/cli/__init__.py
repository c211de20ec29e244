"""The operator CLI: noun-verb commands that talk to the service over HTTP only.

It never imports the service: everything it knows about the API comes from the wire
vocabulary in :mod:`sevenfold.protocol` and from the JSON the service returns.
"""
