"""deployments domain (docs/updates.md)."""
