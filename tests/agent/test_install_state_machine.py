"""Random sequences of stage, boot, commit, app installs, power cuts at random
steps and corrupted staged packages never leave the device unbootable
(docs/updates.md §6)."""

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from sevenfold.agent.errors import (
    AntiRollbackError,
    InstallError,
    InstallRefusedError,
    SlotCorruptError,
    TrialPendingError,
)
from sevenfold.agent.install import BootOutcome, DirInstallBackend
from sevenfold.protocol.updates import TargetDescription, parse_version
from tests.support.install_images import (
    PowerCut,
    PowerLoss,
    app_image,
    file_sha256,
    os_image,
)

BOOTLIMIT = 2
OS_IMAGE_BYTES = 70_000
COMPONENTS = ("web", "db", "ui")
AppSet = tuple[TargetDescription, ...]


class InstallMachine(RuleBasedStateMachine):
    """The model: the committed OS, the floors, and which app sets may be current."""

    def __init__(self) -> None:
        super().__init__()
        self.workdir = Path(tempfile.mkdtemp(prefix="sevenfold-install-"))
        self.images = self.workdir / "images"
        self.root = self.workdir / "device"
        base_package, self.committed = os_image(self.images, "1.0", 1, OS_IMAGE_BYTES)
        DirInstallBackend.initialize(self.root, base_package, self.committed)
        self.security_floor = 1
        self.app_floors: dict[str, int] = {}
        self.app_sets: set[AppSet] = {()}
        self.device = self.fresh_boot()

    def teardown(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- helpers ----------------------------------------------------------------

    def fresh_boot(self) -> DirInstallBackend:
        device = DirInstallBackend(self.root, bootlimit=BOOTLIMIT)
        self.check_booted(device, device.boot())
        return device

    def check_booted(self, device: DirInstallBackend, outcome: BootOutcome) -> None:
        """Never boots an unverified package: the booted slot matches its record."""
        record = json.loads(
            (self.root / "slots" / outcome.slot / "slot.json").read_text()
        )
        assert file_sha256(device.os_image_path()) == record["package_sha256"]
        assert device.current_os().sha256 == record["package_sha256"]
        if outcome.trial is not None:
            assert outcome.trial == device.current_os()
            assert outcome.bootcount <= BOOTLIMIT

    def os_candidate(
        self, minor: int, security_version: int
    ) -> tuple[Path, TargetDescription]:
        return os_image(self.images, f"1.{minor}", security_version, OS_IMAGE_BYTES)

    def app_candidates(
        self, choices: list[tuple[str, int]]
    ) -> list[tuple[Path, TargetDescription]]:
        return [
            app_image(self.images, component, f"{security_version}.0", security_version)
            for component, security_version in choices
        ]

    def expected_os_refusal(
        self, target: TargetDescription
    ) -> type[InstallError] | None:
        if target.security_version < self.security_floor:
            return AntiRollbackError
        if parse_version(target.version) <= parse_version(self.committed.version):
            return AntiRollbackError
        if self.device.pending_trial() is not None:
            return TrialPendingError
        return None

    def observe_commit(self, device: DirInstallBackend) -> None:
        """Take the committed OS after a step that may have committed a trial."""
        committed = device.committed_os()
        if committed != self.committed:
            assert parse_version(committed.version) > parse_version(
                self.committed.version
            )
            assert committed.security_version >= self.security_floor
            self.committed = committed
            self.security_floor = committed.security_version

    # -- rules ----------------------------------------------------------------------

    @rule(minor=st.integers(0, 6), security_version=st.integers(0, 5))
    def stage_os(self, minor: int, security_version: int) -> None:
        package, target = self.os_candidate(minor, security_version)
        expected = self.expected_os_refusal(target)
        if expected is None:
            self.device.stage_os(package, target)
            return
        with pytest.raises(expected) as refusal:
            self.device.stage_os(package, target)
        assert type(refusal.value) is expected

    @rule()
    def boot(self) -> None:
        self.device = self.fresh_boot()

    @rule()
    def commit(self) -> None:
        trial = self.device.pending_trial()
        if trial is None:
            try:
                self.device.commit_os()
            except InstallRefusedError:
                return
            raise AssertionError("committed without a trial")
        running = self.device.os_image_path()
        try:
            self.device.commit_os()
        except SlotCorruptError:
            # The trial's package was corrupted after it booted: never committed.
            assert file_sha256(running) != trial.sha256
            return
        self.observe_commit(self.device)
        assert self.committed == trial

    @rule(
        choices=st.lists(
            st.tuples(st.sampled_from(COMPONENTS), st.integers(0, 3)),
            max_size=3,
            unique_by=lambda choice: choice[0],
        )
    )
    def install_apps(self, choices: list[tuple[str, int]]) -> None:
        apps = self.app_candidates(choices)
        refused = any(
            security_version < self.app_floors.get(component, 0)
            for component, security_version in choices
        )
        try:
            self.device.install_apps(apps)
        except AntiRollbackError:
            assert refused
            return
        assert not refused
        self.adopt_app_set(tuple(target for _, target in apps))

    def adopt_app_set(self, app_set: AppSet) -> None:
        self.app_sets = {app_set}
        for app in app_set:
            self.app_floors[app.component_id] = max(
                self.app_floors.get(app.component_id, 0), app.security_version
            )

    @rule(
        operation=st.sampled_from(["stage", "commit", "apps", "boot"]),
        nth=st.integers(1, 8),
        minor=st.integers(1, 6),
        choices=st.lists(
            st.tuples(st.sampled_from(COMPONENTS), st.integers(0, 3)),
            max_size=3,
            unique_by=lambda choice: choice[0],
        ),
    )
    def power_loss(
        self, operation: str, nth: int, minor: int, choices: list[tuple[str, int]]
    ) -> None:
        if operation == "commit" and self.device.pending_trial() is None:
            self.prepare_trial()
        cut = PowerCut(nth=nth, armed=operation == "boot")
        device = DirInstallBackend(self.root, bootlimit=BOOTLIMIT, checkpoint=cut)
        apps = self.app_candidates(choices)
        new_set = tuple(target for _, target in apps)
        try:
            device.boot()
            cut.armed = True
            if operation == "stage":
                device.stage_os(*self.os_candidate(minor, self.security_floor))
            elif operation == "commit":
                device.commit_os()
            elif operation == "apps":
                device.install_apps(apps)
        except (PowerLoss, InstallError):
            pass
        del device  # the power is gone: nothing of that process survives
        self.device = self.fresh_boot()
        self.observe_commit(self.device)
        current = self.device.current_apps()
        assert current in self.app_sets | {new_set}
        if current not in self.app_sets:
            self.adopt_app_set(current)

    def prepare_trial(self) -> None:
        """Stage the next OS and boot it, so that a cut commit has a trial to cut."""
        next_minor = parse_version(self.committed.version)[1] + 1
        self.device.stage_os(*self.os_candidate(next_minor, self.security_floor))
        self.device = self.fresh_boot()

    @rule(offset=st.integers(0, OS_IMAGE_BYTES - 1))
    def corrupt_staged_file(self, offset: int) -> None:
        committed_slot = json.loads((self.root / "committed.json").read_text())["slot"]
        staged = (
            self.root / "slots" / ("b" if committed_slot == "a" else "a") / "os.pkg"
        )
        if staged.exists():
            data = bytearray(staged.read_bytes())
            data[offset % len(data)] ^= 0xFF
            staged.write_bytes(bytes(data))

    # -- invariants ------------------------------------------------------------------

    @invariant()
    def always_bootable_into_a_verified_slot(self) -> None:
        committed = json.loads((self.root / "committed.json").read_text())
        package = self.root / "slots" / committed["slot"] / "os.pkg"
        assert file_sha256(package) == committed["os"]["sha256"]
        env = json.loads((self.root / "bootloader.json").read_text())
        if env["upgrade_available"]:
            assert env["boot_slot"] != committed["slot"]
            assert env["bootcount"] <= env["bootlimit"]
        else:
            assert env["boot_slot"] == committed["slot"]
            assert env["bootcount"] == 0

    @invariant()
    def floors_are_monotonic(self) -> None:
        committed = json.loads((self.root / "committed.json").read_text())
        assert committed["security_floor"] == self.security_floor
        assert committed["os"]["version"] == self.committed.version
        for component, floor in self.app_floors.items():
            assert committed["app_floors"].get(component, 0) >= floor
        self.app_floors.update(committed["app_floors"])

    @invariant()
    def app_set_is_one_whole_set(self) -> None:
        device = DirInstallBackend(self.root)
        apps = device.current_apps()
        assert apps in self.app_sets
        for path, app in zip(device.app_image_paths(), apps, strict=True):
            assert file_sha256(path) == app.sha256


InstallMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestInstallStateMachine = InstallMachine.TestCase
