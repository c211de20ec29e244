"""API tests: every route over HTTP, on SQLite and PostgreSQL."""
