"""ORM model of a device's current capability grant."""

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from sevenfold.service.db.base import Base, UtcDateTime


class DeviceCapabilityGrant(Base):
    """The newest signed grant of one device (an empty ``capabilities`` list is the
    grant that took them away). ``signed`` is the file form the device applies."""

    __tablename__ = "device_capability_grants"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    capabilities: Mapped[list[str]] = mapped_column(JSON)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    granted_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    signed: Mapped[bytes] = mapped_column(LargeBinary())
