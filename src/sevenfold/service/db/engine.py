"""Engine and session factory built from settings (never at import time)."""

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 10_000

# Connections kept open between requests. A request holds one from its first query
# until its session closes; with fewer pooled than requests in flight, every request
# over the pool size opens a connection and closes it again (a new PostgreSQL
# backend, or a new SQLite handle that re-runs the pragmas with a cold page cache).
# SQLite handles are cheap, so its pool covers FastAPI's whole threadpool (40);
# PostgreSQL keeps the same ceiling of 30 connections as before, more of them pooled.
SQLITE_POOL_SIZE, SQLITE_MAX_OVERFLOW = 40, 20
POSTGRES_POOL_SIZE, POSTGRES_MAX_OVERFLOW = 20, 10


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=SQLITE_MAX_OVERFLOW,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_size=POSTGRES_POOL_SIZE,
        max_overflow=POSTGRES_MAX_OVERFLOW,
        pool_pre_ping=True,
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)
