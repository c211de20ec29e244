"""What a load run asks for and what it measured, and the asyncio/httpx generator.

The httpx generator is the fallback when ``wrk`` is unavailable: a fixed number of
concurrent workers on one keep-alive connection each, bounded in request count and in
time. It runs in the benchmark's own process; the server always runs in another. It
tops out near 1,000-1,500 requests/s on one core, far below what the hello-world
baseline can serve, so under it the ratios to the baseline overstate the service.
"""

import asyncio
import itertools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadSpec:
    """One load run against one server.

    ``paths`` is cycled: one path is read again and again; a list of distinct paths
    (one per fresh device) is meant to be used once each, so ``max_requests`` is its
    length and a run that would need more is reported as exhausted.
    """

    base_url: str
    method: str
    paths: Sequence[str]
    headers: Mapping[str, str]
    body: bytes | None
    concurrency: int
    duration_s: float
    max_requests: int | None = None

    def __post_init__(self) -> None:
        host = httpx.URL(self.base_url).host
        if host != LOOPBACK:
            raise ValueError(f"load runs target {LOOPBACK} only, not {host}")


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadResult:
    """What one run measured."""

    generator: str
    requests: int
    errors: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    exhausted: bool = False

    @property
    def requests_per_s(self) -> float:
        """Completed requests (errors included) per second of run time."""
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0


def percentile_ms(sorted_latencies_s: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile of sorted latencies, in milliseconds."""
    if not sorted_latencies_s:
        return math.nan
    rank = max(1, math.ceil(percent / 100 * len(sorted_latencies_s)))
    return sorted_latencies_s[rank - 1] * 1000


async def _run_httpx(spec: LoadSpec) -> LoadResult:
    limit = spec.max_requests if spec.max_requests is not None else math.inf
    counter = itertools.count()
    latencies_s: list[float] = []
    errors = 0
    started = time.perf_counter()
    deadline = started + spec.duration_s

    async def worker() -> None:
        # One client (one keep-alive connection) per worker: a pool shared by all
        # workers halves httpx's throughput at 16 connections.
        nonlocal errors
        async with httpx.AsyncClient(
            base_url=spec.base_url, headers=dict(spec.headers), timeout=30
        ) as client:
            while (index := next(counter)) < limit and time.perf_counter() < deadline:
                path = spec.paths[index % len(spec.paths)]
                sent = time.perf_counter()
                try:
                    response = await client.request(
                        spec.method, path, content=spec.body
                    )
                    failed = response.status_code >= 400
                except httpx.HTTPError:
                    failed = True
                latencies_s.append(time.perf_counter() - sent)
                errors += failed

    await asyncio.gather(*(worker() for _ in range(spec.concurrency)))
    duration_s = time.perf_counter() - started
    latencies_s.sort()
    return LoadResult(
        generator=f"httpx {httpx.__version__} (asyncio)",
        requests=len(latencies_s),
        errors=errors,
        duration_s=duration_s,
        p50_ms=percentile_ms(latencies_s, 50),
        p99_ms=percentile_ms(latencies_s, 99),
        exhausted=len(latencies_s) >= limit,
    )


def run_httpx(spec: LoadSpec) -> LoadResult:
    """Run ``spec`` with the asyncio httpx generator (on uvloop when installed)."""
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        return asyncio.run(_run_httpx(spec))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_run_httpx(spec))
