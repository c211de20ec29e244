"""The failure uploader's schedule (docs/failures.md §1): the backlog at start batch
after batch, again on every new record and every interval, backoff after a failure
(which a new record does not cut short), nothing without a certificate, and only
what the service acknowledged removed. The service here is an in-memory stand-in for
the batch client; the real HTTP path is test_failure_upload_e2e.py."""

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from sevenfold.agent.errors import (
    FailureUploadRefusedError,
    FailureUploadUnreachableError,
)
from sevenfold.agent.failure_queue import FailureQueue
from sevenfold.agent.failure_recorder import QueueFailureRecorder
from sevenfold.agent.failure_upload import FailureUploader, UploadAnswer
from sevenfold.agent.schedule import backoff_cap_s
from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.failures import FailureBatch, FailureEvent

INTERVAL_S = 300.0
BACKOFF_BASE_S = 5.0
BACKOFF_MAX_S = 60.0


@dataclass
class Service:
    """Stores each event id once; acknowledges what ``acknowledge`` allows."""

    stored: dict[str, FailureEvent] = field(default_factory=dict)
    batches: list[FailureBatch] = field(default_factory=list)
    failures_left: int = 0
    poisoned: set[str] = field(default_factory=set)
    acknowledge: Callable[[list[str]], list[str]] = lambda ids: ids

    async def upload(self, batch: FailureBatch) -> UploadAnswer:
        self.batches.append(batch)
        if self.failures_left:
            self.failures_left -= 1
            raise FailureUploadUnreachableError("failure-reports answered 503")
        if any(event.event_id in self.poisoned for event in batch.events):
            raise FailureUploadRefusedError("failure-reports refused the batch (422)")
        ids = [event.event_id for event in batch.events]
        new = [event for event in batch.events if event.event_id not in self.stored]
        for event in new:
            self.stored[event.event_id] = event
        return UploadAnswer(
            acknowledged=tuple(self.acknowledge(ids)),
            stored=len(new),
            duplicates=len(ids) - len(new),
        )


@dataclass
class Sleeps:
    """A sleep that never ends by itself; records what it was asked for."""

    delays_s: list[float] = field(default_factory=list)

    async def sleep(self, delay_s: float) -> None:
        self.delays_s.append(delay_s)
        await asyncio.Event().wait()


@dataclass
class Setup:
    queue: FailureQueue
    recorder: QueueFailureRecorder
    service: Service
    sleeps: Sleeps
    uploader: FailureUploader
    certificate: list[bool]


def setup(tmp_path: Path, backlog: int = 0) -> Setup:
    queue = FailureQueue(tmp_path, clock=ManualClock())
    recorder = QueueFailureRecorder(queue, server_url="https://sevenfold.example")
    for n in range(backlog):
        recorder.record_app_exit(f"app-{n}", None, exit_code=1)
    service, sleeps, certificate = Service(), Sleeps(), [True]
    uploader = FailureUploader(
        queue=queue,
        client=service,
        recorded=recorder.recorded,
        interval_s=INTERVAL_S,
        backoff_base_s=BACKOFF_BASE_S,
        backoff_max_s=BACKOFF_MAX_S,
        has_certificate=lambda: certificate[0],
        recorder=recorder,
        sleep=sleeps.sleep,
        rng=random.Random(1),
    )
    return Setup(queue, recorder, service, sleeps, uploader, certificate)


