"""The agent daemon: attest at start, renew before expiry, back off on failure.

An ``Agent`` is an instance with everything injected (key store, attestation client,
clock, sleep, random source), so one process can run many (the simulator does) and
tests run it in virtual time. Failures never end ``run``: each is recorded in the
state file with its reason and retried after an exponential, jittered backoff.

With an ``UpdateLoop`` injected, the agent also checks for updates beside the
attestation loop; when an update needs a reboot, ``run`` returns with
``reboot_outcome`` set and the caller restarts the device (``agent run``).

With a ``FailureRecorder`` a failed attestation is also recorded as a failure
(docs/failures.md §1): ``network-failure`` when the service could not be reached,
``attestation-failure`` otherwise; a ``FailureUploader`` runs beside the other loops.
"""

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from sevenfold.agent.attestation_client import IssuedCertificate
from sevenfold.agent.config import AgentConfig
from sevenfold.agent.errors import (
    AttestationError,
    AttestationRefusedError,
    ProxyAuthenticationError,
    ServiceUnreachableError,
    StateCorruptError,
    UpdateHealthCheckError,
)
from sevenfold.agent.failure_recorder import FailureRecorder
from sevenfold.agent.failure_upload import FailureUploader
from sevenfold.agent.schedule import backoff_delay_s, renewal_delay_s
from sevenfold.agent.state import AgentState, AttestationResult, StateStore
from sevenfold.agent.trusted.keystore import KeyStore
from sevenfold.agent.update_cycle import CycleOutcome
from sevenfold.agent.update_loop import UpdateLoop
from sevenfold.agent.waiting import Sleep, sleep_unless_stopped
from sevenfold.protocol.attestation import Evidence, Measurements
from sevenfold.protocol.clock import Clock
from sevenfold.protocol.tpm_evidence import TpmEvidence

STATE_WRITE_FAILED = "state-write-failed"
_log = logging.getLogger(__name__)


class Attester(Protocol):
    """What the daemon needs of ``AttestationClient``."""

    async def attest(
        self, keystore: KeyStore[Evidence | TpmEvidence], measurements: Measurements
    ) -> IssuedCertificate:
        """Attest once; return the certificate or raise ``AttestationError``."""
        ...


