"""A throwaway PostgreSQL cluster for the test suite (initdb + pg_ctl), or a given URL.

When ``SEVENFOLD_TEST_POSTGRES_URL`` is unset the harness starts its own cluster from
Debian's postgresql binaries in a temporary directory, so the suite runs the same on a
fresh machine and in CI. It never skips: with no binaries it fails and says how to fix.
"""

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from sevenfold.service.db.migrate import upgrade

ENV_URL = "SEVENFOLD_TEST_POSTGRES_URL"


@dataclass(frozen=True, slots=True)
class PostgresServer:
    """A reachable server and a migrated template database to clone per test."""

    admin_url: str  # libpq URL of the maintenance database
    template: str

    def url_for(self, database: str) -> str:
        """SQLAlchemy URL of a database on this server."""
        base = self.admin_url.rsplit("/", 1)[0]
        return f"postgresql+psycopg://{base.split('://', 1)[1]}/{database}"

    def create_database(self) -> str:
        """Clone the migrated template into a fresh database; return its name."""
        name = f"sf_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name

    def drop_database(self, name: str) -> None:
        """Drop a test database, disconnecting anyone left on it."""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError(
        "PostgreSQL server binaries not found: install Debian's 'postgresql' "
        "(the README's test command does) or set " + ENV_URL
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_postgres(argv: list[str]) -> list[str]:
    """initdb refuses to run as root: drop to the 'postgres' user when we are root."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Start a private cluster on a free port; yield its libpq admin URL."""
    bin_dir = _pg_bin()
    root = Path(tempfile.mkdtemp(prefix="sevenfold-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(root, entry.pw_uid, entry.pw_gid)
    port = _free_port()
    subprocess.run(
        _as_postgres(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ]
        ),
        check=True,
        capture_output=True,
    )
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    subprocess.run(
        _as_postgres(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(root / "log"),
                "-w",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres(
                [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
            ),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A server (given or throwaway) with a migrated template database."""
    given = os.environ.get(ENV_URL)
    with contextlib.ExitStack() as stack:
        admin_url = given or stack.enter_context(throwaway_cluster())
        template = f"sf_template_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{template}"')
        server = PostgresServer(admin_url=admin_url, template=template)
        upgrade(server.url_for(template))
        try:
            yield server
        finally:
            server.drop_database(template)
