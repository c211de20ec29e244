"""The daemon and the update cycle record failures through a ``FailureRecorder``
(docs/failures.md §1): the daemon against a real service over HTTP in virtual time,
the update cycle on a simulated device with a real ``dir`` backend."""

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

from fastapi.testclient import TestClient
from tuf.api.exceptions import DownloadHTTPError

from sevenfold.agent.attestation_client import AttestationClient
from sevenfold.agent.config import AgentConfig
from sevenfold.agent.daemon import Agent
from sevenfold.agent.failure_queue import FailureQueue
from sevenfold.agent.failure_recorder import QueueFailureRecorder
from sevenfold.agent.trusted.dice_keystore import DiceKeyStore
from sevenfold.agent.update_cycle import CycleResult, UpdateCycle
from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.failures import FailureEvent, FailureKind, NetworkFailureKind
from sevenfold.protocol.updates import ImageType, target_path
from tests.agent.agent_support import VirtualTime, config_for, enroll
from tests.agent.test_update_cycle import healthy, unhealthy
from tests.agent.update_support import UpdateDevice, make_device, make_image
from tests.api.attestation_support import running
from tests.conftest import TenantAccess
from tests.support.live_server import free_port


def run_recording_agent(
    config: AgentConfig, clock: ManualClock, max_sleeps: int
) -> tuple[Agent, tuple[FailureEvent, ...]]:
    """Run an agent with a failure recorder until it slept ``max_sleeps`` times."""
    recorder = QueueFailureRecorder(
        FailureQueue(config.state_dir, clock=clock), server_url=config.server_url
    )

    async def main() -> Agent:
        stop = asyncio.Event()
        time = VirtualTime(clock, stop, max_sleeps)
        measurements = config.measurements.measure()
        keystore = DiceKeyStore.open(config.state_dir, measurements, clock=clock)
        async with AttestationClient(config) as client:
            agent = Agent(
                config=config,
                keystore=keystore,
                measurements=measurements,
                attester=client,
                clock=clock,
                sleep=time.sleep,
                rng=random.Random(5),
                failures=recorder,
            )
            await agent.run(stop)
        return agent

    agent = asyncio.run(main())
    return agent, FailureQueue(config.state_dir, clock=clock).snapshot().records


def test_refused_attestations_are_recorded_as_one_aggregated_failure(
    live_url: str, client: TestClient, admin: TenantAccess, clock: ManualClock,
    tmp_path: Path,
) -> None:  # fmt: skip
    state_dir = tmp_path / "device"
    enroll(client, admin, clock, state_dir, approved=running(os="os 25.1"))
    config = config_for(state_dir, live_url, backoff_base_s=2.0, backoff_max_s=16.0)
    agent, records = run_recording_agent(config, clock, max_sleeps=4)

    (record,) = records
    assert record.kind is FailureKind.ATTESTATION_FAILURE
    assert record.key == "attestation-failure:unapproved-software"
    assert record.count == agent.consecutive_failures == 4
    assert "unapproved-software" in record.description


def test_an_unreachable_service_is_a_network_failure_not_an_attestation_failure(
    tmp_path: Path, clock: ManualClock, client: TestClient, admin: TenantAccess
) -> None:
    state_dir = tmp_path / "device"
    enroll(client, admin, clock, state_dir)
    nowhere = f"http://127.0.0.1:{free_port()}"
    config = config_for(state_dir, nowhere, backoff_base_s=1.0, backoff_max_s=4.0)
    _, records = run_recording_agent(config, clock, max_sleeps=3)

    (record,) = records
    assert record.kind is FailureKind.NETWORK_FAILURE
    assert (record.network_kind, record.host) == (
        NetworkFailureKind.CONNECT,
        "127.0.0.1",
    )
    assert record.count == 3


