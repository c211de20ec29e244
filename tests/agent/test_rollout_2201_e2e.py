"""Azure Sphere 22.01, replayed: a release that fails on part of the evaluation
fleet halts its own rollout before retail ever sees it, and a fix replaces it.

The real service over HTTPS with client certificates (the rollout evaluator
running, ticking every ``EVALUATION_INTERVAL_S``), and real agents in-process:
``Agent`` with its ``UpdateLoop`` (the real ``UpdateCycle``, ``UpdateClient``,
``UpdateFetcher``, status client, a ``dir`` install backend), its durable
``FailureQueue``, ``QueueFailureRecorder`` and ``FailureUploader``. Each device
run is one ``agent run`` until its first update check is done and its failure
queue has been uploaded (or until it must reboot, which the test then does).

The story: eight devices in ``Production OS Evaluation`` (retail-eval) and four in
``Production`` (retail) all run 26.11. 26.12 is published to retail-eval with a
rollout of one wave (min 3 devices, halt above 20 % failed). Three evaluation
devices sit on a flaky link: a relay that cuts every connection after
``DROP_EVERY_BYTES`` (attestation, metadata, status reports and failure uploads
still pass; the OS image needs dozens of reconnections, each after a backoff, and
does not arrive within the fetcher's deadline). Their time is virtual: the
fetcher's backoff sleeps advance a clock instead of waiting, so the deadline is
reached the same way on every run. Their update fails, the failure reaches the
service through the queue, and the rollout halts itself. The operator cancels
26.12 and publishes 26.12.1.

Asserted: the halt (paused, ``halted_at``, reason, a ``rollout.halt`` audit entry
by the evaluator, the release flagged for cancellation review); no retail device
was ever offered 26.12 (every director targets document they received and every
status report they sent); every evaluation device ends on a good release (26.11
or 26.12.1; every one that installed 26.12 moved on to 26.12.1); no device is
bricked (its ``dir`` backend boots a committed slot whose package verifies); and
every failure the devices recorded was stored exactly once (the counts the
service holds per device equal what each device's queue recorded).
"""

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from sevenfold.agent.attestation_client import AttestationClient
from sevenfold.agent.config import AgentConfig
from sevenfold.agent.daemon import Agent
from sevenfold.agent.failure_queue import FailureQueue, read_failures
from sevenfold.agent.failure_recorder import QueueFailureRecorder
from sevenfold.agent.failure_upload import FailureReportClient, FailureUploader
from sevenfold.agent.install.backend import BootOutcome, DirInstallBackend
from sevenfold.agent.install.packages import package_matches
from sevenfold.agent.measurements import FixedMeasurementSource, sha256_of_file
from sevenfold.agent.state import StateStore
from sevenfold.agent.trusted.dice_keystore import DiceKeyStore
from sevenfold.agent.update_client import UpdateClient
from sevenfold.agent.update_cycle import CycleOutcome, CycleResult, UpdateCycle
from sevenfold.agent.update_fetcher import FetcherSettings, UpdateFetcher
from sevenfold.agent.update_loop import UpdateLoop
from sevenfold.agent.update_setup import device_tls
from sevenfold.agent.update_status_client import (
    SslContextFactory,
    UpdateStatusClient,
)
from sevenfold.protocol.attestation import Measurements
from sevenfold.protocol.clock import Clock
from sevenfold.protocol.failures import FailureEvent, FailureKind
from sevenfold.protocol.updates import ImageType, UpdateStatusReport
from sevenfold.service.audit.models import AuditEvent
from sevenfold.service.db.engine import make_session_factory
from sevenfold.service.failures.models import FailureEventRecord
from sevenfold.service.images.models import Image
from sevenfold.service.releases.models import OsRelease
from sevenfold.service.rollouts.service import EVALUATOR_ACTOR
from tests.agent.live_update_service import (
    AGENT_SHA256,
    FACTORY_OS_VERSION,
    RELEASED_OS_VERSION,
    LiveUpdateService,
    add_sized_image,
    live_update_service,
)
from tests.support.dropping_relay import DroppingRelay, dropping_relay
from tests.support.fleet import device as show_device
from tests.support.fleet import groups_by_name

