"""A real HTTP proxy for the agent's proxy tests: Debian's ``tinyproxy``, started on a
free loopback port with a generated config (optionally with basic auth)."""

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.live_server import free_port

STARTUP_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Proxy:
    """A running tinyproxy: its URL and its log file."""

    url: str
    log_file: Path

    def log(self) -> str:
        """The proxy's log so far."""
        return self.log_file.read_text(errors="replace")


def require_tinyproxy() -> str:
    """The tinyproxy binary; in CI (``CI=true``) its absence fails the test."""
    binary = shutil.which("tinyproxy") or (
        "/usr/bin/tinyproxy" if Path("/usr/bin/tinyproxy").exists() else None
    )
    if binary is None:
        message = "tinyproxy is not installed (./dev test installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return binary


@contextlib.contextmanager
def tinyproxy(
    directory: Path, basic_auth: tuple[str, str] | None = None
) -> Iterator[Proxy]:
    """Run tinyproxy in the foreground (``-d``) until the block ends."""
    binary = require_tinyproxy()
    port = free_port()
    log_file = directory / "tinyproxy.log"
    lines = [
        f"Port {port}",
        "Listen 127.0.0.1",
        "Timeout 30",
        f'LogFile "{log_file}"',
        "LogLevel Info",
        "MaxClients 20",
    ]
    if basic_auth is not None:
        lines.append(f"BasicAuth {basic_auth[0]} {basic_auth[1]}")
    config_file = directory / "tinyproxy.conf"
    config_file.write_text("\n".join(lines) + "\n")
    process = subprocess.Popen(
        [binary, "-d", "-c", str(config_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, process)
        yield Proxy(url=f"http://127.0.0.1:{port}", log_file=log_file)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"tinyproxy exited with status {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("tinyproxy did not start listening")
