"""A device under update test: a real ``DirInstallBackend`` in a temporary directory,
the real ``UpdateClient`` and ``UpdateCycle``, fed by the in-memory Uptane
simulator, with a status reporter that records what the device said."""

import asyncio
import hashlib
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sevenfold.agent.errors import ServiceUnreachableError
from sevenfold.agent.install.backend import BootOutcome, DirInstallBackend
from sevenfold.agent.update_client import UpdateClient
from sevenfold.agent.update_cycle import CycleOutcome, UpdateCycle
from sevenfold.protocol.updates import (
    ImageType,
    TargetDescription,
    UpdateState,
    UpdateStatusReport,
)
from tests.support.images import build_package, make_signing_key, package_manifest
from tests.support.uptane_simulator import SERVER_URL, UptaneSimulator

DEVICE_ID = "d" * 64
OTHER_DEVICE_ID = "e" * 64


@dataclass
class RecordingReporter:
    """Keeps every report; answers ``check_requested`` from a queue (else False)."""

    reports: list[UpdateStatusReport] = field(default_factory=list)
    answers: list[bool] = field(default_factory=list)
    offline: bool = False

    async def report(self, report: UpdateStatusReport) -> bool:
        """Record ``report``; raise as an unreachable service would when offline."""
        if self.offline:
            raise ServiceUnreachableError("the service cannot be reached")
        self.reports.append(report)
        return self.answers.pop(0) if self.answers else False

    @property
    def states(self) -> list[UpdateState]:
        """The reported states, in order."""
        return [report.state for report in self.reports]


def make_image(
    key: Ed25519PrivateKey,
    *,
    kind: ImageType,
    version: str,
    security_version: int = 1,
    component_id: str | None = None,
) -> tuple[bytes, TargetDescription]:
    """A signed image package and its ``TargetDescription``."""
    package = build_package(
        key,
        payload=f"{kind.value} {version} {uuid.uuid4()}\n".encode(),
        kind=kind,
        version=version,
        security_version=security_version,
        component_id=component_id,
    )
    manifest = package_manifest(package)
    return package, TargetDescription(
        kind=kind,
        component_id=manifest.component_id,
        image_id=manifest.image_id,
        name=manifest.name,
        version=version,
        security_version=security_version,
        sha256=hashlib.sha256(package).hexdigest(),
        length=len(package),
    )


@dataclass
class UpdateDevice:
    """One simulated device and its update server."""

    tmp_path: Path
    simulator: UptaneSimulator
    backend: DirInstallBackend
    reporter: RecordingReporter
    factory_os: TargetDescription
    key: Ed25519PrivateKey
    bootlimit: int
    boots: list[BootOutcome] = field(default_factory=list)

    @property
    def state_dir(self) -> Path:
        """The agent's state directory."""
        return self.tmp_path / "state"

    @property
    def install_root(self) -> Path:
        """The dir backend's root."""
        return self.tmp_path / "install"

    def client(self) -> UpdateClient:
        """The real update client over the simulator."""
        return UpdateClient(
            state_dir=self.state_dir,
            server_url=SERVER_URL,
            device_id=DEVICE_ID,
            fetcher_factory=lambda: self.simulator,
        )

    def cycle(self) -> UpdateCycle:
        """The real update cycle over the current backend."""
        return UpdateCycle(
            source=self.client(), backend=self.backend, reporter=self.reporter
        )

    def check(self) -> CycleOutcome:
        """Run one update check."""
        return asyncio.run(self.cycle().check())

    def reboot(self) -> BootOutcome:
        """Restart the device: a new backend over the same root, booted."""
        self.backend = DirInstallBackend(self.install_root, bootlimit=self.bootlimit)
        outcome = self.backend.boot()
        self.boots.append(outcome)
        return outcome

    def release(
        self,
        kind: ImageType,
        version: str,
        security_version: int = 1,
        component_id: str | None = None,
    ) -> TargetDescription:
        """Build an image and release it in the image repository."""
        package, target = make_image(
            self.key,
            kind=kind,
            version=version,
            security_version=security_version,
            component_id=component_id,
        )
        self.simulator.release(package, target)
        return target

    def assert_untouched(self, running: TargetDescription | None = None) -> None:
        """The device still runs ``running`` (by default its factory OS) in the
        slot it booted, with no apps and nothing staged, also after a reboot."""
        expected = running or self.factory_os
        slot = self.boots[-1].slot
        assert self.backend.current_os() == expected
        assert self.backend.current_apps() == ()
        assert self.backend.pending_trial() is None
        boot = self.reboot()
        assert (boot.slot, boot.trial, boot.rolled_back_from) == (slot, None, None)
        assert self.backend.current_os() == expected

    def assert_refused(self, outcome: CycleOutcome, reason: str, because: str) -> None:
        """``outcome`` is a failed check, reported as failed with ``reason`` and a
        detail naming ``because``."""
        assert outcome.failed
        assert outcome.reason == reason
        last = self.reporter.reports[-1]
        assert last.state is UpdateState.FAILED
        assert last.detail is not None
        assert because in last.detail, last.detail


def make_device(tmp_path: Path, *, bootlimit: int = 3) -> UpdateDevice:
    """A device initialised with factory OS 26.10 (security version 1), released in
    the image repository, directed to run it."""
    key = make_signing_key()
    package, factory = make_image(key, kind=ImageType.OS, version="26.10")
    simulator = UptaneSimulator(device_id=DEVICE_ID)
    simulator.release(package, factory)
    simulator.set_director_targets((factory,))
    package_file = tmp_path / "factory.pkg"
    package_file.write_bytes(package)
    DirInstallBackend.initialize(tmp_path / "install", package_file, factory)
    backend = DirInstallBackend(tmp_path / "install", bootlimit=bootlimit)
    device = UpdateDevice(
        tmp_path=tmp_path,
        simulator=simulator,
        backend=backend,
        reporter=RecordingReporter(),
        factory_os=factory,
        key=key,
        bootlimit=bootlimit,
    )
    device.boots.append(backend.boot())
    return device
