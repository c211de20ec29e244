"""The devices domain: router, schemas, models, service."""
