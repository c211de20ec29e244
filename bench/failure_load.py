"""The failure-report load generator: batches of failure events posted by many
devices at once over HTTPS with their client certificates, and the same pattern
for the baseline (the no-op ``idle`` update-status report).

Each POST goes on a fresh TLS connection with the device's certificate, as the
agent's uploader opens one per upload; it is ``bench.update_load.one_check`` with a
one-request plan, so the TLS client, the request writer and the status check are
the update bench's. ``concurrency`` workers, each owning its devices (a device
never has two POSTs in flight), bounded in count and time, targeting only
127.0.0.1. A POST counts as a success only when it is answered 200.

Events a run stored are counted in the database (rows of ``failure_events`` before
and after), not inferred from answers. A duplicate run sends batches that were
stored already, again by the same devices: the service must answer them all as
acknowledged and store nothing.
"""

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select

from bench.attest_load import server_cpu_s
from bench.load import LOOPBACK, percentile_ms
from bench.update_load import REQUEST_TIMEOUT_S, CheckPlan, Exchange, one_check
from bench.update_target import CertifiedDevice
from sevenfold.protocol.failures import FailureKind
from sevenfold.service.db.engine import make_engine, make_session_factory
from sevenfold.service.failures.models import FailureEventRecord

FAILURES_PATH = "/api/v1/device/failure-reports"
STATUS_PATH = "/api/v1/device/update-status"

BatchMaker = Callable[[], dict[str, Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class PostResult:
    """What one run of POSTs measured."""

    posts: int
    events_per_post: int
    failures: Counter[str] = field(default_factory=Counter)
    duration_s: float
    p50_ms: float
    p99_ms: float
    server_cpu_s: float | None
    stored_events: int | None = None  # rows added to failure_events by the run

    @property
    def successes(self) -> int:
        """POSTs answered 200."""
        return self.posts - sum(self.failures.values())

    @property
    def posts_per_s(self) -> float:
        """Successful POSTs per second of run time."""
        return self.successes / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def events_per_s(self) -> float:
        """Events in successful POSTs per second (acknowledged)."""
        return self.posts_per_s * self.events_per_post

    @property
    def stored_per_s(self) -> float | None:
        """Rows stored per second of run time."""
        if self.stored_events is None or self.duration_s <= 0:
            return None
        return self.stored_events / self.duration_s

    @property
    def server_ms_per_post(self) -> float | None:
        """Server CPU per POST, milliseconds."""
        if self.server_cpu_s is None or not self.posts:
            return None
        return self.server_cpu_s / self.posts * 1000

    def to_json(self) -> dict[str, Any]:
        """Every figure, unrounded."""
        return {
            "posts": self.posts,
            "successes": self.successes,
            "events_per_post": self.events_per_post,
            "failures": dict(self.failures),
            "duration_s": self.duration_s,
            "posts_per_s": self.posts_per_s,
            "events_per_s": self.events_per_s,
            "stored_events": self.stored_events,
            "stored_per_s": self.stored_per_s,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "server_cpu_s": self.server_cpu_s,
            "server_ms_per_post": self.server_ms_per_post,
        }


def failure_event(
    kind: FailureKind, *, image_id: str | None = None, at: datetime | None = None
) -> dict[str, Any]:
    """One event's wire form with a fresh random id (the idempotency key)."""
    moment = (at or datetime.now(UTC)).isoformat()
    return {
        "event_id": secrets.token_hex(16),
        "kind": kind.value,
        "key": f"{kind.value} bench"
        if image_id is None
        else f"{kind.value} {image_id}",
        "count": 1,
        "first_at": moment,
        "last_at": moment,
        "description": "benchmark event",
        "image_id": image_id,
    }


def fresh_batch(events: int) -> dict[str, Any]:
    """A batch of ``events`` app-crash events, each with a new id."""
    return {
        "events": [failure_event(FailureKind.APP_CRASH) for _ in range(events)],
        "dropped_total": 0,
    }


def stored_event_count(database_url: str) -> int:
    """Rows in ``failure_events`` now."""
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            return int(
                session.scalar(select(func.count()).select_from(FailureEventRecord))
                or 0
            )
    finally:
        engine.dispose()


def _plan(path: str, body: dict[str, Any]) -> CheckPlan:
    exchange = Exchange(method="POST", path=path, expected_status=200, json_body=body)
    return CheckPlan(connections=((exchange,),))


async def _run(
    base_url: str,
    devices: Sequence[CertifiedDevice],
    next_post: Callable[[CertifiedDevice], tuple[str, dict[str, Any]] | None],
    *,
    events_per_post: int,
    concurrency: int,
    duration_s: float,
) -> PostResult:
    if httpx.URL(base_url).host != LOOPBACK:
        raise ValueError(f"failure-report runs target {LOOPBACK} only")
    if len(devices) < concurrency:
        raise ValueError("need at least one device per worker")
    latencies_s: list[float] = []
    failures: Counter[str] = Counter()

    async def worker(own: Sequence[CertifiedDevice], deadline: float) -> None:
        index = 0
        while time.perf_counter() < deadline:
            device = own[index % len(own)]
            post = next_post(device)
            index += 1
            if post is None:
                return
            sent = time.perf_counter()
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT_S):
                    failure = await one_check(base_url, device, _plan(*post))
            except (OSError, EOFError, ValueError, TimeoutError) as err:
                failure = type(err).__name__
            latencies_s.append(time.perf_counter() - sent)
            if failure is not None:
                failures[failure] += 1

    server_before = server_cpu_s()
    started = time.perf_counter()
    deadline = started + duration_s
    await asyncio.gather(
        *(worker(devices[i::concurrency], deadline) for i in range(concurrency))
    )
    duration = time.perf_counter() - started
    server_after = server_cpu_s()
    latencies_s.sort()
    return PostResult(
        posts=len(latencies_s),
        events_per_post=events_per_post,
        failures=failures,
        duration_s=duration,
        p50_ms=percentile_ms(latencies_s, 50),
        p99_ms=percentile_ms(latencies_s, 99),
        server_cpu_s=(
            None
            if server_before is None or server_after is None
            else server_after - server_before
        ),
    )


def _run_loop(coroutine: Any) -> PostResult:
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        result: PostResult = asyncio.run(coroutine)
        return result
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)  # type: ignore[no-any-return]


