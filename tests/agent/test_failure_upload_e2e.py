"""Failure reports reach the real service exactly once (docs/failures.md §1-2).

A real device (enrolled, attested, its DICE identity presented over mTLS) uploads
its durable queue with the agent's own ``FailureUploader`` to the live HTTPS service
through a TCP relay that, connection by connection, cuts the link mid-request (the
service never sees the whole batch) or mid-response (the service stored the batch
but the device never sees the answer, so it re-sends the same sealed records). In
the end the service holds every record once: the sum of its counts is the number
of occurrences the device recorded, network failures of the upload itself
included. A device offline for a (simulated) week uploads its backlog of several
hundred records once the service is reachable again.
"""

import asyncio
import contextlib
import random
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from sevenfold.agent.attestation_client import AttestationClient
from sevenfold.agent.config import AgentConfig
from sevenfold.agent.failure_queue import FailureQueue, read_failures
from sevenfold.agent.failure_recorder import QueueFailureRecorder
from sevenfold.agent.failure_upload import (
    FailureReportClient,
    FailureUploader,
    UploadAnswer,
)
from sevenfold.agent.install.backend import DirInstallBackend
from sevenfold.agent.measurements import FixedMeasurementSource, sha256_of_file
from sevenfold.agent.state import StateStore
from sevenfold.agent.trusted.dice_keystore import DiceKeyStore
from sevenfold.agent.update_setup import device_tls
from sevenfold.protocol.attestation import Measurements
from sevenfold.protocol.clock import ManualClock, SystemClock
from sevenfold.protocol.failures import FailureBatch, FailureKind
from sevenfold.service.db.engine import make_session_factory
from sevenfold.service.failures.models import (
    DeviceFailureQueueState,
    FailureEventRecord,
)
from tests.agent.agent_process import agent_run_command, run_agent_once
from tests.agent.live_update_service import (
    AGENT_SHA256,
    FACTORY_OS_VERSION,
    LiveUpdateService,
    live_update_service,
)

RECEIVE_BYTES = 16 * 1024
# A full batch (100 records) is ~40 KB of JSON: past this many bytes from the device
# the request is (nearly) all sent, so the next bytes from the service are its answer.
ANSWER_AFTER_REQUEST_BYTES = 20_000
MAX_DRAINS = 400


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[LiveUpdateService]:
    with live_update_service(
        tmp_path_factory.mktemp("service"), sqlite_template
    ) as live:
        yield live


@dataclass
class CutCounters:
    """What the relay did (read under ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    connections: int = 0
    request_cuts: int = 0
    answer_cuts: int = 0
    refused: int = 0


@dataclass
class CuttingRelay:
    """A running relay: its URL, counters, and a switch that takes it offline
    (every connection is closed at once, as with no route to the service)."""

    url: str
    counters: CutCounters
    offline: threading.Event


@contextlib.contextmanager
def cutting_relay(
    target: tuple[str, int], *, seed: int, cut_probability: float
) -> Iterator[CuttingRelay]:
    """Relay 127.0.0.1:<port> to ``target``; each connection is, at random, cut
    after a random number of bytes towards the service (mid-request), or after
    the service has its request and began to answer (mid-response), or passed."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    counters = CutCounters()
    offline = threading.Event()
    stopping = threading.Event()
    rng = random.Random(seed)
    workers: list[threading.Thread] = []

    def accept_loop() -> None:
        while not stopping.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with counters.lock:
                counters.connections += 1
                if offline.is_set():
                    counters.refused += 1
            if offline.is_set():
                _close(client)
                continue
            roll = rng.random()
            if roll < cut_probability / 2:
                plan = ("request", rng.randrange(200, 40_000))
            elif roll < cut_probability:
                plan = ("answer", rng.randrange(0, 64))
            else:
                plan = ("pass", 0)
            worker = threading.Thread(
                target=_relay_one, args=(client, target, plan, counters), daemon=True
            )
            workers.append(worker)
            worker.start()

    acceptor = threading.Thread(target=accept_loop, daemon=True)
    acceptor.start()
    try:
        port = listener.getsockname()[1]
        yield CuttingRelay(f"https://127.0.0.1:{port}", counters, offline)
    finally:
        stopping.set()
        acceptor.join(timeout=5)
        listener.close()
        for worker in workers:
            worker.join(timeout=5)


