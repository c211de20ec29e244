"""ORM models of update metadata (TUF) and device update status (docs/updates.md §4)."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from sevenfold.service.db.base import Base, UtcDateTime


class TufSigningKey(Base):
    """A TUF role key of one tenant's image or director repository.

    The private key is wrapped with the service KEK (``crypto.key_wrapping``), or
    ``None`` for an offline key (the service keeps only the public half and asks for
    signatures, docs/updates.md §4); ``pending`` marks a key that a metadata version
    still awaiting offline signatures introduces (not used until that publishes);
    ``revoked_at`` is set once a rotated root (or delegation) no longer lists it.
    """

    __tablename__ = "tuf_signing_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    repository: Mapped[str] = mapped_column(String(16))  # image | director
    role: Mapped[str] = mapped_column(
        String(16)
    )  # root | targets | snapshot | timestamp | images (image repository only)
    keyid: Mapped[str] = mapped_column(String(64))
    public_key_json: Mapped[str] = mapped_column(Text())
    private_key_wrapped: Mapped[bytes | None] = mapped_column(
        LargeBinary(), nullable=True
    )
    pending: Mapped[bool] = mapped_column(
        Boolean(), default=False, server_default=false()
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class TufPendingMetadata(Base):
    """A root or top-level targets version prepared by the service that needs
    signatures from offline keys before it is published (one per repository and
    role; a newer preparation replaces it). ``content`` is the metadata with the
    signatures collected so far."""

    __tablename__ = "tuf_pending_metadata"
    __table_args__ = (UniqueConstraint("tenant_id", "repository", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    repository: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class TufMetadata(Base):
    """One signed version of a repository role (per tenant; per device for the
    director's targets, snapshot and timestamp). Every root version is kept forever
    so offline devices can walk the rotation chain."""

    __tablename__ = "tuf_metadata"
    __table_args__ = (
        UniqueConstraint("tenant_id", "repository", "role", "device_id", "version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    repository: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16))
    device_id: Mapped[str] = mapped_column(String(128), default="")
    version: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    content: Mapped[bytes] = mapped_column(LargeBinary())


class DirectorDeviceState(Base):
    """What the director last signed for a device; an unchanged check is one read."""

    __tablename__ = "director_device_states"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    desired_digest: Mapped[str] = mapped_column(String(64))
    targeted: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    targets_version: Mapped[int] = mapped_column(Integer)
    snapshot_version: Mapped[int] = mapped_column(Integer)
    timestamp_version: Mapped[int] = mapped_column(Integer)
    timestamp_expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class DeviceUpdateStatus(Base):
    """A device's update state as it last reported it, and an operator's check-now."""

    __tablename__ = "device_update_statuses"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(
        ForeignKey("tenants.id"), index=True, nullable=True
    )
    state: Mapped[str] = mapped_column(String(16), index=True)
    os_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    os_image_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    installed: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    reported_targeted: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    detail: Mapped[str | None] = mapped_column(String(200), nullable=True)
    last_check_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    reported_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    check_requested_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime(), nullable=True
    )
