"""failure reports and rollouts

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sevenfold.service.db.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_failure_queue_states",
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=True),
        sa.Column("dropped_total", sa.BigInteger(), nullable=False),
        sa.Column(
            "last_upload_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_device_failure_queue_states_device_id_devices"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_device_failure_queue_states_tenant_id_tenants"),
        ),
        sa.PrimaryKeyConstraint(
            "device_id", name=op.f("pk_device_failure_queue_states")
        ),
    )
    with op.batch_alter_table("device_failure_queue_states", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_device_failure_queue_states_tenant_id"),
            ["tenant_id"],
            unique=False,
        )

    op.create_table(
        "failure_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=True),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("event_type", sa.String(length=16), nullable=False),
        sa.Column("event_class", sa.String(length=16), nullable=False),
        sa.Column("event_key", sa.String(length=200), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column(
            "first_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "last_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("component_id", sa.String(length=36), nullable=True),
        sa.Column("image_id", sa.String(length=36), nullable=True),
        sa.Column("os_version", sa.String(length=32), nullable=True),
        sa.Column("os_release_id", sa.String(length=36), nullable=True),
        sa.Column("device_group_id", sa.String(length=36), nullable=True),
        sa.Column("product_id", sa.String(length=36), nullable=True),
        sa.Column("exit_code", sa.BigInteger(), nullable=True),
        sa.Column("signal", sa.Integer(), nullable=True),
        sa.Column("network_kind", sa.String(length=16), nullable=True),
        sa.Column("host", sa.String(length=253), nullable=True),
        sa.Column(
            "received_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_failure_events_device_id_devices"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_failure_events_tenant_id_tenants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_failure_events")),
        sa.UniqueConstraint(
            "device_id", "event_id", name=op.f("uq_failure_events_device_id")
        ),
    )
    with op.batch_alter_table("failure_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_failure_events_device_group_id_last_at",
            ["device_group_id", "last_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_failure_events_device_id_last_at",
            ["device_id", "last_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_failure_events_image_id_last_at", ["image_id", "last_at"], unique=False
        )
        batch_op.create_index(
            "ix_failure_events_os_release_id_last_at",
            ["os_release_id", "last_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_failure_events_product_id_last_at",
            ["product_id", "last_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_failure_events_received_at"), ["received_at"], unique=False
        )
        batch_op.create_index(
            "ix_failure_events_tenant_id_last_at",
            ["tenant_id", "last_at"],
            unique=False,
        )

    op.create_table(
        "rollouts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=True),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("os_release_id", sa.String(length=36), nullable=True),
        sa.Column("os_feed", sa.String(length=16), nullable=True),
        sa.Column("deployment_id", sa.String(length=36), nullable=True),
        sa.Column("device_group_id", sa.String(length=36), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("counted_kinds", sa.JSON(), nullable=False),
        sa.Column("min_devices", sa.Integer(), nullable=False),
        sa.Column("threshold_percent", sa.Float(), nullable=False),
        sa.Column("crash_window_s", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=32), nullable=True),
        sa.Column(
            "judged_since",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "state_changed_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "halted_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("halt_reason", sa.String(length=300), nullable=True),
        sa.Column(
            "webhook_delivered_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("webhook_error", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_rollouts_deployment_id_deployments"),
        ),
        sa.ForeignKeyConstraint(
            ["device_group_id"],
            ["device_groups.id"],
            name=op.f("fk_rollouts_device_group_id_device_groups"),
        ),
        sa.ForeignKeyConstraint(
            ["os_release_id"],
            ["os_releases.id"],
            name=op.f("fk_rollouts_os_release_id_os_releases"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_rollouts_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollouts")),
    )
    with op.batch_alter_table("rollouts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rollouts_deployment_id"), ["deployment_id"], unique=False
        )
        batch_op.create_index(
            "ix_rollouts_os_release_id_os_feed",
            ["os_release_id", "os_feed"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_rollouts_state"), ["state"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_rollouts_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "rollout_members",
        sa.Column("rollout_id", sa.String(length=36), nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column(
            "ran_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "succeeded_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column(
            "failed_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("failure_kind", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_rollout_members_device_id_devices"),
        ),
        sa.ForeignKeyConstraint(
            ["rollout_id"],
            ["rollouts.id"],
            name=op.f("fk_rollout_members_rollout_id_rollouts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "rollout_id", "device_id", name=op.f("pk_rollout_members")
        ),
    )
    with op.batch_alter_table("rollout_members", schema=None) as batch_op:
        batch_op.create_index(
            "ix_rollout_members_device_id", ["device_id"], unique=False
        )
        batch_op.create_index(
            "ix_rollout_members_rollout_id_wave", ["rollout_id", "wave"], unique=False
        )

    op.create_table(
        "rollout_waves",
        sa.Column("rollout_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(length=8), nullable=False),
        sa.Column("min_soak_s", sa.BigInteger(), nullable=False),
        sa.Column(
            "earliest_start_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("device_count", sa.Integer(), nullable=False),
        sa.Column(
            "opened_at",
            sevenfold.service.db.base.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["rollout_id"],
            ["rollouts.id"],
            name=op.f("fk_rollout_waves_rollout_id_rollouts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "rollout_id", "position", name=op.f("pk_rollout_waves")
        ),
    )
    with op.batch_alter_table("os_releases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "review_flagged_at",
                sevenfold.service.db.base.UtcDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("review_reason", sa.String(length=300), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("os_releases", schema=None) as batch_op:
        batch_op.drop_column("review_reason")
        batch_op.drop_column("review_flagged_at")

    op.drop_table("rollout_waves")
    with op.batch_alter_table("rollout_members", schema=None) as batch_op:
        batch_op.drop_index("ix_rollout_members_rollout_id_wave")
        batch_op.drop_index("ix_rollout_members_device_id")

    op.drop_table("rollout_members")
    with op.batch_alter_table("rollouts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rollouts_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_rollouts_state"))
        batch_op.drop_index("ix_rollouts_os_release_id_os_feed")
        batch_op.drop_index(batch_op.f("ix_rollouts_deployment_id"))

    op.drop_table("rollouts")
    with op.batch_alter_table("failure_events", schema=None) as batch_op:
        batch_op.drop_index("ix_failure_events_tenant_id_last_at")
        batch_op.drop_index(batch_op.f("ix_failure_events_received_at"))
        batch_op.drop_index("ix_failure_events_product_id_last_at")
        batch_op.drop_index("ix_failure_events_os_release_id_last_at")
        batch_op.drop_index("ix_failure_events_image_id_last_at")
        batch_op.drop_index("ix_failure_events_device_id_last_at")
        batch_op.drop_index("ix_failure_events_device_group_id_last_at")

    op.drop_table("failure_events")
    with op.batch_alter_table("device_failure_queue_states", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_failure_queue_states_tenant_id"))

    op.drop_table("device_failure_queue_states")
