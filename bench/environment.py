"""What every benchmark shares: the databases it runs on and the facts of the run."""

import contextlib
import os
import platform
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import uvicorn
from tests.support.postgres import postgres_server


@contextlib.contextmanager
def benchmark_database(backend: str, workdir: Path) -> Iterator[tuple[str, bool, str]]:
    """Yield (SQLAlchemy URL, needs migrating, server version) for a backend."""
    if backend == "sqlite":
        yield (
            f"sqlite:///{workdir / 'bench.db'}",
            True,
            f"SQLite {sqlite3.sqlite_version}",
        )
        return
    # The test harness's throwaway cluster (initdb + pg_ctl, fsync off), migrated.
    with postgres_server() as server:
        with psycopg.connect(server.admin_url) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        version = f"PostgreSQL {row[0] if row else '?'}"
        name = server.create_database()
        try:
            yield server.url_for(name), False, version
        finally:
            server.drop_database(name)


def machine_facts() -> dict[str, Any]:
    """The machine, versions, time and commit every result file records."""
    cpu_model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "uvicorn": uvicorn.__version__,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit or "unknown",
    }
