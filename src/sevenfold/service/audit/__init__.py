"""The audit domain: router, schemas, models, service."""