class RecordingDevice:
    """A simulated device whose update cycle records into a real queue."""

    def __init__(self, device: UpdateDevice) -> None:
        self.device = device
        self.clock = ManualClock()
        self.recorder = QueueFailureRecorder(
            FailureQueue(device.state_dir, clock=self.clock),
            server_url="https://sevenfold.example",
            os_version=lambda: self.device.backend.current_os().version,
        )

    def cycle(self) -> UpdateCycle:
        device = self.device
        return UpdateCycle(
            source=device.client(),
            backend=device.backend,
            reporter=device.reporter,
            failures=self.recorder,
        )

    def check(self) -> CycleResult:
        return asyncio.run(self.cycle().check()).result

    def after_boot(self, *, health_ok: bool) -> CycleResult:
        boot = self.device.boots[-1]
        check = healthy if health_ok else unhealthy
        return asyncio.run(self.cycle().after_boot(boot, check)).result

    def records(self) -> tuple[FailureEvent, ...]:
        return self.recorder.queue.snapshot().records


def test_failed_trial_boots_and_the_rollback_are_recorded_once_each(
    tmp_path: Path,
) -> None:
    device = RecordingDevice(make_device(tmp_path))
    bad_os = device.device.release(ImageType.OS, "26.11", security_version=2)
    device.device.simulator.set_director_targets((bad_os,))
    assert device.check() is CycleResult.REBOOT_REQUIRED
    while device.device.reboot().rolled_back_from is None:
        assert device.after_boot(health_ok=False) is CycleResult.TRIAL_UNHEALTHY
    device.device.reporter.offline = True  # the rollback report is lost...
    assert device.after_boot(health_ok=True) is CycleResult.ROLLED_BACK
    device.device.reporter.offline = False
    device.device.reboot()  # ...and re-reported at the next boot
    assert device.after_boot(health_ok=True) is CycleResult.ROLLED_BACK

    bad_slot, rollback = device.records()
    assert bad_slot.kind is FailureKind.BAD_SLOT_BOOT
    assert (bad_slot.image_id, bad_slot.count) == (bad_os.image_id, 3)
    assert bad_slot.os_version == "26.11"  # the trial was running
    assert rollback.kind is FailureKind.ROLLBACK
    assert (rollback.image_id, rollback.count) == (bad_os.image_id, 1)
    assert rollback.os_version == "26.10"
    assert "26.11" in rollback.description


def test_a_refused_download_is_an_update_failure_of_its_image(tmp_path: Path) -> None:
    device = RecordingDevice(make_device(tmp_path))
    simulator = device.device.simulator
    released = device.device.release(ImageType.OS, "26.11", security_version=2)
    other, _ = make_image(device.device.key, kind=ImageType.OS, version="26.11")
    forged = other[: released.length].ljust(released.length, b"\0")
    simulator.overrides[simulator.url("targets", target_path(released.sha256))] = (
        lambda: iter([forged])
    )
    simulator.set_director_targets((released,))

    assert device.check() is CycleResult.FAILED

    (record,) = device.records()
    assert record.kind is FailureKind.UPDATE_FAILURE
    assert record.key == f"update-failure:{released.image_id}:target-refused"
    assert record.image_id == released.image_id
    assert record.os_version == "26.10"
    assert "LengthOrHashMismatchError" in record.description


def busy() -> Iterator[bytes]:
    raise DownloadHTTPError("service busy", 503)


def test_metadata_a_busy_service_cannot_give_is_a_network_failure(
    tmp_path: Path,
) -> None:
    device = RecordingDevice(make_device(tmp_path))
    simulator = device.device.simulator
    simulator.overrides[simulator.url("director", "timestamp.json")] = busy

    assert device.check() is CycleResult.FAILED

    (record,) = device.records()
    assert record.kind is FailureKind.NETWORK_FAILURE
    assert (record.network_kind, record.host) == (
        NetworkFailureKind.HTTP,
        "sevenfold.example",
    )
    assert record.image_id is None


def test_an_offered_image_that_cannot_be_downloaded_is_its_update_failure(
    tmp_path: Path,
) -> None:
    """docs/failures.md §1: a release whose image does not arrive counts against
    that release (its rollout), not against the link."""
    device = RecordingDevice(make_device(tmp_path))
    simulator = device.device.simulator
    released = device.device.release(ImageType.OS, "26.11", security_version=2)
    simulator.overrides[simulator.url("targets", target_path(released.sha256))] = busy
    simulator.set_director_targets((released,))

    assert device.check() is CycleResult.FAILED

    (record,) = device.records()
    assert record.kind is FailureKind.UPDATE_FAILURE
    assert record.image_id == released.image_id
    assert record.key.endswith(":update-service-unreachable")
