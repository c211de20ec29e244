"""The products domain: router, schemas, models, service."""