OS_IMAGE_BYTES = 1024 * 1024
DROP_EVERY_BYTES = 24 * 1024
EVAL_DEVICES = 8
FLAKY_EVAL_DEVICES = 3
RETAIL_DEVICES = 4
EVALUATION_INTERVAL_S = 0.2
MIN_DEVICES = 3
THRESHOLD_PERCENT = 20.0
# The flaky devices' fetcher: each reconnection waits a backoff of up to 1 s of
# virtual time; ~50 reconnections would be needed, the deadline allows ~20.
FLAKY_FETCH_DEADLINE_S = 10.0
FLAKY_BACKOFF_S = 1.0
UPLOAD_WAIT_S = 20.0
HALT_WAIT_S = 15.0
BAD_RELEASE = "26.12"
FIXED_RELEASE = "26.12.1"
EVAL_GROUP = "Production OS Evaluation"


@dataclass
class VirtualTime:
    """A flaky device's fetcher clock: backoff sleeps advance it, nothing waits."""

    now_s: float = 0.0

    def monotonic(self) -> float:
        return self.now_s

    def sleep(self, seconds: float) -> None:
        self.now_s += seconds


class CountingQueue(FailureQueue):
    """The device's real queue, counting every occurrence it records, by kind."""

    def __init__(self, state_dir: Path, *, clock: Clock, counts: Counter[str]):
        super().__init__(state_dir, clock=clock)
        self._counts = counts

    def record(self, kind: FailureKind, key: str, **context: Any) -> FailureEvent:
        event = super().record(kind, key, **context)
        self._counts[kind.value] += 1
        return event


class RecordingFetcher(UpdateFetcher):
    """The real fetcher, keeping every director ``targets`` document it received."""

    def __init__(
        self, settings: FetcherSettings, documents: list[bytes], **options: Any
    ) -> None:
        super().__init__(settings, **options)
        self._documents = documents

    def _fetch(self, url: str) -> Iterator[bytes]:
        chunks = super()._fetch(url)
        path = urlsplit(url).path
        if "/director/" in path and path.endswith("targets.json"):
            return self._kept(chunks)
        return chunks

    def _kept(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        received = []
        for chunk in chunks:
            received.append(chunk)
            yield chunk
        self._documents.append(b"".join(received))


class RecordingReporter:
    """The real status client, keeping every report the device sent."""

    def __init__(
        self, inner: UpdateStatusClient, reports: list[UpdateStatusReport]
    ) -> None:
        self._inner = inner
        self._reports = reports

    async def report(self, report: UpdateStatusReport) -> bool:
        self._reports.append(report)
        return await self._inner.report(report)


@dataclass
class FleetDevice:
    """One device: its directories, its link, and what it did."""

    name: str
    device_id: str
    state_dir: Path
    install_root: Path
    retail: bool
    backend: DirInstallBackend
    boot: BootOutcome | None
    relay: DroppingRelay | None = None
    virtual_time: VirtualTime = field(default_factory=VirtualTime)
    recorded: Counter[str] = field(default_factory=Counter)
    director_targets: list[bytes] = field(default_factory=list)
    reports: list[UpdateStatusReport] = field(default_factory=list)
    outcomes: list[CycleOutcome] = field(default_factory=list)
    committed_versions: set[str] = field(default_factory=set)

    def fetcher_factory(self, tls: SslContextFactory) -> Callable[[], UpdateFetcher]:
        def make() -> UpdateFetcher:
            if self.relay is None:
                settings = FetcherSettings(
                    connect_timeout_s=5.0, read_timeout_s=15.0, ssl_context=tls()
                )
                return RecordingFetcher(settings, self.director_targets)
            settings = FetcherSettings(
                connect_timeout_s=5.0,
                read_timeout_s=15.0,
                deadline_s=FLAKY_FETCH_DEADLINE_S,
                backoff_base_s=FLAKY_BACKOFF_S,
                backoff_max_s=FLAKY_BACKOFF_S,
                ssl_context=tls(),
            )
            return RecordingFetcher(
                settings,
                self.director_targets,
                rng=random.Random(self.name),
                sleep=self.virtual_time.sleep,
                monotonic=self.virtual_time.monotonic,
            )

        return make


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[LiveUpdateService]:
    """The service; 26.11 is a 1 MiB image."""
    with live_update_service(
        tmp_path_factory.mktemp("service"),
        sqlite_template,
        os_image_bytes=OS_IMAGE_BYTES,
        rollout_evaluation_interval_s=EVALUATION_INTERVAL_S,
    ) as live:
        yield live


def enroll_fleet(service: LiveUpdateService, directory: Path) -> list[FleetDevice]:
    """Eight evaluation devices and four retail ones, booted on factory 26.10."""
    product_id = show_device(
        service.client,
        service.admin.headers,
        service.enroll(directory / "probe").device_id,
    )["product_id"]
    eval_group = groups_by_name(service.client, service.admin.headers, product_id)[
        EVAL_GROUP
    ]["id"]
    fleet = []
    for index in range(EVAL_DEVICES + RETAIL_DEVICES):
        retail = index >= EVAL_DEVICES
        name = f"retail-{index - EVAL_DEVICES}" if retail else f"eval-{index}"
        enrolled = service.enroll(directory / name)
        if not retail:
            moved = service.client.patch(
                f"/api/v1/devices/{enrolled.device_id}",
                json={"device_group_id": eval_group},
                headers=service.admin.headers,
            )
            assert moved.status_code == 200, moved.text
        backend = DirInstallBackend(enrolled.install_root)
        fleet.append(
            FleetDevice(
                name=name,
                device_id=enrolled.device_id,
                state_dir=enrolled.state_dir,
                install_root=enrolled.install_root,
                retail=retail,
                backend=backend,
                boot=backend.boot(),
            )
        )
    return fleet


@contextlib.contextmanager
def flaky_links(host: str, port: int, count: int) -> Iterator[list[DroppingRelay]]:
    """``count`` relays to the service, each cutting connections every
    ``DROP_EVERY_BYTES`` (one per flaky device)."""
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(
                dropping_relay(host, port, drop_every_bytes=DROP_EVERY_BYTES)
            )
            for _ in range(count)
        ]


