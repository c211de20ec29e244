"""Power cuts at every install step, with the real agent process and the real service.

For each checkpoint an OS install or an app install passes through (staging the OS,
the trial boot's counter, committing the trial, installing the app set), and for
the recovery steps a second cut can land in, a fresh device (factory OS 26.10 in
slot a via ``agent init --os-image``) runs ``agent run --exit-on-reboot
--fault-kill-at <step>`` against the service over mTLS until the step SIGKILLs it,
then runs without a fault (each exit on reboot is the device's reboot) until it
settles. After every cut, a copy of the device boots and must come up on a slot
whose package verifies.

Every case must end committed on 26.11 with the deployment's app set: one cut
costs at most one extra trial boot (bootlimit 3), so the bootloader never rolls
back, and docs/updates.md §6 keeps a 26.10 device on 26.10 only after a rollback.
A power cut is not an update failure: no ``update-failure`` event may appear.

The cases share one service; their devices run in parallel in a module fixture
(starting dozens of agent processes one after another would take minutes) and each
case asserts on its own device.
"""

import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from sevenfold.agent.errors import AgentError
from sevenfold.agent.install import CHECKPOINTS, DirInstallBackend
from sevenfold.agent.install.packages import package_matches
from tests.agent.agent_process import AgentRun, agent_run_command, run_agent_once
from tests.agent.live_update_service import (
    FACTORY_OS_VERSION,
    RELEASED_OS_VERSION,
    EnrolledDevice,
    LiveUpdateService,
    live_update_service,
)

MAX_RUNS_UNTIL_THE_CUT = 3  # a trial-boot step is reached in the second run
MAX_RUNS_AFTER_THE_CUTS = 4
PARALLEL_DEVICES = 6

SINGLE_CUTS = tuple(
    (step,)
    for step in CHECKPOINTS
    if step.startswith(("os.", "apps.", "commit.")) or step == "boot.count-incremented"
)
# A second cut inside the recovery the first one causes.
DOUBLE_CUTS = (
    ("os.copied", "recover.os-discarded"),
    ("os.slot-recorded", "recover.cleared"),
    ("apps.copied", "recover.apps-reverted"),
    ("apps.switched", "recover.apps-completed"),
    ("commit.bootloader-cleared", "recover.commit-completed"),
)
SCENARIOS = SINGLE_CUTS + DOUBLE_CUTS


@dataclass
class Scenario:
    """One device's history: the runs, and what a copy booted after each cut."""

    cuts: tuple[str, ...]
    device: EnrolledDevice
    runs: list[AgentRun] = field(default_factory=list)
    booted_after_cuts: list[tuple[str, bool]] = field(default_factory=list)
    error: str | None = None


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[LiveUpdateService]:
    """The service every case's device updates from."""
    with live_update_service(
        tmp_path_factory.mktemp("service"), sqlite_template
    ) as live:
        yield live


@pytest.fixture(scope="module")
def scenarios(
    service: LiveUpdateService, tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, ...], Scenario]:
    """Every scenario, driven to its end (devices in parallel)."""
    prepared: dict[tuple[str, ...], Scenario] = {
        cuts: Scenario(cuts, service.enroll(tmp_path_factory.mktemp("device")))
        for cuts in SCENARIOS
    }
    with ThreadPoolExecutor(max_workers=PARALLEL_DEVICES) as pool:
        driving = [
            pool.submit(_drive_safely, service, scenario)
            for scenario in prepared.values()
        ]
        for driven in driving:
            driven.result()  # anything unforeseen fails every case, loudly
    return prepared


def _drive_safely(service: LiveUpdateService, scenario: Scenario) -> None:
    try:
        with service.operator_session() as operator:
            _drive(service, scenario, operator)
    except (AgentError, AssertionError, OSError, httpx.HTTPError) as err:
        # The scenario's own case reports it.
        scenario.error = f"{type(err).__name__}: {err}"


