"""images domain (docs/updates.md)."""
