"""One update check, and what the agent does after a (re)boot (docs/updates.md §5-6).

A check is refresh → plan → download → install → report. Downloads are complete and
verified (by ngclient, against the agreed TUF metadata) before anything installs.
An OS image is staged into the inactive slot and the outcome asks for a reboot; the
new slot then boots as a trial, and ``after_boot`` commits it only when the device
can attest with its new measurements and reach the service. A trial that fails the
health check asks for another reboot; after ``bootlimit`` failed boots the
bootloader (emulated by the install backend) rolls back and that is reported.

Every transition is reported to the service (``UpdateStatusReport``); a report that
cannot be delivered is logged and does not change the outcome. With a
``FailureRecorder`` the cycle also records failures (docs/failures.md §1): a failed
check (``update-failure``; ``network-failure`` when the metadata could not be
fetched), an unhealthy trial boot (``bad-slot-boot``), a rollback (``rollback``).
"""

import asyncio
import fcntl
import logging
import os
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from sevenfold.agent.errors import (
    AgentError,
    SecurityVersionRollbackError,
    UpdateError,
    UpdateHealthCheckError,
    UpdateInstallError,
    UpdateLockedError,
    UpdateUnreachableError,
)
from sevenfold.agent.failure_recorder import FailureRecorder
from sevenfold.agent.update_verification import AgreedTargets
from sevenfold.protocol.updates import (
    MAX_STATUS_DETAIL_CHARS,
    TargetDescription,
    UpdateState,
    UpdateStatusReport,
    parse_version,
)

UPDATE_LOCK_FILE = "update.lock"
_log = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[None]]
"""Re-attests with the running software's measurements; raises ``AgentError``."""


class BootOutcome(Protocol):
    """What the (emulated) bootloader decided at this boot."""

    @property
    def slot(self) -> str: ...
    @property
    def trial(self) -> TargetDescription | None: ...
    @property
    def rolled_back_from(self) -> TargetDescription | str | None: ...
    @property
    def bootcount(self) -> int: ...


class InstallBackend(Protocol):
    """What the cycle needs of ``agent.install`` (the ``dir`` backend or another)."""

    def current_os(self) -> TargetDescription | None:
        """The OS image the device runs now."""
        ...

    def committed_security_version(self) -> int:
        """The anti-rollback floor: the highest committed OS security version."""
        ...

    def current_apps(self) -> Sequence[TargetDescription]:
        """The app images installed now."""
        ...

    def app_image_paths(self) -> Sequence[Path]:
        """The installed app images' files, in ``current_apps`` order."""
        ...

    def stage_os(self, package: Path, target: TargetDescription) -> None:
        """Write the OS image into the inactive slot and arm a trial boot."""
        ...

    def commit_os(self) -> None:
        """Make the trial slot the committed one."""
        ...

    def install_apps(self, apps: Sequence[tuple[Path, TargetDescription]]) -> None:
        """Replace the installed app set with ``apps``."""
        ...

    def is_rejected(self, sha256: str) -> bool:
        """True if this OS image failed its trial boots on this device."""
        ...

    def unreported_rollback(self) -> TargetDescription | None:
        """A rollback the service has not acknowledged yet."""
        ...

    def acknowledge_rollback(self, sha256: str) -> None:
        """The service has the rollback report for ``sha256``."""
        ...


class VerifiedTargets(Protocol):
    """One refresh's agreed targets and their download (``update_client``)."""

    @property
    def agreed(self) -> AgreedTargets: ...

    def download(self, targets: Sequence[TargetDescription]) -> dict[str, Path]:
        """Download and verify ``targets``; return sha256 -> file."""
        ...


class UpdateSource(Protocol):
    """Refreshes and cross-checks the repositories (``UpdateClient``)."""

    def refresh(self) -> VerifiedTargets:
        """Raises ``UpdateError``."""
        ...


class StatusReporter(Protocol):
    """Posts ``UpdateStatusReport``s (``UpdateStatusClient``)."""

    async def report(self, report: UpdateStatusReport) -> bool:
        """Deliver ``report``; return the service's ``check_requested``.

        Raises ``UpdateError`` when it cannot be delivered."""
        ...


