"""ORM model of a tenant CA: its certificate and its private key, encrypted."""

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sevenfold.service.db.base import Base, UtcDateTime


class TenantCa(Base):
    """One generation of a tenant's CA.

    ``wrapped_private_key`` is the PKCS#8 key sealed with AES-256-GCM under the
    key-encryption key, bound to this row's tenant and ID. ``generation`` counts a
    tenant's CAs from 1; its uniqueness lets only one of two concurrent rotations win.
    """

    __tablename__ = "tenant_cas"
    __table_args__ = (UniqueConstraint("tenant_id", "generation"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    generation: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(300))
    thumbprint_sha256: Mapped[str] = mapped_column(String(64))
    certificate_pem: Mapped[str] = mapped_column(Text)
    wrapped_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    not_before: Mapped[datetime] = mapped_column(UtcDateTime())
    not_after: Mapped[datetime] = mapped_column(UtcDateTime())
    activates_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