def run_device(service: LiveUpdateService, device: FleetDevice) -> CycleOutcome:
    """One ``agent run``: attest, handle the boot, check once, upload the failure
    queue; then stop (or return as the daemon does when a reboot is needed)."""
    server_url = service.url if device.relay is None else device.relay.url
    measurements = Measurements(
        os_image_sha256=sha256_of_file(device.backend.os_image_path()),
        agent_sha256=AGENT_SHA256,
    )
    config = AgentConfig(
        state_dir=device.state_dir,
        server_url=server_url,
        measurements=FixedMeasurementSource(measurements=measurements),
        connect_timeout_s=5.0,
        read_timeout_s=15.0,
        deadline_s=30.0,
        backoff_base_s=0.05,
        backoff_max_s=0.5,
        install_root=device.install_root,
        server_ca_file=service.tls.ca_file,
    )
    clock = service.clock

    async def main() -> tuple[Agent, UpdateLoop]:
        stop = asyncio.Event()
        keystore = DiceKeyStore.open(device.state_dir, measurements, clock=clock)
        tls = device_tls(keystore, device.state_dir, server_url, config.server_ca_file)
        queue = CountingQueue(device.state_dir, clock=clock, counts=device.recorded)
        recorder = QueueFailureRecorder(
            queue,
            server_url=server_url,
            os_version=lambda: device.backend.current_os().version,
        )
        uploader = FailureUploader(
            queue=queue,
            client=FailureReportClient(config, ssl_context_factory=tls),
            recorded=recorder.recorded,
            interval_s=3600.0,
            backoff_base_s=config.backoff_base_s,
            backoff_max_s=config.backoff_max_s,
            has_certificate=lambda: (
                StateStore(device.state_dir).read_certificate() is not None
            ),
            recorder=recorder,
            rng=random.Random(1),
        )
        cycle = UpdateCycle(
            source=UpdateClient(
                state_dir=device.state_dir,
                server_url=server_url,
                device_id=keystore.device_id,
                fetcher_factory=device.fetcher_factory(tls),
            ),
            backend=device.backend,
            reporter=RecordingReporter(
                UpdateStatusClient(config, ssl_context_factory=tls), device.reports
            ),
            failures=recorder,
        )

        async def after_the_check(delay_s: float) -> None:
            # The uploader runs beside: wait (bounded) until it emptied the queue.
            deadline = time.monotonic() + UPLOAD_WAIT_S
            while len(queue) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            stop.set()

        async def never(delay_s: float) -> None:
            await asyncio.Event().wait()

        updates = UpdateLoop(
            cycle=cycle,
            state_dir=device.state_dir,
            interval_s=3600.0,
            backoff_base_s=1.0,
            backoff_max_s=5.0,
            boot=device.boot,
            sleep=after_the_check,
            rng=random.Random(5),
        )
        async with AttestationClient(config) as attester:
            agent = Agent(
                config=config,
                keystore=keystore,
                measurements=measurements,
                attester=attester,
                clock=clock,
                sleep=never,
                updates=updates,
                failures=recorder,
                failure_uploads=uploader,
            )
            await agent.run(stop)
        return agent, updates

    agent, loop = asyncio.run(main())
    device.outcomes += loop.outcomes
    device.boot = None
    last = loop.outcomes[-1]
    if agent.reboot_outcome is not None:
        # The device restarts: the emulated bootloader runs on a fresh backend.
        device.backend = DirInstallBackend(device.install_root)
        device.boot = device.backend.boot()
    committed = device.backend.committed_os()
    device.committed_versions.add(committed.version)
    return last


