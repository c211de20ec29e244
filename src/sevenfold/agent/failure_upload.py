"""Uploads the failure queue to ``POST /api/v1/device/failure-reports``
(docs/failures.md §1).

``FailureReportClient`` posts one sealed batch over the device's mTLS identity, with
the proxy, no-proxy list, timeouts and deadline of the other device clients
(``attestation_client.proxy_mounts``, the TLS context factory of
``update_status_client``), and acknowledges exactly the ids the service lists.

``FailureUploader`` drains the backlog at start, batch after batch; again whenever a
record is added (``recorded``, an ``asyncio.Event``) and every
``failure_upload_interval_s``; after a failure it backs off with jitter. Without a
device certificate it waits quietly: the attestation loop gets one.
"""

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import httpx

from sevenfold.agent.config import AgentConfig
from sevenfold.agent.errors import (
    AgentError,
    FailureQueueError,
    FailureUploadError,
    FailureUploadRefusedError,
    FailureUploadUnreachableError,
)
from sevenfold.agent.failure_queue import FailureQueue
from sevenfold.agent.failure_recorder import FailureRecorder
from sevenfold.agent.schedule import backoff_delay_s
from sevenfold.agent.update_status_client import SslContextFactory, device_client
from sevenfold.agent.waiting import Sleep
from sevenfold.protocol.failures import (
    EVENT_ID_HEX_CHARS,
    MAX_BATCH_EVENTS,
    FailureBatch,
)

FAILURE_REPORTS_PATH = "/api/v1/device/failure-reports"
MAX_RESPONSE_BYTES = 64 * 1024
MAX_BATCHES_PER_DRAIN = 1000  # a service that acknowledges nothing cannot spin us
_log = logging.getLogger(__name__)

HasCertificate = Callable[[], bool]
"""True when the device holds a certificate to present (mTLS)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadAnswer:
    """The service's answer to one batch."""

    acknowledged: tuple[str, ...]
    stored: int
    duplicates: int