def _relay_one(
    client: socket.socket,
    target: tuple[str, int],
    plan: tuple[str, int],
    counters: CutCounters,
) -> None:
    mode, limit = plan
    try:
        server = socket.create_connection(target, timeout=10)
    except OSError:
        _close(client)
        return
    client.settimeout(30)
    server.settimeout(30)
    sent_up = [0]
    cut = threading.Event()

    def upstream() -> None:
        try:
            while data := client.recv(RECEIVE_BYTES):
                if mode == "request" and sent_up[0] + len(data) >= limit:
                    server.sendall(data[: limit - sent_up[0]])
                    with counters.lock:
                        counters.request_cuts += 1
                    cut.set()
                    break
                server.sendall(data)
                sent_up[0] += len(data)
        except OSError:
            pass
        finally:
            _close(server) if cut.is_set() else _shutdown_write(server)

    pump = threading.Thread(target=upstream, daemon=True)
    pump.start()
    try:
        while data := server.recv(RECEIVE_BYTES):
            if mode == "answer" and sent_up[0] >= ANSWER_AFTER_REQUEST_BYTES:
                client.sendall(data[:limit])
                with counters.lock:
                    counters.answer_cuts += 1
                break
            client.sendall(data)
    except OSError:
        pass
    finally:
        _close(client)
        _close(server)
        pump.join(timeout=5)


