"""ORM model of a tenant: the isolation boundary."""

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from sevenfold.service.db.base import Base, UtcDateTime


class Tenant(Base):
    """A tenant; names are unique case-insensitively (``name_key``)."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # casefold() may triple a name's length ("ß" -> "ss"); names are <= 100.
    name_key: Mapped[str] = mapped_column(String(300), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