class FailureReportClient:
    """Posts failure batches for one device."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        ssl_context_factory: SslContextFactory = lambda: None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._config = config
        self._ssl_context_factory = ssl_context_factory
        self._transport = transport

    async def upload(self, batch: FailureBatch) -> UploadAnswer:
        """Post ``batch``; return what the service acknowledged.

        Raises:
            FailureUploadUnreachableError: no usable answer in time, or a 5xx.
            FailureUploadError: the service refused the batch or answered nonsense.
        """
        config = self._config
        try:
            async with asyncio.timeout(config.deadline_s), self._client() as client:
                response = await client.post(FAILURE_REPORTS_PATH, json=batch.to_json())
        except TimeoutError as err:
            raise FailureUploadUnreachableError(
                f"the failure upload took longer than {config.deadline_s} s"
            ) from err
        except httpx.TransportError as err:
            raise FailureUploadUnreachableError(
                f"{type(err).__name__} uploading failure reports: {err}"
            ) from err
        if len(response.content) > MAX_RESPONSE_BYTES:
            raise FailureUploadError("the failure-reports answer is too large")
        if 500 <= response.status_code <= 599:
            raise FailureUploadUnreachableError(
                f"failure-reports answered {response.status_code}"
            )
        if response.status_code == httpx.codes.UNPROCESSABLE_ENTITY:
            raise FailureUploadRefusedError(
                "failure-reports refused the batch as malformed (422)"
            )
        if response.status_code != httpx.codes.OK:
            raise FailureUploadError(f"failure-reports answered {response.status_code}")
        return _answer(response, batch)

    def _client(self) -> httpx.AsyncClient:
        return device_client(self._config, self._ssl_context_factory, self._transport)


def _answer(response: httpx.Response, batch: FailureBatch) -> UploadAnswer:
    try:
        data = response.json()
    except ValueError as err:
        raise FailureUploadError("the failure-reports answer is not JSON") from err
    if not isinstance(data, dict):
        raise FailureUploadError("the failure-reports answer is not an object")
    acknowledged = data.get("acknowledged")
    stored, duplicates = data.get("stored"), data.get("duplicates")
    if (
        not isinstance(acknowledged, list)
        or not all(
            isinstance(i, str) and len(i) == EVENT_ID_HEX_CHARS for i in acknowledged
        )
        or not isinstance(stored, int)
        or not isinstance(duplicates, int)
    ):
        raise FailureUploadError("the failure-reports answer is malformed")
    sent = {event.event_id for event in batch.events}
    # Only ids of this batch can be acknowledged by its answer.
    return UploadAnswer(
        acknowledged=tuple(i for i in acknowledged if i in sent),
        stored=stored,
        duplicates=duplicates,
    )


class BatchUploader(Protocol):
    """What the loop needs of ``FailureReportClient``."""

    async def upload(self, batch: FailureBatch) -> UploadAnswer:
        """Raises ``FailureUploadError``."""
        ...


class FailureUploader:
    """Runs one device's failure uploads beside its attestation and update loops."""

    def __init__(
        self,
        *,
        queue: FailureQueue,
        client: BatchUploader,
        recorded: asyncio.Event,
        interval_s: float,
        backoff_base_s: float,
        backoff_max_s: float,
        has_certificate: HasCertificate,
        recorder: FailureRecorder | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._queue = queue
        self._client = client
        self._recorded = recorded
        self._interval_s = interval_s
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._has_certificate = has_certificate
        self._recorder = recorder
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - timing jitter, not secrets
        self._failures = 0
        self.uploaded_total = 0
        """Records the service acknowledged since start."""

    @property
    def consecutive_failures(self) -> int:
        """Failed uploads since the last good one."""
        return self._failures

    async def run(self, stop: asyncio.Event) -> None:
        """Upload now, then on every record and every interval, until ``stop``."""
        while not stop.is_set():
            self._recorded.clear()
            sent = await self.drain()
            if self._failures:
                # After a failure a new record must not cut the backoff short.
                delay_s = backoff_delay_s(
                    self._failures, self._backoff_base_s, self._backoff_max_s, self._rng
                )
                await self._wait(delay_s, stop, nudge=None)
            elif not sent:
                # No certificate yet: look again soon (attestation brings one).
                delay_s = backoff_delay_s(
                    1, self._backoff_base_s, self._backoff_max_s, self._rng
                )
                await self._wait(delay_s, stop, nudge=self._recorded)
            else:
                await self._wait(self._interval_s, stop, nudge=self._recorded)

    async def drain(self) -> bool:
        """Upload batch after batch until the queue is empty; ``False`` when an
        upload failed or there is no certificate yet."""
        if not self._has_certificate():
            _log.debug("no device certificate yet; failure upload waits")
            return False
        max_events = MAX_BATCH_EVENTS
        for _ in range(MAX_BATCHES_PER_DRAIN):
            if len(self._queue) == 0:
                break
            try:
                batch = self._queue.seal_batch(max_events)
                answer = await self._client.upload(batch)
            except FailureUploadRefusedError as err:
                max_events = self._refused(batch, err)
                continue
            except (AgentError, OSError) as err:
                self._failed(err)
                return False
            max_events = MAX_BATCH_EVENTS
            removed = self._queue.acknowledge(answer.acknowledged)
            self.uploaded_total += removed
            self._failures = 0
            _log.info(
                "failure reports: %d acknowledged (%d new, %d duplicates), %d left",
                len(answer.acknowledged), answer.stored, answer.duplicates,
                len(self._queue),
            )  # fmt: skip
            if removed == 0:
                # The service kept everything back: try again at the next turn.
                return True
        return True

    def _refused(self, batch: FailureBatch, err: FailureUploadRefusedError) -> int:
        """Halve a refused batch until the one record the service refuses is
        found, and drop it (counted in ``dropped_total``); return the next size."""
        if len(batch.events) > 1:
            return len(batch.events) // 2
        self._queue.discard([event.event_id for event in batch.events])
        _log.error("failure record dropped, the service refuses it: %s", err)
        return MAX_BATCH_EVENTS

    def _failed(self, err: AgentError | OSError) -> None:
        self._failures += 1
        _log.warning("failure upload failed (%d in a row): %s", self._failures, err)
        if self._recorder is not None and not isinstance(err, FailureQueueError):
            # Only connection-level failures are recorded (classified from the
            # chain); the backoff wait ignores the nudge this gives.
            self._recorder.network_failed(err, "failure upload")

    async def _wait(
        self, delay_s: float, stop: asyncio.Event, nudge: asyncio.Event | None
    ) -> None:
        waiters = {
            asyncio.ensure_future(self._sleep(delay_s)),
            asyncio.ensure_future(stop.wait()),
        }
        if nudge is not None:
            waiters.add(asyncio.ensure_future(nudge.wait()))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
