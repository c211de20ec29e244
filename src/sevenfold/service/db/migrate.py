"""Alembic, driven from code: upgrade to head and tell whether a database is current."""

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations and the given database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    """Migrate the database at ``url`` to the newest revision."""
    command.upgrade(alembic_config(url), "head")


def head_revision() -> str | None:
    """The newest revision this code knows."""
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    return script.get_current_head()


@dataclass(frozen=True, slots=True, kw_only=True)
class MigrationStatus:
    """Whether a database is reachable and migrated to head."""

    ready: bool
    current: str | None
    head: str | None
    detail: str


def migration_status(engine: Engine) -> MigrationStatus:
    """Compare the database's revision with the code's head."""
    head = head_revision()
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as err:
        return MigrationStatus(
            ready=False,
            current=None,
            head=head,
            detail=f"database unreachable: {type(err).__name__}",
        )
    if current != head:
        return MigrationStatus(
            ready=False,
            current=current,
            head=head,
            detail=(
                f"database is at revision {current or 'none'}, code needs {head}; "
                "run 'sevenfold db upgrade'"
            ),
        )
    return MigrationStatus(ready=True, current=current, head=head, detail="ready")
