"""The dir install backend: trial boot and commit, rollback, anti-rollback, atomic
app sets, corrupt state files (docs/updates.md §6)."""

import json
from pathlib import Path

import pytest

from sevenfold.agent.errors import (
    AntiRollbackError,
    InstallRefusedError,
    InstallStateCorruptError,
    PackageMismatchError,
    SlotCorruptError,
    TrialPendingError,
)
from sevenfold.agent.install import CHECKPOINTS, BootOutcome, DirInstallBackend
from sevenfold.protocol.updates import TargetDescription
from tests.support.install_images import (
    PowerCut,
    PowerLoss,
    app_image,
    assert_install_consistent,
    os_image,
)

Image = tuple[Path, TargetDescription]


@pytest.fixture
def images(tmp_path: Path) -> Path:
    return tmp_path / "images"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "device"


@pytest.fixture
def old_os(images: Path) -> Image:
    return os_image(images, "1.0", 5)


@pytest.fixture
def new_os(images: Path) -> Image:
    return os_image(images, "1.1", 6)


@pytest.fixture
def backend(root: Path, old_os: Image) -> DirInstallBackend:
    DirInstallBackend.initialize(root, *old_os)
    device = DirInstallBackend(root)
    device.boot()
    return device


def reboot(root: Path) -> tuple[DirInstallBackend, BootOutcome]:
    device = DirInstallBackend(root)
    outcome = device.boot()
    assert_install_consistent(root, device, outcome)
    return device, outcome


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_stage_boot_trial_commit_makes_the_new_os_committed(
    root: Path, backend: DirInstallBackend, old_os: Image, new_os: Image
) -> None:
    backend.stage_os(*new_os)
    assert backend.current_os() == old_os[1]  # still running until the reboot

    device = DirInstallBackend(root)
    outcome = device.boot()
    assert_install_consistent(root, device, outcome)
    assert (outcome.slot, outcome.trial, outcome.bootcount) == ("b", new_os[1], 1)
    assert device.pending_trial() == new_os[1]
    assert device.committed_os() == old_os[1]

    device.commit_os()
    assert device.pending_trial() is None
    assert device.committed_os() == new_os[1]
    assert device.committed_security_version() == 6
    device, outcome = reboot(root)
    assert device.current_os() == new_os[1]
    assert outcome.trial is None


def test_trial_never_committed_rolls_back_after_bootlimit_boots(
    root: Path, backend: DirInstallBackend, old_os: Image, new_os: Image
) -> None:
    backend.stage_os(*new_os)
    for bootcount in (1, 2, 3):
        outcome = DirInstallBackend(root).boot()
        assert (outcome.slot, outcome.trial, outcome.bootcount) == (
            "b",
            new_os[1],
            bootcount,
        )

    device, outcome = reboot(root)
    assert outcome.slot == "a"
    assert outcome.rolled_back_from == new_os[1]
    assert outcome.trial is None
    assert device.current_os() == device.committed_os() == old_os[1]
    assert device.committed_security_version() == 5


def test_bootlimit_is_the_backends(root: Path, old_os: Image, new_os: Image) -> None:
    DirInstallBackend.initialize(root, *old_os)
    device = DirInstallBackend(root, bootlimit=1)
    device.boot()
    device.stage_os(*new_os)
    assert DirInstallBackend(root).boot().trial == new_os[1]
    assert DirInstallBackend(root).boot().rolled_back_from == new_os[1]


def test_downgrade_to_a_lower_security_version_is_refused(
    root: Path, backend: DirInstallBackend, images: Path
) -> None:
    before = snapshot(root)
    with pytest.raises(AntiRollbackError, match="below the floor"):
        backend.stage_os(*os_image(images, "2.0", 4))
    assert snapshot(root) == before


def test_replaying_a_version_not_above_the_committed_one_is_refused(
    root: Path, backend: DirInstallBackend, images: Path
) -> None:
    before = snapshot(root)
    for version in ("1.0", "0.9"):
        with pytest.raises(AntiRollbackError, match="not above"):
            backend.stage_os(*os_image(images, version, 5))
    assert snapshot(root) == before


def test_floor_rises_with_each_commit_and_refuses_the_old_security_version(
    root: Path, backend: DirInstallBackend, images: Path, new_os: Image
) -> None:
    backend.stage_os(*new_os)
    device, _ = reboot(root)
    device.commit_os()
    with pytest.raises(AntiRollbackError):
        device.stage_os(*os_image(images, "1.2", 5))


