"""ORM models of products (device models) and their device groups."""

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sevenfold.service.db.base import Base, UtcDateTime

NAME_KEY_LENGTH = 150
"""A name is at most 50 characters; casefolding can triple that ("ß" -> "ss")."""


class Product(Base):
    """One device model of a tenant; names unique case-insensitively per tenant."""

    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("tenant_id", "name_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    name_key: Mapped[str] = mapped_column(String(NAME_KEY_LENGTH))
    description: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class DeviceGroup(Base):
    """A group of one product's devices sharing a feed, a policy and a deployment."""

    __tablename__ = "device_groups"
    __table_args__ = (UniqueConstraint("product_id", "name_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    name_key: Mapped[str] = mapped_column(String(NAME_KEY_LENGTH))
    description: Mapped[str] = mapped_column(String(200))
    os_feed: Mapped[str] = mapped_column(String(16))
    update_policy: Mapped[str] = mapped_column(String(16))
    app_updates: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
