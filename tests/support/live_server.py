"""Run a real uvicorn server on a free loopback port in a background thread.

Used wherever a test must cross real HTTP (the CLI, the agent, the simulator).
"""

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import httpx
import uvicorn
from fastapi import FastAPI

from sevenfold.service.tls.server import uvicorn_tls_options

STARTUP_TIMEOUT_S = 20.0


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def live_server(
    app: FastAPI,
    ssl_context: ssl.SSLContext | None = None,
    client_context: ssl.SSLContext | None = None,
) -> Iterator[str]:
    """Serve ``app`` over HTTP; yield its base URL; stop it cleanly afterwards.

    With ``ssl_context``, HTTPS as ``sevenfold serve --tls-cert`` runs it; the
    readiness probe then trusts the server through ``client_context``.
    """
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        **uvicorn_tls_options(ssl_context),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    scheme = "http" if ssl_context is None else "https"
    base_url = f"{scheme}://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        verify: ssl.SSLContext | bool = client_context or True
        httpx.get(f"{base_url}/healthz", timeout=5, verify=verify).raise_for_status()
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