def test_tampered_os_package_is_refused_before_anything_changes(
    root: Path, backend: DirInstallBackend, new_os: Image
) -> None:
    package, target = new_os
    data = bytearray(package.read_bytes())
    data[1000] ^= 0xFF
    package.write_bytes(bytes(data))
    before = snapshot(root)
    with pytest.raises(PackageMismatchError):
        backend.stage_os(package, target)
    package.write_bytes(package.read_bytes() + b"x")
    with pytest.raises(PackageMismatchError):
        backend.stage_os(package, target)
    assert snapshot(root) == before


def test_staging_over_a_running_trial_is_refused(
    root: Path, backend: DirInstallBackend, images: Path, new_os: Image
) -> None:
    backend.stage_os(*new_os)
    device, _ = reboot(root)
    with pytest.raises(TrialPendingError):
        device.stage_os(*os_image(images, "1.2", 6))


def test_staging_again_before_the_reboot_replaces_the_staged_image(
    root: Path, backend: DirInstallBackend, images: Path, new_os: Image
) -> None:
    backend.stage_os(*new_os)
    newer = os_image(images, "1.2", 7)
    backend.stage_os(*newer)
    _device, outcome = reboot(root)
    assert outcome.trial == newer[1]


def test_commit_without_a_trial_is_refused(backend: DirInstallBackend) -> None:
    with pytest.raises(InstallRefusedError, match="no trial"):
        backend.commit_os()


def test_operations_before_boot_are_refused(root: Path, old_os: Image) -> None:
    device = DirInstallBackend.initialize(root, *old_os)
    with pytest.raises(InstallRefusedError, match="boot"):
        device.current_os()
    with pytest.raises(InstallRefusedError, match="boot"):
        device.stage_os(*old_os)


def test_initialize_refuses_an_initialised_root(
    root: Path, backend: DirInstallBackend, old_os: Image
) -> None:
    before = snapshot(root)
    with pytest.raises(InstallRefusedError, match="already initialised"):
        DirInstallBackend.initialize(root, *old_os)
    assert snapshot(root) == before


def test_an_app_image_is_not_an_os(backend: DirInstallBackend, images: Path) -> None:
    with pytest.raises(InstallRefusedError):
        backend.stage_os(*app_image(images, "web", "2.0", 1))
    with pytest.raises(InstallRefusedError):
        backend.install_apps([os_image(images, "2.0", 9)])


def test_app_set_switches_whole(
    root: Path, backend: DirInstallBackend, images: Path
) -> None:
    first = [app_image(images, "web", "1.0", 1), app_image(images, "db", "1.0", 1)]
    backend.install_apps(first)
    assert backend.current_apps() == tuple(target for _, target in first)
    second = [app_image(images, "web", "1.1", 2)]
    backend.install_apps(second)
    assert backend.current_apps() == (second[0][1],)
    device, _ = reboot(root)
    assert device.current_apps() == (second[0][1],)
    assert [path.read_bytes() for path in device.app_image_paths()] == [
        second[0][0].read_bytes()
    ]


def test_app_set_with_one_tampered_package_leaves_the_old_set(
    root: Path, backend: DirInstallBackend, images: Path
) -> None:
    first = [app_image(images, "web", "1.0", 1)]
    backend.install_apps(first)
    web, db = app_image(images, "web", "1.1", 1), app_image(images, "db", "1.0", 1)
    db[0].write_bytes(b"not the db image")
    before = snapshot(root)
    with pytest.raises(PackageMismatchError):
        backend.install_apps([web, db])
    assert snapshot(root) == before
    assert backend.current_apps() == (first[0][1],)


def test_power_loss_during_an_app_switch_leaves_one_whole_set(
    root: Path, old_os: Image, images: Path
) -> None:
    DirInstallBackend.initialize(root, *old_os)
    first = [app_image(images, "web", "1.0", 1)]
    second = [app_image(images, "web", "1.1", 1), app_image(images, "db", "1.0", 1)]
    for step in [step for step in CHECKPOINTS if step.startswith("apps.")]:
        device = DirInstallBackend(root)
        device.boot()
        device.install_apps(first)
        cut = DirInstallBackend(root, checkpoint=PowerCut(at_step=step))
        cut.boot()
        with pytest.raises(PowerLoss):
            cut.install_apps(second)
        device, _ = reboot(root)
        expected = [first, second][
            step in {"apps.switched", "apps.recorded", "apps.done"}
        ]
        assert device.current_apps() == tuple(target for _, target in expected)


