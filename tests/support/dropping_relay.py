"""A TCP relay that drops the link: it forwards bytes both ways untouched (TLS passes
through end to end) and, once a connection has carried ``drop_every_bytes`` from
the server to the client, closes both sides, as a flaky cellular link does.

It counts what it relayed server->client, the connections it accepted and the
drops it made. Threads, one pair per connection; stopped when the block ends.
"""

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

RECEIVE_BYTES = 16 * 1024


@dataclass
class RelayCounters:
    """What the relay did so far (read under ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    server_to_client_bytes: int = 0
    client_to_server_bytes: int = 0
    connections: int = 0
    drops: int = 0


@dataclass(frozen=True)
class DroppingRelay:
    """A running relay: the base URL to give the client, and its counters."""

    url: str
    counters: RelayCounters


@contextlib.contextmanager
def dropping_relay(
    target_host: str, target_port: int, *, drop_every_bytes: int, scheme: str = "https"
) -> Iterator[DroppingRelay]:
    """Relay 127.0.0.1:<free port> to ``target_host:target_port`` until the block
    ends; each connection is cut after ``drop_every_bytes`` server->client."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    counters = RelayCounters()
    stopping = threading.Event()
    workers: list[threading.Thread] = []

    def accept_loop() -> None:
        while not stopping.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            worker = threading.Thread(
                target=_relay_one,
                args=(client, (target_host, target_port), drop_every_bytes, counters),
                daemon=True,
            )
            workers.append(worker)
            worker.start()

    acceptor = threading.Thread(target=accept_loop, name=f"relay-{port}", daemon=True)
    acceptor.start()
    try:
        yield DroppingRelay(url=f"{scheme}://127.0.0.1:{port}", counters=counters)
    finally:
        stopping.set()
        acceptor.join(timeout=5)
        listener.close()
        for worker in workers:
            worker.join(timeout=5)


def _relay_one(
    client: socket.socket,
    target: tuple[str, int],
    drop_every_bytes: int,
    counters: RelayCounters,
) -> None:
    with counters.lock:
        counters.connections += 1
    try:
        server = socket.create_connection(target, timeout=10)
    except OSError:
        client.close()
        return
    client.settimeout(30)
    server.settimeout(30)
    upstream = threading.Thread(
        target=_pump_upstream, args=(client, server, counters), daemon=True
    )
    upstream.start()
    remaining = drop_every_bytes
    try:
        while remaining > 0:
            data = server.recv(min(RECEIVE_BYTES, remaining))
            if not data:
                break
            client.sendall(data)
            remaining -= len(data)
            with counters.lock:
                counters.server_to_client_bytes += len(data)
        else:
            with counters.lock:
                counters.drops += 1
    except OSError:
        pass
    finally:
        _close(client)
        _close(server)
        upstream.join(timeout=5)


def _pump_upstream(
    client: socket.socket, server: socket.socket, counters: RelayCounters
) -> None:
    try:
        while data := client.recv(RECEIVE_BYTES):
            server.sendall(data)
            with counters.lock:
                counters.client_to_server_bytes += len(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            server.shutdown(socket.SHUT_WR)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
