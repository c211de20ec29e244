"""The operations domain: router, schemas, models, service."""