def test_app_rollback_per_component_is_refused(
    root: Path, backend: DirInstallBackend, images: Path
) -> None:
    backend.install_apps([app_image(images, "web", "2.0", 3)])
    backend.install_apps([app_image(images, "db", "1.0", 1)])  # web removed
    before = snapshot(root)
    with pytest.raises(AntiRollbackError, match="web"):
        backend.install_apps([app_image(images, "web", "1.0", 2)])
    assert snapshot(root) == before
    backend.install_apps([app_image(images, "web", "2.1", 3)])  # equal floor is fine


def test_two_images_of_one_component_are_refused(
    backend: DirInstallBackend, images: Path
) -> None:
    with pytest.raises(InstallRefusedError, match="one image per component"):
        backend.install_apps(
            [app_image(images, "web", "1.0", 1), app_image(images, "web", "1.1", 1)]
        )


def test_corrupt_trial_package_is_never_booted(
    root: Path, backend: DirInstallBackend, old_os: Image, new_os: Image
) -> None:
    backend.stage_os(*new_os)
    staged = root / "slots" / "b" / "os.pkg"
    data = bytearray(staged.read_bytes())
    data[-1] ^= 0x01
    staged.write_bytes(bytes(data))
    device, outcome = reboot(root)
    assert outcome.slot == "a"
    assert outcome.rolled_back_from == new_os[1]
    assert device.current_os() == old_os[1]


def test_corrupt_committed_slot_is_a_typed_error(
    root: Path, backend: DirInstallBackend
) -> None:
    (root / "slots" / "a" / "os.pkg").write_bytes(b"rotten")
    with pytest.raises(SlotCorruptError):
        DirInstallBackend(root).boot()


@pytest.mark.parametrize(
    "content", [b"{not json", b'{"format": 2}', b"[]", b"x" * 300_000]
)
def test_corrupt_bootloader_file_boots_the_committed_slot(
    root: Path, backend: DirInstallBackend, old_os: Image, new_os: Image, content: bytes
) -> None:
    backend.stage_os(*new_os)
    (root / "bootloader.json").write_bytes(content)
    device, outcome = reboot(root)
    assert (outcome.slot, outcome.trial) == ("a", None)
    assert device.current_os() == old_os[1]
    assert json.loads((root / "bootloader.json").read_text())["boot_slot"] == "a"


def test_corrupt_update_file_is_no_transaction(
    root: Path, backend: DirInstallBackend, old_os: Image, new_os: Image
) -> None:
    cut = DirInstallBackend(root, checkpoint=PowerCut(at_step="os.copying"))
    cut.boot()
    with pytest.raises(PowerLoss):
        cut.stage_os(*new_os)
    (root / "update.json").write_text('{"format": 1, "operation": "reformat-disk"}')
    device, outcome = reboot(root)
    assert outcome.slot == "a"
    assert list((root / "slots" / "b").iterdir()) == []  # half-copied slot discarded
    device.stage_os(*new_os)  # and the retry works


def test_corrupt_committed_file_falls_back_to_its_backup(
    root: Path, backend: DirInstallBackend, new_os: Image
) -> None:
    backend.stage_os(*new_os)
    device, _ = reboot(root)
    device.commit_os()
    (root / "committed.json").write_text("{}")
    device, _outcome = reboot(root)
    assert device.committed_security_version() == 6
    assert device.committed_os() == new_os[1]
    assert json.loads((root / "committed.json").read_text())["security_floor"] == 6


def test_both_committed_copies_corrupt_is_a_typed_error(
    root: Path, backend: DirInstallBackend
) -> None:
    (root / "committed.json").write_text('{"format": 1}')
    (root / "committed.backup.json").write_text("")
    with pytest.raises(InstallStateCorruptError):
        DirInstallBackend(root).boot()


def test_security_floor_edited_below_the_committed_os_is_corrupt(
    root: Path, backend: DirInstallBackend
) -> None:
    record = json.loads((root / "committed.json").read_text())
    record["security_floor"] = 0
    for name in ("committed.json", "committed.backup.json"):
        (root / name).write_text(json.dumps(record))
    with pytest.raises(InstallStateCorruptError):
        DirInstallBackend(root).boot()


def test_damaged_bootloader_env_cannot_commit_a_rolled_back_image(
    root: Path, backend: DirInstallBackend, old_os: Image, new_os: Image
) -> None:
    backend.stage_os(*new_os)
    for _ in range(4):  # three trial boots, then the rollback
        DirInstallBackend(root).boot()
    (root / "bootloader.json").write_text(
        json.dumps(
            {
                "format": 1,
                "boot_slot": "b",
                "upgrade_available": 0,
                "bootcount": 0,
                "bootlimit": 3,
            }
        )
    )
    device, outcome = reboot(root)
    assert outcome.slot == "a"
    assert device.committed_os() == old_os[1]
