"""updates domain (docs/updates.md)."""
