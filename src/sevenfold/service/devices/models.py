"""ORM model of a device: registered by a manufacturer, claimed by one tenant."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from sevenfold.service.db.base import Base, UtcDateTime


class Device(Base):
    """A device, keyed by its identity public key (the device ID)."""

    __tablename__ = "devices"
    __table_args__ = (Index("ix_devices_tenant_id_id", "tenant_id", "id"),)

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime())
    registered_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    tenant_id: Mapped[str | None] = mapped_column(
        ForeignKey("tenants.id"), nullable=True
    )
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    product_id: Mapped[str | None] = mapped_column(
        ForeignKey("products.id"), index=True, nullable=True
    )
    device_group_id: Mapped[str | None] = mapped_column(
        ForeignKey("device_groups.id"), index=True, nullable=True
    )
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