def run_fleet(
    service: LiveUpdateService, fleet: list[FleetDevice]
) -> dict[str, CycleOutcome]:
    """Every device runs once, in order; the service's clock moves a second."""
    outcomes = {device.name: run_device(service, device) for device in fleet}
    service.clock.advance(1)
    return outcomes


def results(outcomes: dict[str, CycleOutcome]) -> dict[str, CycleResult]:
    return {name: outcome.result for name, outcome in outcomes.items()}


def publish(service: LiveUpdateService, version: str) -> tuple[Image, dict[str, Any]]:
    """A 1 MiB platform OS image published to retail-eval (7-day window)."""
    image = add_sized_image(
        service.app, service.clock, tenant_id=None, kind=ImageType.OS,
        version=version, size_bytes=OS_IMAGE_BYTES,
    )  # fmt: skip
    response = service.client.post(
        "/api/v1/os-releases",
        json={"image_id": image.id, "eval_window_days": 7},
        headers=service.admin.headers,
    )
    assert response.status_code == 201, response.text
    release: dict[str, Any] = response.json()
    assert release["state"] == "retail-eval"
    return image, release


def show_rollout(service: LiveUpdateService, rollout_id: str) -> dict[str, Any]:
    response = service.client.get(
        f"/api/v1/rollouts/{rollout_id}", headers=service.admin.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_for_rollout(
    service: LiveUpdateService,
    rollout_id: str,
    done: Callable[[dict[str, Any]], bool],
    timeout_s: float,
) -> dict[str, Any]:
    """Poll the rollout until ``done`` (the evaluator runs in the background)."""
    deadline = time.monotonic() + timeout_s
    shown = show_rollout(service, rollout_id)
    while not done(shown) and time.monotonic() < deadline:
        time.sleep(0.05)
        shown = show_rollout(service, rollout_id)
    return shown


def stored_counts(service: LiveUpdateService) -> dict[str, Counter[str]]:
    """The event counts the service stored, per device and kind."""
    counts: dict[str, Counter[str]] = {}
    with make_session_factory(service.app.state.sevenfold.engine)() as session:
        for row in session.scalars(select(FailureEventRecord)):
            counts.setdefault(row.device_id, Counter())[row.kind] += row.count
    return counts


def assert_not_bricked(device: FleetDevice) -> str:
    """The device boots a committed slot whose package verifies; its version."""
    backend = DirInstallBackend(device.install_root)
    boot = backend.boot()
    assert (boot.trial, boot.rolled_back_from) == (None, None), device.name
    running = backend.current_os()
    assert running == backend.committed_os(), device.name
    assert package_matches(backend.os_image_path(), running.sha256, running.length)
    return running.version


@dataclass
class Story:
    """What happened, for the cases to check."""

    fleet: list[FleetDevice]
    good: list[FleetDevice]
    flaky: list[FleetDevice]
    retail: list[FleetDevice]
    rollout_id: str
    bad_release_id: str
    bad_image: Image
    fixed_image: Image
    halted: dict[str, Any]
    cancelled: dict[str, Any]
    runs: dict[str, dict[str, CycleOutcome]]
    relay_drops: list[int]

    @property
    def evaluation(self) -> list[FleetDevice]:
        return self.good + self.flaky


def create_rollout(service: LiveUpdateService, release_id: str) -> str:
    """One wave of every evaluation device, soaking a day (it never completes
    here); halt when more than 20 % of at least 3 devices failed."""
    created = service.client.post(
        "/api/v1/rollouts",
        json={
            "os_release_id": release_id,
            "os_feed": "retail-eval",
            "waves": [{"size": 100, "unit": "percent", "min_soak_s": 86_400}],
            "policy": {
                "min_devices": MIN_DEVICES,
                "threshold_percent": THRESHOLD_PERCENT,
            },
        },
        headers=service.admin.headers,
    )
    assert created.status_code == 201, created.text
    assert created.json()["waves"][0]["devices"] == EVAL_DEVICES
    rollout_id: str = created.json()["id"]
    opened = wait_for_rollout(
        service,
        rollout_id,
        lambda r: r["waves"][0]["opened_at"] is not None,
        HALT_WAIT_S,
    )
    assert opened["waves"][0]["opened_at"] is not None, opened
    return rollout_id


@pytest.fixture(scope="module")
def story(
    service: LiveUpdateService, tmp_path_factory: pytest.TempPathFactory
) -> Story:
    """The whole story, run once; the cases check its parts."""
    fleet = enroll_fleet(service, tmp_path_factory.mktemp("fleet"))
    evaluation = [device for device in fleet if not device.retail]
    flaky = evaluation[:FLAKY_EVAL_DEVICES]
    good = evaluation[FLAKY_EVAL_DEVICES:]
    retail = [device for device in fleet if device.retail]
    runs: dict[str, dict[str, CycleOutcome]] = {}

    # Everyone updates from the factory OS to 26.11 and commits it.
    runs["26.11 staged"] = run_fleet(service, fleet)
    runs["26.11 committed"] = run_fleet(service, fleet)
    assert {d.backend.committed_os().version for d in fleet} == {RELEASED_OS_VERSION}

    # 26.12 goes to retail-eval under a rollout; three evaluation devices are on a
    # flaky link from now on. The good ones run first, so some install 26.12.
    bad_image, bad_release = publish(service, BAD_RELEASE)
    rollout_id = create_rollout(service, bad_release["id"])
    service.clock.advance(1)
    order = good + flaky + retail
    service_url = urlsplit(service.url)
    assert service_url.hostname is not None
    assert service_url.port is not None
    with flaky_links(service_url.hostname, service_url.port, len(flaky)) as relays:
        for device, relay in zip(flaky, relays, strict=True):
            device.relay = relay
        runs["26.12 offered"] = run_fleet(service, order)
        halted = wait_for_rollout(
            service, rollout_id, lambda r: r["state"] == "paused", HALT_WAIT_S
        )
        runs["26.12 rebooted"] = run_fleet(service, order)
        # The operator cancels 26.12 and publishes the fix (without a rollout).
        cancelled = service.client.post(
            f"/api/v1/os-releases/{bad_release['id']}/cancel",
            json={"reason": "halted by its rollout: update failures"},
            headers=service.admin.headers,
        )
        assert cancelled.status_code == 200, cancelled.text
        fixed_image, _ = publish(service, FIXED_RELEASE)
        runs["26.12.1 staged"] = run_fleet(service, order)
        runs["26.12.1 committed"] = run_fleet(service, order)
        runs["settled"] = run_fleet(service, order)
        relay_drops = [relay.counters.drops for relay in relays]
    return Story(
        fleet=fleet,
        good=good,
        flaky=flaky,
        retail=retail,
        rollout_id=rollout_id,
        bad_release_id=bad_release["id"],
        bad_image=bad_image,
        fixed_image=fixed_image,
        halted=halted,
        cancelled=cancelled.json(),
        runs=runs,
        relay_drops=relay_drops,
    )


def test_the_fleet_started_on_26_11(story: Story) -> None:
    staged, committed = story.runs["26.11 staged"], story.runs["26.11 committed"]
    assert set(results(staged).values()) == {CycleResult.REBOOT_REQUIRED}, staged
    assert set(results(committed).values()) == {CycleResult.UP_TO_DATE}, committed


def test_the_flaky_devices_fail_the_update_and_the_rollout_halts_itself(
    story: Story,
) -> None:
    offered = story.runs["26.12 offered"]
    # Until the halt the flaky devices were offered 26.12 and could not download
    # it; the relay cut their connections.
    assert offered[story.flaky[0].name].result is CycleResult.FAILED, offered
    assert all(drops > 0 for drops in story.relay_drops), story.relay_drops
    for device in story.flaky:
        if offered[device.name].result is CycleResult.FAILED:
            assert device.recorded[FailureKind.UPDATE_FAILURE.value] > 0
    assert all(
        offered[d.name].result in (CycleResult.REBOOT_REQUIRED, CycleResult.UP_TO_DATE)
        for d in story.good
    ), offered
    halted = story.halted
    assert halted["state"] == "paused", halted
    assert halted["halted_at"] is not None
    assert halted["halt_reason"]
    wave = halted["waves"][0]
    assert wave["ran"] >= MIN_DEVICES
    assert 100 * wave["failed"] > THRESHOLD_PERCENT * wave["ran"], wave


def test_the_halt_is_audited_and_flags_the_release_for_review(
    service: LiveUpdateService, story: Story
) -> None:
    with make_session_factory(service.app.state.sevenfold.engine)() as session:
        halts = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "rollout.halt",
                AuditEvent.target_id == story.rollout_id,
            )
        ).all()
        release = session.get(OsRelease, story.bad_release_id)
        assert release is not None
        flagged_at, reason = release.review_flagged_at, release.review_reason
    assert len(halts) == 1
    assert halts[0].actor_token_id is None  # the system, not an operator
    assert halts[0].actor_name == EVALUATOR_ACTOR
    assert flagged_at is not None
    assert reason
    assert story.cancelled["state"] == "cancelled"


