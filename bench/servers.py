"""Start a benchmark server in its own process and stop it afterwards."""

import contextlib
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

from bench.load import LOOPBACK

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


@contextlib.contextmanager
def server_process(
    arguments: Sequence[str],
    *,
    ready_path: str,
    log_file: Path,
    module: str = "bench.serve",
    client_context: ssl.SSLContext | None = None,
) -> Iterator[str]:
    """Run ``python -m MODULE ARGUMENTS``; yield its base URL once it answers.

    The listening socket is bound here and handed to the child, which serves on it
    with one uvicorn worker; the child's output goes to ``log_file``. With
    ``client_context`` the server speaks HTTPS and readiness is checked with it.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((LOOPBACK, 0))
    listener.listen(1024)
    scheme = "http" if client_context is None else "https"
    base_url = f"{scheme}://{LOOPBACK}:{listener.getsockname()[1]}"
    fd = listener.fileno()
    with log_file.open("ab") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", module, *arguments, "--fd", str(fd)],
            pass_fds=[fd],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    listener.close()
    try:
        _wait_until_ready(child, base_url + ready_path, client_context, log_file)
        yield base_url
    finally:
        _stop(child)


def _wait_until_ready(
    child: subprocess.Popen[bytes],
    url: str,
    context: ssl.SSLContext | None,
    log: Path,
) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    verify: ssl.SSLContext | bool = True if context is None else context
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            answer = httpx.get(url, timeout=2, verify=verify, trust_env=False)
            if answer.status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the server did not answer {url}:\n{log.read_text()[-2000:]}")


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is not None:
        return
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