@dataclass(slots=True)
class SentBatches:
    """The batches a run posted, by device, to be sent again as duplicates."""

    by_device: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def post_fresh_batches(
    base_url: str,
    devices: Sequence[CertifiedDevice],
    *,
    events_per_post: int,
    concurrency: int,
    duration_s: float,
    sent: SentBatches | None = None,
) -> PostResult:
    """Post batches of new events for ``duration_s``; keep them in ``sent``."""

    def next_post(device: CertifiedDevice) -> tuple[str, dict[str, Any]] | None:
        batch = fresh_batch(events_per_post)
        if sent is not None:
            sent.by_device.setdefault(device.device_id, []).append(batch)
        return FAILURES_PATH, batch

    return _run_loop(
        _run(
            base_url,
            devices,
            next_post,
            events_per_post=events_per_post,
            concurrency=concurrency,
            duration_s=duration_s,
        )
    )


def post_duplicate_batches(
    base_url: str,
    devices: Sequence[CertifiedDevice],
    sent: SentBatches,
    *,
    events_per_post: int,
    concurrency: int,
    duration_s: float,
) -> PostResult:
    """Send stored batches again (each device its own), round after round."""

    cursors: Counter[str] = Counter()

    def next_post(device: CertifiedDevice) -> tuple[str, dict[str, Any]] | None:
        own = sent.by_device.get(device.device_id)
        if not own:
            return None
        index = cursors[device.device_id]
        cursors[device.device_id] += 1
        return FAILURES_PATH, own[index % len(own)]

    return _run_loop(
        _run(
            base_url,
            devices,
            next_post,
            events_per_post=events_per_post,
            concurrency=concurrency,
            duration_s=duration_s,
        )
    )


def post_status_reports(
    base_url: str,
    devices: Sequence[CertifiedDevice],
    report: dict[str, Any],
    *,
    concurrency: int,
    duration_s: float,
) -> PostResult:
    """The baseline: the same POST pattern with an unchanged ``idle`` report (the
    service writes nothing for it within a minute of the last)."""

    def next_post(_device: CertifiedDevice) -> tuple[str, dict[str, Any]] | None:
        return STATUS_PATH, report

    return _run_loop(
        _run(
            base_url,
            devices,
            next_post,
            events_per_post=0,
            concurrency=concurrency,
            duration_s=duration_s,
        )
    )