def _shutdown_write(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class CountingQueue(FailureQueue):
    """The real queue, counting every occurrence recorded into it."""

    occurrences = 0

    def record(self, kind: FailureKind, key: str, **context: Any) -> Any:
        event = super().record(kind, key, **context)
        self.occurrences += 1
        return event


class AnswerLog(FailureReportClient):
    """The real client, keeping the answers it got."""

    answers: list[UploadAnswer]

    async def upload(self, batch: FailureBatch) -> UploadAnswer:
        answer = await super().upload(batch)
        self.answers.append(answer)
        return answer


@dataclass
class Device:
    device_id: str
    config: AgentConfig
    keystore: DiceKeyStore


def attested_device(service: LiveUpdateService, directory: Path) -> Device:
    """A fresh device, enrolled and attested over https (its certificate saved)."""
    enrolled = service.enroll(directory)
    backend = DirInstallBackend(enrolled.install_root)
    backend.boot()
    measurements = Measurements(
        os_image_sha256=sha256_of_file(backend.os_image_path()),
        agent_sha256=AGENT_SHA256,
    )
    config = AgentConfig(
        state_dir=enrolled.state_dir,
        server_url=service.url,
        measurements=FixedMeasurementSource(measurements=measurements),
        connect_timeout_s=5.0,
        read_timeout_s=10.0,
        deadline_s=20.0,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
        server_ca_file=service.tls.ca_file,
    )
    keystore = DiceKeyStore.open(enrolled.state_dir, measurements, clock=SystemClock())

    async def attest() -> None:
        async with AttestationClient(config) as attester:
            issued = await attester.attest(keystore, measurements)
        StateStore(enrolled.state_dir).write_certificate(
            issued.certificate_pem, issued.chain_pem
        )

    asyncio.run(attest())
    return Device(enrolled.device_id, config, keystore)


def uploader_through(
    device: Device, relay_url: str, queue: FailureQueue
) -> tuple[FailureUploader, AnswerLog]:
    """The agent's uploader (and recorder, so failed uploads are recorded too)
    talking to the service through ``relay_url`` over the device's mTLS."""
    config = replace(device.config, server_url=relay_url)
    tls = device_tls(
        device.keystore, config.state_dir, relay_url, config.server_ca_file
    )
    client = AnswerLog(config, ssl_context_factory=tls)
    client.answers = []
    recorder = QueueFailureRecorder(queue, server_url=relay_url)
    uploader = FailureUploader(
        queue=queue,
        client=client,
        recorded=recorder.recorded,
        interval_s=300.0,
        backoff_base_s=config.backoff_base_s,
        backoff_max_s=config.backoff_max_s,
        has_certificate=lambda: True,
        recorder=recorder,
    )
    return uploader, client


def stored_events(
    service: LiveUpdateService, device_id: str
) -> list[FailureEventRecord]:
    factory = make_session_factory(service.app.state.sevenfold.engine)
    with factory() as session:
        rows = session.scalars(
            select(FailureEventRecord).where(FailureEventRecord.device_id == device_id)
        ).all()
        session.expunge_all()
        return list(rows)


def queue_state(
    service: LiveUpdateService, device_id: str
) -> DeviceFailureQueueState | None:
    factory = make_session_factory(service.app.state.sevenfold.engine)
    with factory() as session:
        return session.get(DeviceFailureQueueState, device_id)


def drain_until_empty(
    uploader: FailureUploader, queue: FailureQueue, *, while_crashing: int = 0
) -> int:
    """Drain as the loop does after each backoff, the first ``while_crashing``
    times with more crashes recorded in between (repeats of keys that may sit in
    a batch in flight); return the drains it took."""
    rng = random.Random(3)

    async def drain() -> int:
        for attempt in range(1, MAX_DRAINS + 1):
            await uploader.drain()
            if attempt <= while_crashing:
                for _ in range(5):
                    crash(queue, rng.randrange(450))
            elif len(queue) == 0:
                return attempt
        return MAX_DRAINS

    return asyncio.run(drain())


def crash(queue: FailureQueue, n: int) -> None:
    """One of 150 apps crashed with one of three exit codes."""
    queue.record(
        FailureKind.APP_CRASH,
        f"app-crash:app-{n % 150}:exit code {n % 3 + 1}",
        description=f"app {n % 150} ended",
        exit_code=n % 3 + 1,
        os_version="26.10",
    )


def _target(service: LiveUpdateService) -> tuple[str, int]:
    parts = urlsplit(service.url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


def test_a_link_cut_mid_request_and_mid_answer_still_counts_every_event_once(
    service: LiveUpdateService, tmp_path: Path
) -> None:
    device = attested_device(service, tmp_path / "device")
    clock = ManualClock(SystemClock().now())
    queue = CountingQueue(device.config.state_dir, clock=clock)
    for n in range(450):
        if n and n % 150 == 0:
            clock.advance(3600)  # a new window: new records
        crash(queue, n)
    with cutting_relay(_target(service), seed=7, cut_probability=0.6) as relay:
        uploader, client = uploader_through(device, relay.url, queue)
        drains = drain_until_empty(uploader, queue, while_crashing=40)
    counters = relay.counters

    assert len(queue) == 0, f"{len(queue)} records left after {drains} drains"
    assert counters.request_cuts >= 3
    assert counters.answer_cuts >= 3
    assert sum(answer.duplicates for answer in client.answers) > 0
    events = stored_events(service, device.device_id)
    assert sum(event.count for event in events) == queue.occurrences
    assert len({event.event_id for event in events}) == len(events)
    kinds = {event.kind for event in events}
    assert kinds == {"app-crash", "network-failure"}
    network = [event for event in events if event.kind == "network-failure"]
    assert {event.host for event in network} == {"127.0.0.1"}
    assert reopened_is_empty(device)


def reopened_is_empty(device: Device) -> bool:
    return len(FailureQueue(device.config.state_dir, clock=SystemClock())) == 0


def test_a_week_offline_backlog_is_uploaded_when_the_service_is_back(
    service: LiveUpdateService, tmp_path: Path
) -> None:
    device = attested_device(service, tmp_path / "device")
    clock = ManualClock(SystemClock().now() - timedelta(days=8))
    queue = CountingQueue(device.config.state_dir, clock=clock)
    with cutting_relay(_target(service), seed=11, cut_probability=0.0) as relay:
        relay.offline.set()
        uploader, client = uploader_through(device, relay.url, queue)

        async def offline_week() -> None:
            for tick in range(7 * 24 * 3):  # every 20 minutes for a week
                clock.advance(20 * 60)
                for app in range(3):
                    queue.record(
                        FailureKind.APP_CRASH,
                        f"app-crash:app-{app}:signal 11",
                        signal=11,
                        component_id=f"app-{app}",
                    )
                if tick % 6 == 0:
                    assert not await uploader.drain()

        asyncio.run(offline_week())
        backlog = queue.snapshot()
        relay.offline.clear()
        # Back online: one drain uploads the backlog batch after batch.
        assert asyncio.run(uploader.drain())

    assert len(backlog.records) >= 500
    assert backlog.dropped_total == 0
    assert relay.counters.refused == 7 * 24 * 3 // 6
    assert len(queue) == 0
    assert len(client.answers) == -(-len(backlog.records) // 100)
    events = stored_events(service, device.device_id)
    assert len(events) == len(backlog.records)
    assert sum(event.count for event in events) == queue.occurrences
    assert {event.kind for event in events} == {"app-crash", "network-failure"}
    first = min(event.first_at for event in events)
    last = max(event.last_at for event in events)
    assert last - first >= timedelta(days=6, hours=23)
    state = queue_state(service, device.device_id)
    assert state is not None
    assert state.dropped_total == 0


def test_the_agent_process_records_its_own_failures_and_uploads_them(
    service: LiveUpdateService, tmp_path: Path
) -> None:
    """``sevenfold agent run`` itself: offline at start it records its failed
    attestations; once the link is back it attests and uploads them, with an app
    crash recorded before it started."""
    enrolled = service.enroll(tmp_path / "device")
    recorder = QueueFailureRecorder(
        FailureQueue(enrolled.state_dir, clock=SystemClock()),
        server_url=service.url,
        os_version=lambda: FACTORY_OS_VERSION,
    )
    recorder.record_app_exit("app-1", None, signal=6)
    with cutting_relay(_target(service), seed=5, cut_probability=0.0) as relay:
        relay.offline.set()
        command = agent_run_command(enrolled, relay.url, service.tls.ca_file)

        def steady() -> bool:
            pending = read_failures(enrolled.state_dir).records
            if relay.offline.is_set():
                if any(r.kind is FailureKind.NETWORK_FAILURE for r in pending):
                    relay.offline.clear()  # the link comes back
                return False
            kinds = {e.kind for e in stored_events(service, enrolled.device_id)}
            return kinds == {"app-crash", "network-failure"}

        for _ in range(4):  # an update's reboot ends a run; the next one goes on
            run = run_agent_once(command, tmp_path / "agent.log", steady)
            if run.stopped_in_steady_state:
                break
        assert run.stopped_in_steady_state, run.output[-3000:]

    events = {e.kind: e for e in stored_events(service, enrolled.device_id)}
    crash, network = events["app-crash"], events["network-failure"]
    assert (crash.component_id, crash.signal, crash.os_version) == (
        "app-1",
        6,
        FACTORY_OS_VERSION,
    )
    assert network.host == "127.0.0.1"
    assert network.os_version == FACTORY_OS_VERSION  # from the booted slot
    assert network.count >= 1
    pending = {r.event_id for r in read_failures(enrolled.state_dir).records}
    assert not pending & {crash.event_id, network.event_id}
