"""The bytes one no-op update check costs, sent by the real agent.

The agent's own parts run one check: ``UpdateCycle`` with ``UpdateClient`` over
``UpdateFetcher`` (a fresh fetcher per check, as ``update_setup`` builds it), a
``DirInstallBackend`` committed to the released OS, and ``UpdateStatusClient``. A
first check pins both roots and fetches all metadata; the second one is counted.

Two counts, both per direction:

* **HTTP**: the plaintext the agent hands to TLS and gets back from it (request and
  status lines, headers, bodies), counted by wrapping ``ssl.SSLSocket.send`` /
  ``read`` (urllib3, the fetcher) and ``ssl.SSLObject.write`` / ``read`` (httpx over
  anyio, the status client) for the duration of the check.
* **Wire**: the TCP payload through a counting relay in front of the server: the
  HTTP bytes plus TLS handshakes (certificates both ways; one per connection) and
  record overhead. IP and TCP headers are not counted.
"""

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from tuf.api.metadata import Metadata, Root

from bench.dice_devices import SOFTWARE
from bench.update_target import CertifiedDevice, UpdateTarget
from sevenfold.agent.config import AgentConfig
from sevenfold.agent.install.backend import DirInstallBackend
from sevenfold.agent.measurements import FixedMeasurementSource
from sevenfold.agent.update_client import (
    CACHED_ROOT_FILE,
    REPOSITORIES,
    UpdateClient,
    metadata_dir,
)
from sevenfold.agent.update_cycle import CycleResult, UpdateCycle
from sevenfold.agent.update_fetcher import FetcherSettings, UpdateFetcher
from sevenfold.agent.update_status_client import UpdateStatusClient

RELAY_CHUNK_BYTES = 64 * 1024
RELAY_STOP_S = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckBytes:
    """One no-op check by the real agent, counted."""

    requests: int
    connections: int
    http_sent_bytes: int
    http_received_bytes: int
    wire_sent_bytes: int
    wire_received_bytes: int
    fetcher_body_bytes: int
    next_root_versions: dict[str, int]

    @property
    def http_bytes(self) -> int:
        """HTTP bytes both ways."""
        return self.http_sent_bytes + self.http_received_bytes

    @property
    def wire_bytes(self) -> int:
        """TCP payload bytes both ways."""
        return self.wire_sent_bytes + self.wire_received_bytes


@dataclass
class _Counter:
    sent: int = 0
    received: int = 0
    connections: int = 0


def _length(result: Any) -> int:
    return result if isinstance(result, int) else len(result)


@contextlib.contextmanager
def _plaintext_counted(counter: _Counter) -> Iterator[None]:
    """Count what goes into and comes out of every TLS connection of this process."""
    patched: list[tuple[type, str, Callable[..., Any]]] = []

    def wrap(cls: type, name: str, *, sending: bool) -> None:
        original: Callable[..., Any] = getattr(cls, name)

        def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(self, *args, **kwargs)
            if sending:
                counter.sent += _length(result)
            else:
                counter.received += _length(result)
            return result

        patched.append((cls, name, original))
        setattr(cls, name, counted)

    wrap(ssl.SSLSocket, "send", sending=True)  # sendall calls send
    wrap(ssl.SSLSocket, "read", sending=False)  # recv and recv_into call read
    wrap(ssl.SSLObject, "write", sending=True)
    wrap(ssl.SSLObject, "read", sending=False)
    try:
        yield
    finally:
        for cls, name, original in reversed(patched):
            setattr(cls, name, original)


