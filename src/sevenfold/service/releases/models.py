"""ORM model of an OS release and its life on the feeds (docs/updates.md §3)."""

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from sevenfold.service.db.base import Base, UtcDateTime


class OsRelease(Base):
    """A platform OS image published to the feeds; platform-wide, in no tenant.

    ``version_key`` sorts like the version (``protocol.updates.version_sort_key``) and
    is unique: versions only go up, cancelled releases included.
    """

    __tablename__ = "os_releases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    version: Mapped[str] = mapped_column(String(32))
    version_key: Mapped[str] = mapped_column(String(32), unique=True)
    image_id: Mapped[str] = mapped_column(ForeignKey("images.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    eval_window_s: Mapped[int] = mapped_column(BigInteger)
    published_at: Mapped[datetime] = mapped_column(UtcDateTime())
    promote_at: Mapped[datetime] = mapped_column(UtcDateTime())
    promoted_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    published_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Set when a rollout of this release halted during evaluation: the release is
    # not promoted automatically until an operator decides (docs/failures.md §4).
    review_flagged_at: Mapped[datetime | None] = mapped_column(
        UtcDateTime(), nullable=True
    )
    review_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
