"""Power loss at every step of an install never bricks the device.

For each checkpoint of the install backend, a driver process
(``tests/support/install_driver.py``) runs the operation that reaches it and is
killed with SIGKILL there, as a power cut would stop it: no cleanup, no finally
blocks. A fresh backend then boots and must be on a verified slot running the old
or the new OS, with floors that never went down, a consistent bootloader
environment, the whole old or the whole new app set, and the operation must
succeed when retried (docs/updates.md §6).
"""

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sevenfold.agent.install import CHECKPOINTS, DirInstallBackend
from sevenfold.protocol.updates import TargetDescription
from tests.support.install_images import (
    app_image,
    assert_install_consistent,
    os_image,
    write_plan,
)

REPO = Path(__file__).resolve().parents[2]
DRIVER = REPO / "tests" / "support" / "install_driver.py"
DRIVER_TIMEOUT_S = 120
BOOTLIMIT = 3  # the driver's
OLD_SECURITY_VERSION = 5


def corrupt_trial_package(root: Path) -> None:
    package = root / "slots" / "b" / "os.pkg"
    data = bytearray(package.read_bytes())
    data[len(data) // 2] ^= 0x40
    package.write_bytes(bytes(data))


def corrupt_bootloader(root: Path) -> None:
    (root / "bootloader.json").write_text('{"format": 1, "boot_slot": "b"')


# A step is (operation, checkpoint to kill at or None) or a function of the root.
Step = tuple[str, str | None] | Callable[[Path], None]
LAST = "<the checkpoint under test>"
TRIAL_BOOTS: list[Step] = [("boot", None)] * BOOTLIMIT

SCENARIOS: dict[str, list[Step]] = {
    "stage": [("stage-os", LAST)],
    "trial-boot": [("stage-os", None), ("boot", LAST)],
    "rollback": [("stage-os", None), *TRIAL_BOOTS, ("boot", LAST)],
    "corrupt-trial": [("stage-os", None), corrupt_trial_package, ("boot", LAST)],
    "corrupt-bootloader": [("stage-os", None), corrupt_bootloader, ("boot", LAST)],
    "commit": [("stage-os", None), ("commit-os", LAST)],
    "recover-stage": [("stage-os", "os.copied"), ("boot", LAST)],
    "recover-commit": [
        ("stage-os", None),
        ("commit-os", "commit.bootloader-cleared"),
        ("boot", LAST),
    ],
    "apps": [("install-apps", LAST)],
    "recover-apps-forward": [("install-apps", "apps.switched"), ("boot", LAST)],
    "recover-apps-back": [("install-apps", "apps.copied"), ("boot", LAST)],
}
APP_SCENARIOS = {"apps", "recover-apps-forward", "recover-apps-back"}


def scenario_for(checkpoint: str) -> str:
    """Which scenario reaches a checkpoint; a new checkpoint must be added here."""
    family = checkpoint.split(".", maxsplit=1)[0]
    named = {
        "boot.repaired": "corrupt-bootloader",
        "boot.count-incremented": "trial-boot",
        "boot.rejected-recorded": "rollback",
        "boot.rollback": "rollback",
        "boot.fallback": "corrupt-trial",
        "recover.commit-completed": "recover-commit",
        "recover.os-discarded": "recover-stage",
        "recover.cleared": "recover-stage",
        "recover.apps-completed": "recover-apps-forward",
        "recover.apps-reverted": "recover-apps-back",
    }
    by_family = {"os": "stage", "commit": "commit", "apps": "apps"}
    return named.get(checkpoint) or by_family[family]


def run_driver(root: Path, plan: Path, operation: str, kill_at: str | None) -> int:
    result = subprocess.run(
        [sys.executable, str(DRIVER), str(root), str(plan), operation, kill_at or "-"],
        env={**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + str(REPO)},
        capture_output=True,
        text=True,
        timeout=DRIVER_TIMEOUT_S,
        check=False,
    )
    assert result.returncode in (0, -signal.SIGKILL), result.stderr
    return result.returncode


def booted(root: Path) -> DirInstallBackend:
    device = DirInstallBackend(root, bootlimit=BOOTLIMIT)
    assert_install_consistent(root, device, device.boot())
    return device


def targets(
    images: list[tuple[Path, TargetDescription]],
) -> tuple[TargetDescription, ...]:
    return tuple(target for _, target in images)


@pytest.mark.parametrize("checkpoint", CHECKPOINTS)
def test_power_loss_at_checkpoint_never_bricks_the_device(
    tmp_path: Path, checkpoint: str
) -> None:
    images, root, plan = (
        tmp_path / "images",
        tmp_path / "device",
        tmp_path / "plan.json",
    )
    old_os = os_image(images, "1.0", OLD_SECURITY_VERSION)
    new_os = os_image(images, "1.1", OLD_SECURITY_VERSION + 1)
    old_apps = [app_image(images, "web", "1.0", 1)]
    new_apps = [app_image(images, "web", "1.1", 2), app_image(images, "db", "1.0", 1)]
    write_plan(plan, new_os, new_apps)
    DirInstallBackend.initialize(root, *old_os)
    setup = booted(root)
    setup.install_apps(old_apps)

    scenario = scenario_for(checkpoint)
    floor_before = OLD_SECURITY_VERSION
    for step in SCENARIOS[scenario]:
        if callable(step):
            step(root)
            continue
        operation, kill_at = step
        floor_before = DirInstallBackend(root).committed_security_version()
        killed = run_driver(
            root, plan, operation, checkpoint if kill_at == LAST else kill_at
        )
        assert killed == (-signal.SIGKILL if kill_at else 0), (operation, kill_at)

    device = booted(root)
    assert device.current_os() in (old_os[1], new_os[1])
    assert device.committed_os() in (old_os[1], new_os[1])
    if device.current_os() == new_os[1]:
        assert new_os[1] in (device.committed_os(), device.pending_trial())
    floor = device.committed_security_version()
    assert floor >= floor_before
    assert floor == device.committed_os().security_version
    assert device.current_apps() in (targets(old_apps), targets(new_apps))

    if scenario in APP_SCENARIOS:
        device.install_apps(new_apps)
        assert booted(root).current_apps() == targets(new_apps)
        return
    if device.committed_os() != new_os[1]:
        if device.pending_trial() != new_os[1]:
            device.stage_os(*new_os)
            device = booted(root)
            assert device.pending_trial() == new_os[1]
        device.commit_os()
    device = booted(root)
    assert device.current_os() == device.committed_os() == new_os[1]
    assert device.committed_security_version() == OLD_SECURITY_VERSION + 1
    assert device.current_apps() == targets(old_apps)