async def settle(condition: Callable[[], bool]) -> None:
    """Let the loop run until ``condition`` holds (it must, or the test hangs
    up to the bound and fails)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the uploader did not get there")


def running(s: Setup, body: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.ensure_future(s.uploader.run(stop))
        try:
            await body()
        finally:
            stop.set()
            await task

    asyncio.run(main())


def test_the_backlog_goes_at_start_batch_after_batch_then_the_interval(
    tmp_path: Path,
) -> None:
    s = setup(tmp_path, backlog=250)

    async def body() -> None:
        await settle(lambda: len(s.sleeps.delays_s) == 1)

    running(s, body)
    assert [len(batch.events) for batch in s.service.batches] == [100, 100, 50]
    assert len(s.service.stored) == 250
    assert len(s.queue) == 0
    assert s.sleeps.delays_s == [INTERVAL_S]
    assert s.uploader.uploaded_total == 250


def test_a_new_record_is_uploaded_at_once(tmp_path: Path) -> None:
    s = setup(tmp_path)

    async def body() -> None:
        await settle(lambda: len(s.sleeps.delays_s) == 1)
        assert s.service.batches == []  # nothing to send at start
        s.recorder.record_app_exit("app", None, signal=9)
        await settle(lambda: len(s.service.stored) == 1)

    running(s, body)
    assert len(s.queue) == 0
    assert s.sleeps.delays_s == [INTERVAL_S, INTERVAL_S]


def test_a_failed_upload_backs_off_and_a_new_record_does_not_cut_it_short(
    tmp_path: Path,
) -> None:
    s = setup(tmp_path, backlog=3)
    s.service.failures_left = 1

    async def body() -> None:
        await settle(lambda: len(s.sleeps.delays_s) == 1)
        s.recorder.record_app_exit("other", None, exit_code=2)
        for _ in range(100):
            await asyncio.sleep(0)

    running(s, body)
    (delay_s,) = s.sleeps.delays_s
    assert 0 <= delay_s <= backoff_cap_s(1, BACKOFF_BASE_S, BACKOFF_MAX_S)
    assert len(s.service.batches) == 1  # no retry before the backoff ends
    assert s.service.stored == {}
    assert s.uploader.consecutive_failures == 1
    # The 503 was recorded as a network failure, to be sent with the rest.
    kinds = [event.kind.value for event in s.queue.snapshot().records]
    assert kinds == ["app-crash"] * 3 + ["network-failure", "app-crash"]


def test_backoff_grows_with_failures_and_a_success_resets_it(tmp_path: Path) -> None:
    s = setup(tmp_path, backlog=1)
    s.service.failures_left = 4

    async def drains() -> None:
        for _ in range(5):
            await s.uploader.drain()

    asyncio.run(drains())
    assert len(s.service.batches) == 5
    assert s.uploader.consecutive_failures == 0
    assert len(s.queue) == 0
    # The first (failed) batch and every re-send carry the same sealed record.
    first = s.service.batches[0].events[0]
    assert all(batch.events[0] == first for batch in s.service.batches)


def test_without_a_certificate_nothing_is_sent(tmp_path: Path) -> None:
    s = setup(tmp_path, backlog=2)
    s.certificate[0] = False

    async def body() -> None:
        await settle(lambda: len(s.sleeps.delays_s) == 1)
        s.certificate[0] = True
        s.recorder.record_app_exit("app", None, exit_code=1)
        await settle(lambda: len(s.service.stored) == 3)

    running(s, body)
    assert len(s.service.batches) == 1
    assert s.uploader.consecutive_failures == 0
    # Without a certificate it looks again within the first backoff step.
    assert 0 <= s.sleeps.delays_s[0] <= BACKOFF_BASE_S


def test_only_what_the_service_acknowledges_is_removed(tmp_path: Path) -> None:
    s = setup(tmp_path, backlog=4)
    answers = [2, 0]  # the first answer lists two ids (and a stranger), then none
    s.service.acknowledge = lambda ids: [*ids[: answers.pop(0)], "0" * 32]

    asyncio.run(s.uploader.drain())  # stops when an answer removes nothing

    first, second = s.service.batches
    assert second.events == first.events[2:]  # re-sent unchanged
    left = s.queue.snapshot()
    assert left.records == first.events[2:]
    assert left.sealed_ids == {e.event_id for e in first.events[2:]}
    assert s.uploader.uploaded_total == 2
    s.service.acknowledge = lambda ids: ids
    asyncio.run(s.uploader.drain())
    assert s.service.batches[2].events == first.events[2:]
    assert len(s.queue) == 0


def test_a_record_the_service_refuses_is_found_dropped_and_counted(
    tmp_path: Path,
) -> None:
    """A batch the service refuses as malformed would block the queue for ever:
    it is halved until the refused record is alone, which is dropped and counted
    in dropped_total; everything else arrives."""
    s = setup(tmp_path, backlog=230)
    poisoned = s.queue.snapshot().records[137]
    s.service.poisoned = {poisoned.event_id}

    assert asyncio.run(s.uploader.drain())

    assert len(s.queue) == 0
    assert s.queue.dropped_total == 1
    assert len(s.service.stored) == 229
    assert poisoned.event_id not in s.service.stored
    assert s.service.batches[-1].dropped_total == 1
    assert s.uploader.consecutive_failures == 0
