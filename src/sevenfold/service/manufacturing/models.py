"""ORM model of a trusted manufacturer key (platform-wide, not in any tenant)."""

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sevenfold.service.db.base import Base, UtcDateTime


class TrustedManufacturerKey(Base):
    """An Ed25519 public key whose registration records the service accepts.

    ``id`` is the key ID: hex SHA-256 of the DER SubjectPublicKeyInfo, computed by
    the service from ``public_key_pem``.
    """

    __tablename__ = "trusted_manufacturer_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    public_key_pem: Mapped[str] = mapped_column(Text())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
