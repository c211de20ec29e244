"""The tokens domain: router, schemas, models, service."""
