"""The tenants domain: router, schemas, models, service."""
