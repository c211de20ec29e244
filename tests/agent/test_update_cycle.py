"""The update cycle end to end on a simulated device: verified metadata from the
in-memory Uptane server, a real ``dir`` install backend, virtual time."""

import asyncio
import json
import random
from pathlib import Path

import pytest

from sevenfold.agent.errors import UpdateHealthCheckError, UpdateLockedError
from sevenfold.agent.schedule import UPDATE_CHECK_JITTER
from sevenfold.agent.update_client import TRUSTED_ROOT_FILE, metadata_dir
from sevenfold.agent.update_cycle import CycleResult, update_lock
from sevenfold.agent.update_loop import UpdateLoop
from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.updates import ImageType, UpdateState
from tests.agent.agent_support import VirtualTime
from tests.agent.update_support import UpdateDevice, make_device


async def healthy() -> None:
    """A trial boot that attests and reaches the service."""


async def unhealthy() -> None:
    """A trial boot whose re-attestation is refused."""
    raise UpdateHealthCheckError("re-attestation refused (measurement-not-approved)")


def after_boot(device: UpdateDevice, *, health_ok: bool) -> CycleResult:
    outcome = asyncio.run(
        device.cycle().after_boot(device.boots[-1], healthy if health_ok else unhealthy)
    )
    return outcome.result


@pytest.fixture
def device(tmp_path: Path) -> UpdateDevice:
    return make_device(tmp_path)


def test_up_to_date_device_reports_idle_and_pins_both_roots(
    device: UpdateDevice,
) -> None:
    outcome = device.check()

    assert outcome.result is CycleResult.UP_TO_DATE
    assert device.reporter.states == [UpdateState.IDLE]
    for repository in ("image", "director"):
        pinned = metadata_dir(device.state_dir, repository) / TRUSTED_ROOT_FILE
        assert json.loads(pinned.read_bytes())["signed"]["version"] == 1


def test_os_update_is_staged_rebooted_health_checked_and_committed(
    device: UpdateDevice,
) -> None:
    new_os = device.release(ImageType.OS, "26.11", security_version=2)
    device.simulator.set_director_targets((new_os,))

    outcome = device.check()

    assert outcome.result is CycleResult.REBOOT_REQUIRED
    assert outcome.reboot_required
    assert device.reporter.states == [
        UpdateState.DOWNLOADING,
        UpdateState.INSTALLING,
        UpdateState.REBOOTING,
    ]
    assert device.backend.current_os() == device.factory_os  # not yet rebooted
    boot = device.reboot()
    assert boot.trial == new_os
    assert after_boot(device, health_ok=True) is CycleResult.COMMITTED
    assert device.reporter.states[-1] is UpdateState.COMMITTED
    assert device.backend.committed_os() == new_os
    assert device.backend.committed_security_version() == 2
    assert device.check().result is CycleResult.UP_TO_DATE


def test_unhealthy_trial_is_rolled_back_after_bootlimit_boots_and_reported(
    device: UpdateDevice,
) -> None:
    new_os = device.release(ImageType.OS, "26.11", security_version=2)
    device.simulator.set_director_targets((new_os,))
    assert device.check().reboot_required

    trial_boots = 0
    while device.reboot().rolled_back_from is None:
        trial_boots += 1
        assert after_boot(device, health_ok=False) is CycleResult.TRIAL_UNHEALTHY

    assert trial_boots == device.bootlimit
    assert after_boot(device, health_ok=True) is CycleResult.ROLLED_BACK
    last = device.reporter.reports[-1]
    assert last.state is UpdateState.ROLLED_BACK
    assert last.rolled_back_from == "26.11"
    assert last.detail is not None
    assert "26.11" in last.detail
    assert device.backend.current_os() == device.factory_os
    assert device.backend.committed_security_version() == 1


def test_a_rollback_reported_while_offline_is_reported_later_and_never_retried(
    device: UpdateDevice,
) -> None:
    """A release that fails its trial boots must not loop the device through
    install → reboot → rollback at every check, and the rollback must reach the
    service even if the report after the rollback boot was lost."""
    bad_os = device.release(ImageType.OS, "26.11", security_version=2)
    device.simulator.set_director_targets((bad_os,))
    assert device.check().reboot_required
    while device.reboot().rolled_back_from is None:
        assert after_boot(device, health_ok=False) is CycleResult.TRIAL_UNHEALTHY

    device.reporter.offline = True
    assert after_boot(device, health_ok=True) is CycleResult.ROLLED_BACK
    device.reporter.offline = False
    device.reboot()  # a later, ordinary boot
    assert after_boot(device, health_ok=True) is CycleResult.ROLLED_BACK
    assert device.reporter.reports[-1].rolled_back_from == "26.11"
    device.reboot()
    assert after_boot(device, health_ok=True) is CycleResult.BOOTED  # acknowledged

    outcome = device.check()  # the director still lists the bad release

    assert not outcome.reboot_required
    assert device.backend.pending_trial() is None
    assert device.backend.current_os() == device.factory_os
    assert outcome.detail is not None
    assert "not retried" in outcome.detail
    fixed_os = device.release(ImageType.OS, "26.12", security_version=2)
    device.simulator.set_director_targets((fixed_os,))
    assert device.check().reboot_required  # a newer release moves the device on