class CycleResult(StrEnum):
    """How a check or a boot ended."""

    UP_TO_DATE = "up-to-date"
    APPS_INSTALLED = "apps-installed"
    REBOOT_REQUIRED = "reboot-required"
    BOOTED = "booted"
    COMMITTED = "committed"
    TRIAL_UNHEALTHY = "trial-unhealthy"
    ROLLED_BACK = "rolled-back"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class CycleOutcome:
    """What one check (or boot) did, as ``agent check`` prints it."""

    result: CycleResult
    state: UpdateState
    os_version: str | None
    reason: str | None = None
    detail: str | None = None
    targeted: tuple[TargetDescription, ...] = ()
    check_requested: bool = False
    report_error: str | None = None

    @property
    def reboot_required(self) -> bool:
        """The device must restart (a staged OS, or an unhealthy trial)."""
        return self.result in (CycleResult.REBOOT_REQUIRED, CycleResult.TRIAL_UNHEALTHY)

    @property
    def failed(self) -> bool:
        """The check failed (the daemon backs off; ``agent check`` exits non-zero)."""
        return self.result in (CycleResult.FAILED, CycleResult.TRIAL_UNHEALTHY)

    def to_json(self) -> dict[str, Any]:
        """The printable form."""
        return {
            "result": self.result.value,
            "state": self.state.value,
            "os_version": self.os_version,
            "reason": self.reason,
            "detail": self.detail,
            "targeted": [target.version for target in self.targeted],
            "check_requested": self.check_requested,
            "report_error": self.report_error,
        }


@dataclass(frozen=True, slots=True)
class _Plan:
    os: TargetDescription | None = None
    apps: tuple[TargetDescription, ...] | None = None  # None: leave the apps alone
    notes: tuple[str, ...] = ()
    downloads: tuple[TargetDescription, ...] = ()  # the targets not installed yet

    @property
    def empty(self) -> bool:
        return self.os is None and self.apps is None


