"""Simulated devices update their OS with the agent's real updater.

Each device gets a ``dir`` install backend (A/B slots, an emulated bootloader) in
``<state_dir>/install``, initialised with a factory OS package, and measures what it
boots: the booted slot's package (``DirInstallBackend.os_image_path``) and its agent.
A check is the daemon's own path (``agent.daemon.Agent`` with an ``UpdateLoop``
built by ``agent.update_setup``): attest, handle the boot, one update check over
mTLS with the device certificate. When the check stages an OS, the device reboots:
the backend boots again (the emulated bootloader picks the trial slot), DICE derives
the Alias key for the new measurements, and the daemon runs again, so the trial is
health-checked by re-attesting and committed by ``UpdateCycle.after_boot``.
Devices run concurrently, at most ``concurrency`` at a time.

Each device records its failures in the agent's durable queue and uploads them
(``agent.update_setup.failure_reporting``) after every boot and check, as the
daemon's uploader would. ``security_module_fault`` injects a hardware fault: on the
devices and OS versions it names, the key store cannot make evidence, so the new
slot fails its health check and the bootloader rolls back after ``bootlimit`` boots.
"""

import asyncio
import random
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from sevenfold.agent.attestation_client import AttestationClient, IssuedCertificate
from sevenfold.agent.config import DEFAULT_BOOTLIMIT, AgentConfig
from sevenfold.agent.daemon import Agent, Attester
from sevenfold.agent.errors import KeyStoreFailedError
from sevenfold.agent.install.backend import BootOutcome, DirInstallBackend
from sevenfold.agent.measurements import FixedMeasurementSource, sha256_of_file
from sevenfold.agent.trusted.keystore import KeyStore
from sevenfold.agent.update_cycle import CycleOutcome, CycleResult
from sevenfold.agent.update_loop import UpdateLoop
from sevenfold.agent.update_setup import (
    FailureReporting,
    build_update_cycle,
    device_tls,
    failure_reporting,
)
from sevenfold.agent.waiting import Sleep
from sevenfold.protocol.attestation import Evidence, Measurements
from sevenfold.protocol.clock import Clock
from sevenfold.protocol.tpm_evidence import TpmEvidence
from sevenfold.protocol.updates import TargetDescription
from sevenfold.sim.device import SimDevice

INSTALL_DIR = "install"
DEFAULT_CONCURRENCY = 16
# A trial that keeps failing its health check is rolled back by the bootloader once
# ``bootlimit`` boots have failed; the boot after that (the rollback) is handled in
# the same check, so its report and failure records go out.
MAX_REBOOTS_PER_CHECK = DEFAULT_BOOTLIMIT + 1
_BACKOFF_BASE_S = 1.0
_BACKOFF_MAX_S = 5.0
_FAILED = (CycleResult.FAILED, CycleResult.TRIAL_UNHEALTHY, CycleResult.ROLLED_BACK)

SecurityModuleFault = Callable[[str, str], bool]
"""``(device_id, booted OS version) -> True`` when the key store fails there."""


@dataclass(slots=True)
class UpdatingDevice:
    """A device with an install backend, what it booted, and every OS it ran."""

    device: SimDevice
    install_root: Path
    backend: DirInstallBackend
    boot: BootOutcome | None  # not yet handled by the agent; None once it was
    versions_run: list[str] = field(default_factory=list)
    outcomes: list[CycleOutcome] = field(default_factory=list)

    @property
    def os_version(self) -> str:
        """The OS the device runs now."""
        return self.backend.current_os().version

    @property
    def failed(self) -> bool:
        """Whether any check or boot failed, was unhealthy or rolled back."""
        return any(outcome.result in _FAILED for outcome in self.outcomes)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One device's check: the results in order and the OS it runs afterwards."""

    device: UpdatingDevice
    results: tuple[CycleResult, ...]

    @property
    def updated(self) -> bool:
        """The check installed and committed a new OS."""
        return CycleResult.COMMITTED in self.results

    @property
    def failed(self) -> bool:
        """A check or boot of this round failed, was unhealthy or rolled back."""
        return any(result in _FAILED for result in self.results)