@contextlib.contextmanager
def _relay(target_url: str, counter: _Counter) -> Iterator[str]:
    """A TCP relay to ``target_url``'s port counting bytes; yields its URL."""
    target = httpx.URL(target_url)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    port: list[int] = []

    async def pump(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upstream: bool
    ) -> None:
        try:
            while data := await reader.read(RELAY_CHUNK_BYTES):
                if upstream:
                    counter.sent += len(data)
                else:
                    counter.received += len(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    open_writers: set[asyncio.StreamWriter] = set()
    relays: set[asyncio.Task[Any]] = set()

    async def handle(
        client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        counter.connections += 1
        if (relay := asyncio.current_task()) is not None:
            relays.add(relay)
        server_reader, server_writer = await asyncio.open_connection(
            target.host, target.port
        )
        open_writers.update((client_writer, server_writer))
        await asyncio.gather(
            pump(client_reader, server_writer, upstream=True),
            pump(server_reader, client_writer, upstream=False),
        )

    async def serve() -> asyncio.Server:
        server = await asyncio.start_server(handle, target.host, 0)
        port.append(server.sockets[0].getsockname()[1])
        ready.set()
        return server

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(serve(), loop).result()
    ready.wait()

    async def shut_down() -> None:
        """Close every relayed connection; each relay then ends at EOF."""
        server.close()
        for writer in open_writers:
            writer.close()
        if relays:
            await asyncio.wait(relays, timeout=RELAY_STOP_S)

    try:
        yield f"{target.scheme}://{target.host}:{port[0]}"
    finally:
        asyncio.run_coroutine_threadsafe(shut_down(), loop).result(RELAY_STOP_S)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=RELAY_STOP_S)
        loop.close()


def agent_check_bytes(
    target: UpdateTarget, device: CertifiedDevice, workdir: Path
) -> CheckBytes:
    """Run two checks with the agent's parts; count the second (the no-op)."""
    install_root = workdir / "agent-install"
    DirInstallBackend.initialize(install_root, target.package_file, target.release)
    backend = DirInstallBackend(install_root)
    backend.boot()
    wire = _Counter()
    fetchers: list[UpdateFetcher] = []

    def new_fetcher() -> UpdateFetcher:
        fetchers.append(UpdateFetcher(FetcherSettings(ssl_context=device.context)))
        return fetchers[-1]

    with _relay(target.base_url, wire) as relay_url:
        config = AgentConfig(
            state_dir=workdir / "agent-state",
            server_url=relay_url,
            measurements=FixedMeasurementSource(measurements=SOFTWARE),
        )
        cycle = UpdateCycle(
            source=UpdateClient(
                state_dir=config.state_dir,
                server_url=relay_url,
                device_id=device.device_id,
                fetcher_factory=new_fetcher,
            ),
            backend=backend,
            reporter=UpdateStatusClient(
                config, ssl_context_factory=lambda: device.context
            ),
        )
        first = asyncio.run(cycle.check())
        if first.result is not CycleResult.UP_TO_DATE or first.report_error:
            raise RuntimeError(f"the agent's first check was not a no-op: {first}")
        wire.sent = wire.received = wire.connections = 0
        http = _Counter()
        with _plaintext_counted(http):
            second = asyncio.run(cycle.check())
        if second.result is not CycleResult.UP_TO_DATE or second.report_error:
            raise RuntimeError(f"the agent's second check was not a no-op: {second}")
    fetcher = fetchers[-1]
    return CheckBytes(
        requests=fetcher.attempts + 1,
        connections=wire.connections,
        http_sent_bytes=http.sent,
        http_received_bytes=http.received,
        wire_sent_bytes=wire.sent,
        wire_received_bytes=wire.received,
        fetcher_body_bytes=fetcher.bytes_received,
        next_root_versions=_next_root_versions(config.state_dir),
    )


def _next_root_versions(state_dir: Path) -> dict[str, int]:
    """Per repository, the root version after the agent's trusted one (the 404)."""
    versions = {}
    for repository in REPOSITORIES:
        root_file = metadata_dir(state_dir, repository) / CACHED_ROOT_FILE
        root = Metadata[Root].from_bytes(root_file.read_bytes())
        versions[repository] = root.signed.version + 1
    return versions
