"""A real, misbehaving HTTP(S) file server for download tests.

Serves files from a dict over HTTP/1.1 keep-alive, honours a single ``Range`` with
206/``Content-Range``/``ETag``, and can be told (``Flakiness``) to close the socket
after every N body bytes, stall (before the headers or mid-body), answer some
statuses first, send more than its ``Content-Length``, send forever, ignore
``Range`` or change a file after a drop. It counts the body bytes it sent per path
and records each request's ``Range``.
"""

import contextlib
import hashlib
import re
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

STALL_LIMIT_S = 30.0
WRITE_PIECE_BYTES = 16 * 1024
_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


@dataclass
class Flakiness:
    """What the server does wrong; tests change it between requests."""

    drop_every_bytes: int | None = None
    stall_after_bytes: int | None = None
    stall_before_headers: bool = False
    first_statuses: list[int] = field(default_factory=list)
    extra_bytes: int = 0
    endless: bool = False
    ignore_range: bool = False
    replace_after_first_drop: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """A request as the server saw it."""

    path: str
    range: str | None
    headers: dict[str, str]
    peer_port: int = 0
    """The client's source port: one per TCP connection."""


class FlakyServer(ThreadingHTTPServer):
    """The server; ``url`` is its base URL (no trailing slash)."""

    daemon_threads = True

    def __init__(self, files: dict[str, bytes], tls: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files = files
        self.tls = tls
        self.flakiness = Flakiness()
        self.bytes_sent: Counter[str] = Counter()
        self.drops: Counter[str] = Counter()
        self.requests: list[ReceivedRequest] = []
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server_address[1]}"

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is not None:
            request = self.tls.wrap_socket(request, server_side=True)
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Failed handshakes and dropped clients are what these tests provoke."""


@contextlib.contextmanager
def flaky_http_server(
    files: dict[str, bytes], tls: ssl.SSLContext | None = None
) -> Iterator[FlakyServer]:
    """Serve ``files`` (URL path → bytes) until the block ends."""
    server = FlakyServer(files, tls)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def etag_of(data: bytes) -> str:
    """The strong ETag the server gives ``data``."""
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FlakyServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the counters instead."""

    def do_GET(self) -> None:
        server = self.server
        path = urlsplit(self.path).path
        range_header = self.headers.get("Range")
        with server.lock:
            server.requests.append(
                ReceivedRequest(
                    path,
                    range_header,
                    dict(self.headers.items()),
                    peer_port=self.client_address[1],
                )
            )
            status = server.flakiness.first_statuses.pop(0) if (
                server.flakiness.first_statuses
            ) else None  # fmt: skip
        if status is not None:
            self._send_empty(status)
            return
        if server.flakiness.stall_before_headers:
            server.stopping.wait(STALL_LIMIT_S)
            self.close_connection = True
            return
        data = server.files.get(path)
        if data is None:
            self._send_empty(404)
            return
        flakiness = server.flakiness
        start = 0
        match = _RANGE.fullmatch(range_header or "")
        if match and not flakiness.ignore_range:
            start = int(match.group(1))
            end = int(match.group(2)) if match.group(2) else len(data) - 1
            if start >= len(data):
                self._send_empty(416)
                return
            body = data[start : end + 1]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("ETag", etag_of(data))
        self.send_header("Accept-Ranges", "bytes")
        if flakiness.endless:
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self._send_body(path, body, flakiness)
        except (OSError, ssl.SSLError):
            self.close_connection = True

    def _send_body(self, path: str, body: bytes, flakiness: Flakiness) -> None:
        budget = flakiness.drop_every_bytes
        stall_at = flakiness.stall_after_bytes
        sent = 0
        while sent < len(body) and not self.server.stopping.is_set():
            if stall_at is not None and sent >= stall_at:
                self.server.stopping.wait(STALL_LIMIT_S)
                self._drop(path, counted=False)
                return
            if budget is not None and sent >= budget:
                self._drop(path, counted=True)
                return
            limit = min(
                WRITE_PIECE_BYTES,
                len(body) - sent,
                (budget - sent) if budget is not None else len(body),
                (stall_at - sent) if stall_at is not None else len(body),
            )
            self._write(path, body[sent : sent + limit])
            sent += limit
            if flakiness.endless and sent == len(body):
                sent = 0
        if flakiness.extra_bytes:
            self._write(path, b"X" * flakiness.extra_bytes)

    def _write(self, path: str, piece: bytes) -> None:
        self.wfile.write(piece)
        with self.server.lock:
            self.server.bytes_sent[path] += len(piece)

    def _drop(self, path: str, *, counted: bool) -> None:
        """Close the socket mid-body."""
        server = self.server
        with server.lock:
            if counted:
                server.drops[path] += 1
            replacement = server.flakiness.replace_after_first_drop.pop(path, None)
            if replacement is not None:
                server.files[path] = replacement
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send_empty(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