def _drive(
    service: LiveUpdateService, scenario: Scenario, operator: httpx.Client
) -> None:
    device = scenario.device
    log_file = device.state_dir.parent / "agent.log"

    def steady() -> bool:
        """Committed on 26.11 on disk (cheap to read) and reported idle on it."""
        if device.backend().committed_os().version != RELEASED_OS_VERSION:
            return False
        status = service.update_status_with(operator, device.device_id)
        return bool(status["state"] == "idle")

    def run(fault_kill_at: str | None) -> AgentRun:
        command = agent_run_command(
            device, service.url, service.tls.ca_file, fault_kill_at=fault_kill_at
        )
        outcome = run_agent_once(command, log_file, steady, fault_kill_at)
        scenario.runs.append(outcome)
        return outcome

    for cut in scenario.cuts:
        for _ in range(MAX_RUNS_UNTIL_THE_CUT):
            if run(cut).killed:
                scenario.booted_after_cuts.append(_boot_a_copy(device))
                break
            if scenario.runs[-1].stopped_in_steady_state:
                return  # settled without reaching the step: the case fails
    for _ in range(MAX_RUNS_AFTER_THE_CUTS):
        if run(None).stopped_in_steady_state:
            return


def _boot_a_copy(device: EnrolledDevice) -> tuple[str, bool]:
    """Boot a copy of the device as it was left: the OS version it comes up on and
    whether that slot's package verifies."""
    copy = device.install_root.parent / "power-cut-copy"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(device.install_root, copy, symlinks=True)
    backend = DirInstallBackend(copy)
    backend.boot()
    running = backend.current_os()
    verified = package_matches(backend.os_image_path(), running.sha256, running.length)
    shutil.rmtree(copy)
    return running.version, verified


@pytest.mark.parametrize("cuts", SCENARIOS, ids=["+".join(c) for c in SCENARIOS])
def test_power_cut_at_an_install_step_ends_committed_on_the_release_with_the_deployment(
    service: LiveUpdateService,
    scenarios: dict[tuple[str, ...], Scenario],
    cuts: tuple[str, ...],
) -> None:
    scenario = scenarios[cuts]
    history = "\n".join(
        f"{run.fault_kill_at} -> {run.returncode} in {run.elapsed_s:.1f} s"
        for run in scenario.runs
    )
    assert scenario.error is None, scenario.error
    killed = [run.fault_kill_at for run in scenario.runs if run.killed]
    assert killed == list(cuts), history
    last = scenario.runs[-1]
    assert last.stopped_in_steady_state, f"{history}\n{last.output[-3000:]}"
    # Every other run ended by itself: exit on reboot, status 0.
    assert all(run.returncode == 0 for run in scenario.runs if not run.killed), (
        f"{history}\n{last.output[-3000:]}"
    )
    # After each cut the device boots a slot that verifies (either OS).
    assert len(scenario.booted_after_cuts) == len(cuts)
    for version, verified in scenario.booted_after_cuts:
        assert verified
        assert version in (FACTORY_OS_VERSION, RELEASED_OS_VERSION)

    backend = DirInstallBackend(scenario.device.install_root)
    boot = backend.boot()
    assert (boot.trial, boot.rolled_back_from) == (None, None)
    running = backend.current_os()
    assert package_matches(backend.os_image_path(), running.sha256, running.length)
    assert running.version == backend.committed_os().version == RELEASED_OS_VERSION
    assert running.sha256 == service.release.sha256
    apps = {app.sha256 for app in backend.current_apps()}
    assert apps == {image.sha256 for image in service.apps}

    status = service.update_status(scenario.device.device_id)
    assert status["state"] == "idle"
    assert status["os_version"] == RELEASED_OS_VERSION
    assert {image["sha256"] for image in status["installed"]} == apps | {running.sha256}
    assert "update-failure" not in service.device_event_kinds(scenario.device.device_id)
