"""Row identifiers: random UUIDs, so IDs reveal nothing about other tenants."""

import uuid


def new_id() -> str:
    """Return a fresh random identifier."""
    return str(uuid.uuid4())
