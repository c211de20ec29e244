"""ORM models of deployments: the app images assigned to a device group."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sevenfold.service.db.base import Base, UtcDateTime


class Deployment(Base):
    """One deployment of a group; ``superseded_at`` is None for the current one."""

    __tablename__ = "deployments"
    __table_args__ = (
        Index(
            "ix_deployments_device_group_id_created_at", "device_group_id", "created_at"
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    device_group_id: Mapped[str] = mapped_column(ForeignKey("device_groups.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    superseded_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class DeploymentImage(Base):
    """An image in a deployment (at most one per component)."""

    __tablename__ = "deployment_images"

    deployment_id: Mapped[str] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True
    )
    image_id: Mapped[str] = mapped_column(ForeignKey("images.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