class FleetUpdaters:
    """The fleet's updaters against one service. Use as an async context manager.

    ``server_ca`` is the CA bundle that verifies the service's TLS certificate; the
    same server authenticates devices by their certificates (mTLS).
    """

    def __init__(
        self,
        server_url: str,
        *,
        server_ca: Path,
        agent_sha256: bytes,
        clock: Clock,
        concurrency: int = DEFAULT_CONCURRENCY,
        security_module_fault: SecurityModuleFault | None = None,
    ) -> None:
        self._server_url = server_url
        self._fault = security_module_fault
        self._server_ca = server_ca
        self._agent_sha256 = agent_sha256
        self._clock = clock
        self._slots = asyncio.Semaphore(concurrency)
        verify = ssl.create_default_context(cafile=str(server_ca))
        # The attestation client reads only the URL and timeouts from its config.
        self._attester = AttestationClient(
            AgentConfig(
                state_dir=Path("."),
                server_url=server_url,
                measurements=FixedMeasurementSource(
                    measurements=Measurements(
                        os_image_sha256=bytes(32), agent_sha256=agent_sha256
                    )
                ),
            ),
            transport=httpx.AsyncHTTPTransport(verify=verify),
        )
        self._rng = random.Random(0)  # retry jitter only, not secrets

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._attester.__aexit__(exc_type, exc, traceback)

    def install_factory(
        self, device: SimDevice, package: Path, target: TargetDescription
    ) -> UpdatingDevice:
        """Lay out the device's A/B slots with the factory OS and boot it."""
        root = device.state_dir / INSTALL_DIR
        DirInstallBackend.initialize(root, package, target)
        return self._booted(device, root)

    async def check(self, devices: Iterable[UpdatingDevice]) -> list[CheckResult]:
        """One update check per device, concurrently (with any reboots it needs)."""
        return list(await asyncio.gather(*(self._check(d) for d in devices)))

    async def _check(self, updating: UpdatingDevice) -> CheckResult:
        start = len(updating.outcomes)
        async with self._slots:
            for _ in range(MAX_REBOOTS_PER_CHECK + 1):
                if updating.boot is None:
                    outcome = await self._check_once(updating)
                else:
                    outcome = await self._start_agent(updating)
                if outcome is None or not outcome.reboot_required:
                    break
                # The agent asked for a reboot: the emulated bootloader runs again.
                self._booted(updating.device, updating.install_root, updating)
        results = tuple(outcome.result for outcome in updating.outcomes[start:])
        return CheckResult(updating, results)

    async def _check_once(self, updating: UpdatingDevice) -> CycleOutcome | None:
        """One check of the running agent (as ``agent check`` makes it)."""
        reporting = self._reporting(updating)
        loop = self._loop(updating, _stop_after_first_check(asyncio.Event()), reporting)
        outcome = await loop.check_once()
        updating.outcomes.extend(loop.outcomes)
        await _upload(reporting)
        return outcome

    async def _start_agent(self, updating: UpdatingDevice) -> CycleOutcome | None:
        """The daemon after a boot: attest, handle the boot (health-check and commit
        a trial), then check until the first check ends or a reboot is needed."""
        device = updating.device
        stop = asyncio.Event()
        reporting = self._reporting(updating)
        loop = self._loop(updating, _stop_after_first_check(stop), reporting)
        faulty = self._fault is not None and self._fault(
            device.device_id, updating.os_version
        )
        agent = Agent(
            config=self._config(device, updating.install_root),
            keystore=device.keystore,
            measurements=device.software,
            attester=_FaultySecurityModule() if faulty else self._attester,
            clock=self._clock,
            sleep=_never,
            updates=loop,
            failures=reporting.recorder,
        )
        await agent.run(stop)
        updating.boot = None
        updating.outcomes.extend(loop.outcomes)
        await _upload(reporting)
        return agent.reboot_outcome

    def _reporting(self, updating: UpdatingDevice) -> FailureReporting:
        """The device's failure queue and uploader for this boot."""
        return failure_reporting(
            self._config(updating.device, updating.install_root),
            keystore=updating.device.keystore,
            server_ca=self._server_ca,
            backend=updating.backend,
            clock=self._clock,
        )

    def _loop(
        self, updating: UpdatingDevice, sleep: Sleep, reporting: FailureReporting
    ) -> UpdateLoop:
        device = updating.device
        config = self._config(device, updating.install_root)
        tls = device_tls(
            device.keystore, device.state_dir, self._server_url, self._server_ca
        )
        return UpdateLoop(
            cycle=build_update_cycle(
                config,
                backend=updating.backend,
                device_id=device.device_id,
                tls=tls,
                failures=reporting.recorder,
            ),
            state_dir=device.state_dir,
            interval_s=config.update_check_interval_s,
            backoff_base_s=_BACKOFF_BASE_S,
            backoff_max_s=_BACKOFF_MAX_S,
            boot=updating.boot,
            sleep=sleep,
            rng=self._rng,
        )

    def _booted(
        self,
        device: SimDevice,
        install_root: Path,
        updating: UpdatingDevice | None = None,
    ) -> UpdatingDevice:
        """Boot (or reboot) the device: a fresh backend, as after a power cycle."""
        backend = DirInstallBackend(install_root)
        boot = backend.boot()
        software = Measurements(
            os_image_sha256=sha256_of_file(backend.os_image_path()),
            agent_sha256=self._agent_sha256,
        )
        device.boot_into(software, clock=self._clock)
        version = backend.current_os().version
        if updating is None:
            return UpdatingDevice(
                device, install_root, backend, boot, versions_run=[version]
            )
        updating.backend, updating.boot = backend, boot
        if updating.versions_run[-1] != version:
            updating.versions_run.append(version)
        return updating

    def _config(self, device: SimDevice, install_root: Path) -> AgentConfig:
        return AgentConfig(
            state_dir=device.state_dir,
            server_url=self._server_url,
            measurements=FixedMeasurementSource(measurements=device.software),
            install_root=install_root,
        )


async def _upload(reporting: FailureReporting) -> None:
    """Upload what the device recorded (the daemon's uploader, run once)."""
    if reporting.uploader is not None:
        await reporting.uploader.drain()


class _FaultySecurityModule:
    """An attester on hardware whose key store fails under this OS (injected)."""

    async def attest(
        self,
        keystore: KeyStore[Evidence | TpmEvidence],  # noqa: ARG002 - it fails first
        measurements: Measurements,  # noqa: ARG002
    ) -> IssuedCertificate:
        raise KeyStoreFailedError(
            "the security module did not answer (simulated hardware fault)"
        )


_: type[Attester] = _FaultySecurityModule


def _stop_after_first_check(stop: asyncio.Event) -> Sleep:
    """The update loop's sleep: instead of waiting for the next check, stop."""

    async def sleep(_delay_s: float) -> None:
        stop.set()

    return sleep


async def _never(_delay_s: float) -> None:
    """The attestation loop's sleep: the next renewal is not part of the demo."""
    await asyncio.Event().wait()
