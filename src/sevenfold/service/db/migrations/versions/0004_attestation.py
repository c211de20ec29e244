"""attestation: approved measurements, nonces, attempts and device events

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sevenfold.service.db.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "approved_measurements",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=True),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column(
            "created_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_approved_measurements_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_approved_measurements_tenant_id_tenants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approved_measurements")),
        sa.UniqueConstraint(
            "product_id",
            "kind",
            "sha256",
            name=op.f("uq_approved_measurements_product_id"),
        ),
    )
    with op.batch_alter_table("approved_measurements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_approved_measurements_product_id"),
            ["product_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_approved_measurements_tenant_id"),
            ["tenant_id"],
            unique=False,
        )

    op.create_table(
        "attestation_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=True),
        sa.Column(
            "at", sevenfold.service.db.base.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("os_version", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_attestation_attempts_device_id_devices"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_attestation_attempts_tenant_id_tenants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attestation_attempts")),
    )
    with op.batch_alter_table("attestation_attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_attestation_attempts_device_id_id", ["device_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_attestation_attempts_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "attestation_nonces",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("nonce_sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "issued_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "expires_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "used_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_attestation_nonces_device_id_devices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attestation_nonces")),
        sa.UniqueConstraint(
            "nonce_sha256", name=op.f("uq_attestation_nonces_nonce_sha256")
        ),
    )
    with op.batch_alter_table("attestation_nonces", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_attestation_nonces_device_id"), ["device_id"], unique=False
        )

    op.create_table(
        "device_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column(
            "at", sevenfold.service.db.base.UtcDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_device_events_device_id_devices"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_device_events_tenant_id_tenants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_events")),
    )
    with op.batch_alter_table("device_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_device_events_device_id_id", ["device_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_device_events_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("device_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_events_tenant_id"))
        batch_op.drop_index("ix_device_events_device_id_id")

    op.drop_table("device_events")
    with op.batch_alter_table("attestation_nonces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attestation_nonces_device_id"))

    op.drop_table("attestation_nonces")
    with op.batch_alter_table("attestation_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attestation_attempts_tenant_id"))
        batch_op.drop_index("ix_attestation_attempts_device_id_id")

    op.drop_table("attestation_attempts")
    with op.batch_alter_table("approved_measurements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approved_measurements_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_approved_measurements_product_id"))

    op.drop_table("approved_measurements")
