"""widen tenants/products/device_groups name_key: a casefolded name can be longer

``"ß".casefold() == "ss"``: casefold expands a character to at most three, so a
valid 50-character name can yield a key of up to 150 characters (a 100-character
tenant name: 300), which PostgreSQL refused with a 500. SQLite does not enforce
VARCHAR lengths, so it needs no change (and rebuilding tables that others reference
would be riskier than helpful).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> (old length, new length): three times the longest name allowed.
_TABLES = {"tenants": (100, 300), "products": (50, 150), "device_groups": (50, 150)}


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, (old, new) in _TABLES.items():
        op.alter_column(
            table,
            "name_key",
            existing_type=sa.String(length=old),
            type_=sa.String(length=new),
            existing_nullable=False,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, (old, new) in _TABLES.items():
        op.alter_column(
            table,
            "name_key",
            existing_type=sa.String(length=new),
            type_=sa.String(length=old),
            existing_nullable=False,
        )
