"""offline TUF keys and pending metadata

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sevenfold.service.db.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tuf_pending_metadata",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("repository", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tuf_pending_metadata_tenant_id_tenants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tuf_pending_metadata")),
        sa.UniqueConstraint(
            "tenant_id",
            "repository",
            "role",
            name=op.f("uq_tuf_pending_metadata_tenant_id"),
        ),
    )
    with op.batch_alter_table("tuf_signing_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "pending", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
        batch_op.alter_column(
            "private_key_wrapped", existing_type=sa.LargeBinary(), nullable=True
        )


def downgrade() -> None:
    with op.batch_alter_table("tuf_signing_keys", schema=None) as batch_op:
        batch_op.alter_column(
            "private_key_wrapped", existing_type=sa.LargeBinary(), nullable=False
        )
        batch_op.drop_column("pending")
    op.drop_table("tuf_pending_metadata")
