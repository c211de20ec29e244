"""ORM models of image-signing keys and uploaded packages (docs/updates.md §1-2)."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sevenfold.service.db.base import Base, UtcDateTime


class ImageSigningKey(Base):
    """An Ed25519 public key whose image packages the service accepts.

    ``tenant_id`` is None for a platform key (it signs OS images). ``id`` is the key
    ID: hex SHA-256 of the raw 32-byte public key, as in the package manifest.
    """

    __tablename__ = "image_signing_keys"
    __table_args__ = (Index("ix_image_signing_keys_tenant_id_id", "tenant_id", "id"),)

    row_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    id: Mapped[str] = mapped_column(String(64))
    tenant_id: Mapped[str | None] = mapped_column(
        ForeignKey("tenants.id"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(100))
    public_key_pem: Mapped[str] = mapped_column(Text())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str | None] = mapped_column(String(32), nullable=True)


class Image(Base):
    """One uploaded, verified image package; its bytes live in the artifact store.

    ``tenant_id`` is None for a platform OS image. ``sha256`` names the whole package
    file (the TUF target and the attestation measurement); ``payload_sha256`` is the
    manifest's payload digest.
    """

    __tablename__ = "images"
    __table_args__ = (Index("ix_images_tenant_id_id", "tenant_id", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # manifest image_id
    tenant_id: Mapped[str | None] = mapped_column(
        ForeignKey("tenants.id"), nullable=True
    )
    component_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(32))
    version_key: Mapped[str] = mapped_column(String(32))
    security_version: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    payload_bytes: Mapped[int] = mapped_column(BigInteger)
    entry_point: Mapped[str | None] = mapped_column(String(200), nullable=True)
    capabilities: Mapped[list[str]] = mapped_column(JSON)
    signing_key_id: Mapped[str] = mapped_column(String(64))
    manifest_json: Mapped[str] = mapped_column(Text())
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    uploaded_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    downloads: Mapped[int] = mapped_column(Integer, default=0)