@contextmanager
def update_lock(state_dir: Path) -> Iterator[None]:
    """Hold ``<state_dir>/update.lock`` exclusively (daemon and ``agent check``).

    Raises:
        UpdateLockedError: another update cycle holds it.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(state_dir / UPDATE_LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise UpdateLockedError("another update cycle is running") from err
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


class UpdateCycle:
    """Checks, installs and commits updates for one device."""

    def __init__(
        self,
        *,
        source: UpdateSource,
        backend: InstallBackend,
        reporter: StatusReporter,
        failures: FailureRecorder | None = None,
    ) -> None:
        self._source = source
        self._backend = backend
        self._reporter = reporter
        self._failures = failures

    async def check(self) -> CycleOutcome:
        """One check: refresh, plan, download, install, report."""
        targeted: tuple[TargetDescription, ...] = ()
        plan: _Plan | None = None
        try:
            verified = await asyncio.to_thread(self._source.refresh)
            plan = self._plan(verified.agreed)
            targeted = verified.agreed.all
            if plan.empty:
                detail = "; ".join(plan.notes) or None
                return await self._finish(
                    CycleResult.UP_TO_DATE, UpdateState.IDLE, detail, targeted
                )
            await self._report(UpdateState.DOWNLOADING, None, targeted)
            files = await asyncio.to_thread(verified.download, plan.downloads)
            await self._report(UpdateState.INSTALLING, None, targeted)
            return await self._install(plan, files, targeted)
        except UpdateError as err:
            _log.warning("update check failed (%s): %s", err.reason, err)
            detail = f"{err.reason}: {err}"
            self._record_check_failure(err, plan, detail)
            return await self._finish(
                CycleResult.FAILED, UpdateState.FAILED, detail, targeted, err.reason
            )

    async def after_boot(
        self, boot: BootOutcome, health_check: HealthCheck
    ) -> CycleOutcome:
        """Report a rollback, or health-check a trial slot and commit it."""
        # The backend keeps every rollback until the service has it, so one that
        # happened before a power cut or while offline is still reported.
        rolled_back = boot.rolled_back_from or self._backend.unreported_rollback()
        if rolled_back is not None:
            version = (
                rolled_back.version
                if isinstance(rolled_back, TargetDescription)
                else rolled_back
            )
            detail = (
                f"OS {version} failed its trial boots; "
                f"the bootloader rolled back to slot {boot.slot}"
            )
            if boot.rolled_back_from is not None and self._failures is not None:
                # Recorded at the boot that rolled back, not at each later boot
                # that re-reports an unacknowledged rollback.
                self._failures.rolled_back(_image_id(boot.rolled_back_from), detail)
            outcome = await self._finish(
                CycleResult.ROLLED_BACK, UpdateState.ROLLED_BACK, detail, (),
                rolled_back_from=version,
            )  # fmt: skip
            if outcome.report_error is None and isinstance(
                rolled_back, TargetDescription
            ):
                self._backend.acknowledge_rollback(rolled_back.sha256)
            return outcome
        if boot.trial is None:
            return CycleOutcome(
                result=CycleResult.BOOTED,
                state=UpdateState.IDLE,
                os_version=self._os_version(),
            )
        trial_version = boot.trial.version
        try:
            await health_check()
            # One authenticated request with the new certificate (mTLS).
            await self._reporter.report(
                self._status(UpdateState.INSTALLING, "trial boot health check", ())
            )
            self._backend.commit_os()
        except (AgentError, OSError) as err:
            reason = getattr(err, "reason", UpdateHealthCheckError.reason)
            detail = (
                f"trial boot {boot.bootcount} of OS {trial_version} unhealthy "
                f"({reason}): {err}"
            )
            _log.warning("%s; rebooting", detail)
            if self._failures is not None:
                self._failures.bad_slot_boot(boot.trial.image_id, detail)
            return await self._finish(
                CycleResult.TRIAL_UNHEALTHY, UpdateState.FAILED, detail, (),
                UpdateHealthCheckError.reason,
            )  # fmt: skip
        return await self._finish(
            CycleResult.COMMITTED,
            UpdateState.COMMITTED,
            f"OS {trial_version} committed in slot {boot.slot}",
            (),
        )

    def _plan(self, agreed: AgreedTargets) -> _Plan:
        notes: list[str] = []
        os_target = None
        target, current = agreed.os, self._backend.current_os()
        if target is not None and self._backend.is_rejected(target.sha256):
            # It already failed its trial boots here; retrying would loop through
            # reboots and rollbacks every check. A newer release moves us on.
            notes.append(f"OS {target.version} failed its trial here; not retried")
        elif target is not None and (
            current is None or target.sha256 != current.sha256
        ):
            os_target = self._os_target(target, current)
            if os_target is None and current is not None:
                notes.append(
                    f"OS {target.version} is not newer than {current.version}; staying"
                )
        apps = None
        new_apps: tuple[TargetDescription, ...] = ()
        if agreed.apps_managed:
            installed = {app.sha256 for app in self._backend.current_apps()}
            if installed != {app.sha256 for app in agreed.apps}:
                apps = agreed.apps
                new_apps = tuple(a for a in apps if a.sha256 not in installed)
        downloads = ((os_target,) if os_target else ()) + new_apps
        return _Plan(os=os_target, apps=apps, notes=tuple(notes), downloads=downloads)

    def _os_target(
        self, target: TargetDescription, current: TargetDescription | None
    ) -> TargetDescription | None:
        """``target`` if it may be installed; ``None`` if it is not newer.

        Raises:
            SecurityVersionRollbackError: newer, but below the anti-rollback floor
                (even when both repositories signed it).
        """
        if current is not None and parse_version(target.version) <= parse_version(
            current.version
        ):
            return None
        floor = self._backend.committed_security_version()
        if target.security_version < floor:
            raise SecurityVersionRollbackError(
                f"OS {target.version} has security version {target.security_version}, "
                f"below this device's floor {floor}"
            )
        return target

    async def _install(
        self,
        plan: _Plan,
        files: dict[str, Path],
        targeted: tuple[TargetDescription, ...],
    ) -> CycleOutcome:
        try:
            if plan.apps is not None:
                backend = self._backend
                installed = zip(
                    backend.current_apps(), backend.app_image_paths(), strict=True
                )
                paths = {app.sha256: path for app, path in installed} | files
                backend.install_apps([(paths[app.sha256], app) for app in plan.apps])
            if plan.os is not None:
                self._backend.stage_os(files[plan.os.sha256], plan.os)
        except (AgentError, OSError, ValueError) as err:
            raise UpdateInstallError(f"{type(err).__name__}: {err}") from err
        if plan.os is not None:
            return await self._finish(
                CycleResult.REBOOT_REQUIRED,
                UpdateState.REBOOTING,
                f"OS {plan.os.version} staged; rebooting into a trial boot",
                targeted,
            )
        return await self._finish(
            CycleResult.APPS_INSTALLED,
            UpdateState.COMMITTED,
            f"{len(plan.apps or ())} app image(s) installed",
            targeted,
        )

    async def _finish(
        self,
        result: CycleResult,
        state: UpdateState,
        detail: str | None,
        targeted: tuple[TargetDescription, ...],
        reason: str | None = None,
        *,
        rolled_back_from: str | None = None,
    ) -> CycleOutcome:
        check_requested, report_error = await self._report(
            state, detail, targeted, rolled_back_from
        )
        return CycleOutcome(
            result=result,
            state=state,
            os_version=self._os_version(),
            reason=reason,
            detail=detail,
            targeted=targeted,
            check_requested=check_requested,
            report_error=report_error,
        )

    async def _report(
        self,
        state: UpdateState,
        detail: str | None,
        targeted: tuple[TargetDescription, ...],
        rolled_back_from: str | None = None,
    ) -> tuple[bool, str | None]:
        """Deliver one report; ``(check_requested, error)``, never raising."""
        try:
            report = self._status(state, detail, targeted, rolled_back_from)
            return await self._reporter.report(report), None
        except (AgentError, OSError) as err:
            _log.warning("cannot report update state %s: %s", state.value, err)
            if self._failures is not None and isinstance(err, UpdateUnreachableError):
                self._failures.network_failed(err, "update status report")
            return False, str(err)

    def _status(
        self,
        state: UpdateState,
        detail: str | None,
        targeted: tuple[TargetDescription, ...],
        rolled_back_from: str | None = None,
    ) -> UpdateStatusReport:
        current = self._backend.current_os()
        installed = ((current,) if current else ()) + tuple(
            self._backend.current_apps()
        )
        return UpdateStatusReport(
            state=state,
            os_version=None if current is None else current.version,
            installed=tuple(image.as_installed() for image in installed),
            targeted=tuple(image.as_installed() for image in targeted),
            detail=None if detail is None else detail[:MAX_STATUS_DETAIL_CHARS],
            rolled_back_from=rolled_back_from,
        )

    def _record_check_failure(
        self, err: UpdateError, plan: "_Plan | None", detail: str
    ) -> None:
        if self._failures is None:
            return
        if isinstance(err, UpdateUnreachableError) and plan is None:
            # The metadata could not be fetched: a bad link is the device's, not
            # the release's (docs/failures.md §4).
            self._failures.network_failed(err, "update check")
            return
        # With the metadata in, a planned image that cannot be downloaded (deadline
        # passed, attempts without progress), verified or installed is a failed
        # update of that image (docs/failures.md §1).
        image = None
        if plan is not None:
            image = plan.os or (plan.downloads[0] if plan.downloads else None)
        self._failures.update_failed(
            None if image is None else image.image_id, err.reason, detail
        )

    def _os_version(self) -> str | None:
        current = self._backend.current_os()
        return None if current is None else current.version


def _image_id(target: TargetDescription | str) -> str | None:
    return target.image_id if isinstance(target, TargetDescription) else None
