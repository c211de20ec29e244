"""Device capabilities: signed per-device grants (app-development, field-servicing)."""
