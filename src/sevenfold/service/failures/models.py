"""ORM models of failure reports (docs/failures.md §2)."""

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sevenfold.service.db.base import Base, UtcDateTime


class FailureEventRecord(Base):
    """One aggregated failure record a device uploaded, stored once.

    ``(device_id, event_id)`` is unique: a re-sent record (the device did not see
    the answer) is recognised and not counted again. The device's group, product
    and OS release are copied at ingestion so that reports filter on them cheaply
    and keep the context the event happened in after the device moves.
    """

    __tablename__ = "failure_events"
    __table_args__ = (
        UniqueConstraint("device_id", "event_id"),
        Index("ix_failure_events_tenant_id_last_at", "tenant_id", "last_at"),
        Index("ix_failure_events_device_id_last_at", "device_id", "last_at"),
        Index(
            "ix_failure_events_device_group_id_last_at", "device_group_id", "last_at"
        ),
        Index("ix_failure_events_product_id_last_at", "product_id", "last_at"),
        Index("ix_failure_events_os_release_id_last_at", "os_release_id", "last_at"),
        Index("ix_failure_events_image_id_last_at", "image_id", "last_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str | None] = mapped_column(
        ForeignKey("tenants.id"), nullable=True
    )
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    event_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    event_type: Mapped[str] = mapped_column(String(16))
    event_class: Mapped[str] = mapped_column(String(16))
    event_key: Mapped[str] = mapped_column(String(200))
    count: Mapped[int] = mapped_column(BigInteger)
    first_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_at: Mapped[datetime] = mapped_column(UtcDateTime())
    description: Mapped[str] = mapped_column(String(200))
    component_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    image_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    os_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    os_release_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    device_group_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    product_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    exit_code: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    signal: Mapped[int | None] = mapped_column(Integer, nullable=True)
    network_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    host: Mapped[str | None] = mapped_column(String(253), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class DeviceFailureQueueState(Base):
    """What a device's queue says about itself: the highest dropped-events counter
    it reported (it only grows) and when it last uploaded."""

    __tablename__ = "device_failure_queue_states"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(
        ForeignKey("tenants.id"), index=True, nullable=True
    )
    dropped_total: Mapped[int] = mapped_column(BigInteger)
    last_upload_at: Mapped[datetime] = mapped_column(UtcDateTime())