def test_app_set_is_installed_and_replaced_when_the_cloud_manages_apps(
    device: UpdateDevice,
) -> None:
    first = device.release(ImageType.APP, "1.0")
    second = device.release(ImageType.APP, "2.0")
    device.simulator.set_director_targets((device.factory_os, first, second))

    outcome = device.check()

    assert outcome.result is CycleResult.APPS_INSTALLED
    assert set(device.backend.current_apps()) == {first, second}
    first_v2 = device.release(ImageType.APP, "1.1", component_id=first.component_id)
    device.simulator.set_director_targets((device.factory_os, first_v2, second))
    fetched_before = len(device.simulator.fetched)

    assert device.check().result is CycleResult.APPS_INSTALLED

    assert set(device.backend.current_apps()) == {first_v2, second}
    blobs = [u for u in device.simulator.fetched[fetched_before:] if "/blobs/" in u]
    assert blobs == [device.simulator.url("targets", f"blobs/{first_v2.sha256}")]


def test_unmanaged_apps_are_left_alone(device: UpdateDevice) -> None:
    app = device.release(ImageType.APP, "1.0")
    device.simulator.set_director_targets((device.factory_os, app))
    device.check()
    device.simulator.set_director_targets((device.factory_os,), apps_managed=False)

    assert device.check().result is CycleResult.UP_TO_DATE
    assert device.backend.current_apps() == (app,)


def test_older_os_target_is_not_installed_and_not_a_failure(
    device: UpdateDevice,
) -> None:
    older = device.release(ImageType.OS, "26.9")
    device.simulator.set_director_targets((older,))

    outcome = device.check()

    assert outcome.result is CycleResult.UP_TO_DATE
    assert outcome.detail is not None
    assert "not newer" in outcome.detail
    device.assert_untouched()


def run_loop(
    device: UpdateDevice, max_sleeps: int, interval_s: float = 72_000.0
) -> tuple[UpdateLoop, VirtualTime]:
    async def main() -> tuple[UpdateLoop, VirtualTime]:
        stop = asyncio.Event()
        time = VirtualTime(ManualClock(), stop, max_sleeps)
        loop = UpdateLoop(
            cycle=device.cycle(),
            state_dir=device.state_dir,
            interval_s=interval_s,
            backoff_base_s=5.0,
            backoff_max_s=3600.0,
            sleep=time.sleep,
            rng=random.Random(3),
        )
        assert await loop.run(stop, healthy) is None
        return loop, time

    return asyncio.run(main())


def test_checks_repeat_every_interval_with_ten_percent_jitter(
    device: UpdateDevice,
) -> None:
    loop, time = run_loop(device, max_sleeps=40)

    assert len(loop.outcomes) == 40
    low, high = 72_000 * (1 - UPDATE_CHECK_JITTER), 72_000 * (1 + UPDATE_CHECK_JITTER)
    assert all(low <= delay <= high for delay in time.delays_s)
    assert len(set(time.delays_s)) == len(time.delays_s)


def test_failed_checks_back_off_then_return_to_the_interval(
    device: UpdateDevice,
) -> None:
    device.simulator.overrides[device.simulator.url("image", "timestamp.json")] = (
        lambda: iter([b"not metadata"])
    )
    loop, time = run_loop(device, max_sleeps=6)

    assert [o.result for o in loop.outcomes] == [CycleResult.FAILED] * 6
    caps = [min(3600.0, 5.0 * 2**n) for n in range(6)]
    assert all(0 <= d <= cap for d, cap in zip(time.delays_s, caps, strict=True))
    device.simulator.overrides.clear()
    loop, time = run_loop(device, max_sleeps=1)
    assert time.delays_s[0] >= 72_000 * (1 - UPDATE_CHECK_JITTER)


def test_check_requested_in_a_status_answer_checks_at_once(
    device: UpdateDevice,
) -> None:
    device.reporter.answers = [True, False]

    loop, time = run_loop(device, max_sleeps=1)

    # The requested check ran before the loop slept at all.
    assert [o.check_requested for o in loop.outcomes] == [True, False]
    assert len(time.delays_s) == 1


def test_a_check_waits_for_the_update_lock(device: UpdateDevice) -> None:
    async def locked_check() -> None:
        loop = UpdateLoop(
            cycle=device.cycle(),
            state_dir=device.state_dir,
            interval_s=60.0,
            backoff_base_s=5.0,
            backoff_max_s=60.0,
        )
        with update_lock(device.state_dir):
            assert await loop.check_once() is None
            assert loop.consecutive_failures == 1

    asyncio.run(locked_check())
    with (
        update_lock(device.state_dir),
        pytest.raises(UpdateLockedError),
        update_lock(device.state_dir),
    ):
        pass