def test_no_retail_device_is_ever_offered_the_halted_release(story: Story) -> None:
    """A device fetches its director targets again whenever the director changes
    them (the signed timestamp moves), so the documents recorded are every targets
    version it was served."""
    bad = story.bad_image.sha256
    for device in story.retail:
        assert device.director_targets, device.name  # it did receive some
        for document in device.director_targets:
            assert bad.encode() not in document, device.name
        targeted = {image.sha256 for r in device.reports for image in r.targeted}
        assert bad not in targeted, device.name
        assert story.fixed_image.sha256 not in targeted, device.name
        assert device.committed_versions == {FACTORY_OS_VERSION, RELEASED_OS_VERSION}


def test_every_evaluation_device_ends_on_a_good_release_and_none_is_bricked(
    story: Story,
) -> None:
    running = {device.name: assert_not_bricked(device) for device in story.fleet}
    committed_bad = [d for d in story.evaluation if BAD_RELEASE in d.committed_versions]
    assert committed_bad, "no evaluation device installed 26.12 before the halt"
    for device in committed_bad:
        assert running[device.name] == FIXED_RELEASE, device.name
    for device in story.evaluation:
        assert running[device.name] in (RELEASED_OS_VERSION, FIXED_RELEASE)
    for device in story.good:
        assert running[device.name] == FIXED_RELEASE, device.name
    for device in story.retail:
        assert running[device.name] == RELEASED_OS_VERSION, device.name
    settled = story.runs["settled"]
    assert all(
        settled[d.name].result is CycleResult.UP_TO_DATE
        for d in story.good + story.retail
    ), settled


def test_every_failure_a_device_recorded_is_stored_exactly_once(
    service: LiveUpdateService, story: Story
) -> None:
    stored = stored_counts(service)
    for device in story.fleet:
        # The last runs uploaded everything: every queue is empty.
        assert read_failures(device.state_dir).records == (), device.name
        assert stored.get(device.device_id, Counter()) == device.recorded, device.name
    assert not any(
        d.recorded[FailureKind.UPDATE_FAILURE.value] for d in story.good + story.retail
    )
    assert sum(d.recorded[FailureKind.UPDATE_FAILURE.value] for d in story.flaky) > 0
