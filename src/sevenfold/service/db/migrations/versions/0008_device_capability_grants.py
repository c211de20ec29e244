"""device capability grants

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sevenfold.service.db.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_capability_grants",
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column(
            "issued_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("granted_by", sa.String(length=32), nullable=True),
        sa.Column("signed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_device_capability_grants_device_id_devices"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_device_capability_grants_tenant_id_tenants"),
        ),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_device_capability_grants")),
    )
    with op.batch_alter_table("device_capability_grants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_device_capability_grants_tenant_id"),
            ["tenant_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("device_capability_grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_capability_grants_tenant_id"))

    op.drop_table("device_capability_grants")
