"""tenant_cas: each tenant's CA certificates and their encrypted private keys

Existing tenants get their first CA lazily, the first time one is needed (a migration
cannot make one: it has no key-encryption key).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sevenfold.service.db.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sevenfold.service.db.base.UtcDateTime:
    return sevenfold.service.db.base.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tenant_cas",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("thumbprint_sha256", sa.String(length=64), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("wrapped_private_key", sa.LargeBinary(), nullable=False),
        sa.Column("not_before", _utc(), nullable=False),
        sa.Column("not_after", _utc(), nullable=False),
        sa.Column("activates_at", _utc(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_tenant_cas_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_cas")),
        sa.UniqueConstraint(
            "tenant_id", "generation", name=op.f("uq_tenant_cas_tenant_id")
        ),
    )
    with op.batch_alter_table("tenant_cas", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tenant_cas_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("tenant_cas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tenant_cas_tenant_id"))
    op.drop_table("tenant_cas")
