"""The tenant CA domain: key-encryption key, router, schemas, models, service."""
