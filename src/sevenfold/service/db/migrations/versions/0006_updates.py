"""updates: image packages, OS releases, deployments, TUF metadata, update status

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sevenfold.service.db.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "image_signing_keys",
        sa.Column("row_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("public_key_pem", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_image_signing_keys_tenant_id_tenants"),
        ),
        sa.PrimaryKeyConstraint("row_id", name=op.f("pk_image_signing_keys")),
    )
    with op.batch_alter_table("image_signing_keys", schema=None) as batch_op:
        batch_op.create_index(
            "ix_image_signing_keys_tenant_id_id", ["tenant_id", "id"], unique=False
        )

    op.create_table(
        "images",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=True),
        sa.Column("component_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("version_key", sa.String(length=32), nullable=False),
        sa.Column("security_version", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("payload_sha256", sa.String(length=64), nullable=False),
        sa.Column("payload_bytes", sa.BigInteger(), nullable=False),
        sa.Column("entry_point", sa.String(length=200), nullable=True),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column("signing_key_id", sa.String(length=64), nullable=False),
        sa.Column("manifest_json", sa.Text(), nullable=False),
        sa.Column(
            "uploaded_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("uploaded_by", sa.String(length=32), nullable=True),
        sa.Column("downloads", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_images_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_images")),
    )
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_images_component_id"), ["component_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_images_sha256"), ["sha256"], unique=False)
        batch_op.create_index(
            "ix_images_tenant_id_id", ["tenant_id", "id"], unique=False
        )

    op.create_table(
        "tuf_metadata",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("repository", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "expires_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tuf_metadata_tenant_id_tenants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tuf_metadata")),
        sa.UniqueConstraint(
            "tenant_id",
            "repository",
            "role",
            "device_id",
            "version",
            name=op.f("uq_tuf_metadata_tenant_id"),
        ),
    )
    op.create_table(
        "tuf_signing_keys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("repository", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("keyid", sa.String(length=64), nullable=False),
        sa.Column("public_key_json", sa.Text(), nullable=False),
        sa.Column("private_key_wrapped", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "revoked_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tuf_signing_keys_tenant_id_tenants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tuf_signing_keys")),
    )
    with op.batch_alter_table("tuf_signing_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tuf_signing_keys_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "os_releases",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("version_key", sa.String(length=32), nullable=False),
        sa.Column("image_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("eval_window_s", sa.BigInteger(), nullable=False),
        sa.Column(
            "published_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "promote_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "promoted_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "cancelled_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "withdrawn_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("published_by", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["image_id"], ["images.id"], name=op.f("fk_os_releases_image_id_images")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_os_releases")),
        sa.UniqueConstraint("version_key", name=op.f("uq_os_releases_version_key")),
    )
    with op.batch_alter_table("os_releases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_os_releases_image_id"), ["image_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_os_releases_state"), ["state"], unique=False
        )

    op.create_table(
        "deployments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("device_group_id", sa.String(length=36), nullable=False),
        sa.Column(
            "created_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=32), nullable=True),
        sa.Column(
            "superseded_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["device_group_id"],
            ["device_groups.id"],
            name=op.f("fk_deployments_device_group_id_device_groups"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_deployments_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
    )
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deployments_device_group_id_created_at",
            ["device_group_id", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_deployments_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "deployment_images",
        sa.Column("deployment_id", sa.String(length=36), nullable=False),
        sa.Column("image_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployment_images_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_deployment_images_image_id_images"),
        ),
        sa.PrimaryKeyConstraint(
            "deployment_id", "image_id", name=op.f("pk_deployment_images")
        ),
    )
    op.create_table(
        "device_update_statuses",
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("os_version", sa.String(length=32), nullable=True),
        sa.Column("os_image_id", sa.String(length=36), nullable=True),
        sa.Column("installed", sa.JSON(), nullable=False),
        sa.Column("reported_targeted", sa.JSON(), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.Column(
            "last_check_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "reported_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "check_requested_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_device_update_statuses_device_id_devices"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_device_update_statuses_tenant_id_tenants"),
        ),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_device_update_statuses")),
    )
    with op.batch_alter_table("device_update_statuses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_device_update_statuses_state"), ["state"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_device_update_statuses_tenant_id"),
            ["tenant_id"],
            unique=False,
        )

    op.create_table(
        "director_device_states",
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("desired_digest", sa.String(length=64), nullable=False),
        sa.Column("targeted", sa.JSON(), nullable=False),
        sa.Column("targets_version", sa.Integer(), nullable=False),
        sa.Column("snapshot_version", sa.Integer(), nullable=False),
        sa.Column("timestamp_version", sa.Integer(), nullable=False),
        sa.Column(
            "timestamp_expires_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_director_device_states_device_id_devices"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_director_device_states_tenant_id_tenants"),
        ),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_director_device_states")),
    )
    with op.batch_alter_table("director_device_states", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_director_device_states_tenant_id"),
            ["tenant_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("director_device_states", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_director_device_states_tenant_id"))

    op.drop_table("director_device_states")
    with op.batch_alter_table("device_update_statuses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_update_statuses_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_device_update_statuses_state"))

    op.drop_table("device_update_statuses")
    op.drop_table("deployment_images")
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployments_tenant_id"))
        batch_op.drop_index("ix_deployments_device_group_id_created_at")

    op.drop_table("deployments")
    with op.batch_alter_table("os_releases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_os_releases_state"))
        batch_op.drop_index(batch_op.f("ix_os_releases_image_id"))

    op.drop_table("os_releases")
    with op.batch_alter_table("tuf_signing_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tuf_signing_keys_tenant_id"))

    op.drop_table("tuf_signing_keys")
    op.drop_table("tuf_metadata")
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_index("ix_images_tenant_id_id")
        batch_op.drop_index(batch_op.f("ix_images_sha256"))
        batch_op.drop_index(batch_op.f("ix_images_component_id"))

    op.drop_table("images")
    with op.batch_alter_table("image_signing_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_image_signing_keys_tenant_id_id")

    op.drop_table("image_signing_keys")