class Agent:
    """One device's attestation loop and its state."""

    def __init__(
        self,
        *,
        config: AgentConfig,
        keystore: KeyStore[Evidence | TpmEvidence],
        measurements: Measurements,
        attester: Attester,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        on_record: Callable[[AgentState], None] | None = None,
        updates: UpdateLoop | None = None,
        failures: FailureRecorder | None = None,
        failure_uploads: FailureUploader | None = None,
    ) -> None:
        self._config = config
        self._keystore = keystore
        self._measurements = measurements
        self._attester = attester
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - timing jitter, not secrets
        self._store = StateStore(config.state_dir)
        self._failures = 0
        self._state = AgentState(device_id=keystore.device_id)
        self._on_record = on_record
        self._updates = updates
        self._failure_recorder = failures
        self._failure_uploads = failure_uploads
        self._reboot_outcome: CycleOutcome | None = None

    @property
    def state(self) -> AgentState:
        """The state as last written."""
        return self._state

    @property
    def consecutive_failures(self) -> int:
        """Failed attempts since the last certificate."""
        return self._failures

    @property
    def reboot_outcome(self) -> CycleOutcome | None:
        """The update outcome that ended ``run`` because the device must reboot."""
        return self._reboot_outcome

    async def run(self, stop: asyncio.Event) -> None:
        """Attest now, then keep the certificate fresh until ``stop`` is set (or,
        with updates on, until an update needs a reboot)."""
        self._load_state()
        if self._updates is None and self._failure_uploads is None:
            await self._attest_until(stop)
            return
        # Attest first: update checks and uploads need the certificate (mTLS).
        first_delay_s = await self.attest_once()
        halt = asyncio.Event()
        relay = asyncio.ensure_future(_relay(stop, halt))
        beside = [asyncio.ensure_future(self._attest_until(halt, first_delay_s))]
        if self._failure_uploads is not None:
            beside.append(asyncio.ensure_future(self._failure_uploads.run(halt)))
        try:
            if self._updates is not None:
                self._reboot_outcome = await self._updates.run(
                    halt, self._trial_health_check
                )
            else:
                await halt.wait()
        finally:
            halt.set()
            relay.cancel()
            await asyncio.gather(*beside, relay, return_exceptions=True)

    async def _attest_until(
        self, stop: asyncio.Event, first_delay_s: float | None = None
    ) -> None:
        if first_delay_s is not None:
            await self._wait(first_delay_s, stop)
        while not stop.is_set():
            delay_s = await self.attest_once()
            await self._wait(delay_s, stop)

    async def _trial_health_check(self) -> None:
        """Attest with the trial slot's measurements and save the new certificate
        (the update cycle then makes one authenticated request with it)."""
        try:
            issued = await self._attester.attest(self._keystore, self._measurements)
            self._store.write_certificate(issued.certificate_pem, issued.chain_pem)
        except AttestationError as err:
            raise UpdateHealthCheckError(
                f"re-attestation refused or failed ({err.reason}): {err}"
            ) from err
        except OSError as err:
            raise UpdateHealthCheckError(f"cannot save the certificate: {err}") from err

    async def attest_once(self) -> float:
        """Make one attempt, record it; return seconds until the next one."""
        try:
            issued = await self._attester.attest(self._keystore, self._measurements)
        except AttestationError as err:
            return self._failed(err)
        now = self._clock.now()
        try:
            self._store.write_certificate(issued.certificate_pem, issued.chain_pem)
            self._record(AttestationResult.CERTIFIED, None, now, issued.not_after)
        except OSError as err:
            _log.error(
                "device %s: cannot save the certificate: %s", self._device_id, err
            )
            self._failures += 1
            return self._backoff_s()
        self._failures = 0
        remaining_s = (issued.not_after - now).total_seconds()
        delay_s = renewal_delay_s(remaining_s, self._rng)
        _log.info(
            "device %s: certified until %s; renewing in %.0f s",
            self._device_id, issued.not_after.isoformat(), delay_s,
        )  # fmt: skip
        return delay_s

    @property
    def _device_id(self) -> str:
        return self._keystore.device_id

    def _failed(self, err: AttestationError) -> float:
        self._failures += 1
        refused = isinstance(err, AttestationRefusedError)
        result = AttestationResult.REFUSED if refused else AttestationResult.FAILED
        try:
            self._record(result, err.reason, self._clock.now(), None)
        except OSError as write_error:
            _log.error("device %s: cannot save state: %s", self._device_id, write_error)
        self._record_failure(err)
        delay_s = self._backoff_s()
        _log.warning(
            "device %s: attestation %s (%s): %s; attempt %d failed, retrying in %.1f s",
            self._device_id, result.value, err.reason, err, self._failures, delay_s,
        )  # fmt: skip
        return delay_s

    def _record_failure(self, err: AttestationError) -> None:
        recorder = self._failure_recorder
        if recorder is None:
            return
        if isinstance(err, ServiceUnreachableError | ProxyAuthenticationError):
            # A bad link is the device's, not the release's: not an attestation
            # failure, which rollouts count (docs/failures.md §4).
            recorder.network_failed(err, "attestation")
        else:
            recorder.attestation_failed(err.reason, str(err))

    def _backoff_s(self) -> float:
        config = self._config
        return backoff_delay_s(
            self._failures, config.backoff_base_s, config.backoff_max_s, self._rng
        )

    def _record(
        self,
        result: AttestationResult,
        reason: str | None,
        at: datetime,
        not_after: datetime | None,
    ) -> None:
        state = AgentState(
            device_id=self._device_id,
            last_result=result,
            last_reason=reason,
            last_attempt_at=at,
            certificate_not_after=not_after or self._state.certificate_not_after,
        )
        self._store.write_state(state)
        self._state = state
        if self._on_record is not None:
            self._on_record(state)

    def _load_state(self) -> None:
        removed = self._store.remove_stale_temporaries()
        if removed:
            _log.warning("removed %d temporary files left by a crash", removed)
        try:
            saved = self._store.read_state()
        except StateCorruptError as err:
            _log.warning("starting with fresh state: %s", err)
            saved = None
        if saved is not None and saved.device_id == self._device_id:
            self._state = saved

    async def _wait(self, delay_s: float, stop: asyncio.Event) -> None:
        await sleep_unless_stopped(self._sleep, delay_s, stop)


async def _relay(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()
