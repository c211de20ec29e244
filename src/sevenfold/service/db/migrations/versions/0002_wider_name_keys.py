"""widen products/device_groups name_key: a casefolded name can be longer

``"ß".casefold() == "ss"``: a valid 50-character name could yield a key of up to
150 characters (casefold expands a character to at most three), which PostgreSQL
refused with a 500. SQLite does not enforce VARCHAR lengths, so it needs no change
(and rebuilding tables that others reference would be riskier than helpful).

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

_TABLES = ("products", "device_groups")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table in _TABLES:
        op.alter_column(
            table,
            "name_key",
            existing_type=sa.String(length=50),
            type_=sa.String(length=150),
            existing_nullable=False,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table in _TABLES:
        op.alter_column(
            table,
            "name_key",
            existing_type=sa.String(length=150),
            type_=sa.String(length=50),
            existing_nullable=False,
        )
