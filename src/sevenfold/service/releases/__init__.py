"""releases domain (docs/updates.md)."""
