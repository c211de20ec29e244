"""The update-check load generator: what an idle agent sends, over HTTPS with client
certificates, by many devices at once.

One check is what the agent's ``UpdateCycle.check`` sends when nothing changed
(``update_setup.build_update_cycle``): one ``UpdateFetcher`` on which ngclient's
``refresh()`` of each repository asks for root ``N+1`` (404: no new root) and
``timestamp.json`` (200, unchanged, so no snapshot or targets fetch), all on one
kept-alive TLS connection, then the status client's POST of the ``idle`` report on
its own connection (see ``agent_check_plan``).
``bench/update_bytes.py`` runs the real agent once and records how many requests
and connections it used, so the two can be compared.

wrk cannot present a client certificate per device, and httpx (tried first) spent
about 26 ms of client CPU per check, more than the hello-world server, so the
client is asyncio streams (uvloop when installed) with TLS by OpenSSL and requests
written by hand with the fetcher's headers: ``concurrency`` workers, each owning
its devices (a device never has two checks in flight), bounded in count and time,
targeting only 127.0.0.1. A check succeeds only when every answer has the expected
status. The baseline runs the same pattern (the same connections, the same number
of requests on each) against the hello-world.
"""

import asyncio
import contextlib
import json
import ssl
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.attest_load import server_cpu_s
from bench.load import LOOPBACK, percentile_ms
from bench.update_target import CertifiedDevice

TUF_PATH = "/api/v1/device/tuf/"
STATUS_PATH = "/api/v1/device/update-status"
REQUEST_TIMEOUT_S = 30.0
AGENT_HEADERS = {"User-Agent": "sevenfold-agent", "Accept-Encoding": "identity"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Exchange:
    """One request of a check and the status that means it worked."""

    method: str
    path: str
    expected_status: int
    json_body: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckPlan:
    """The requests of one check, grouped by the TLS connection that carries them."""

    connections: tuple[tuple[Exchange, ...], ...]

    @property
    def requests(self) -> int:
        """Requests per check."""
        return sum(len(exchanges) for exchanges in self.connections)


def agent_check_plan(
    next_root_versions: dict[str, int], idle_report: dict[str, Any]
) -> CheckPlan:
    """The no-op check as the agent's connections carry it.

    The fetcher reads a small error body and keeps its connection, so the whole
    refresh of both repositories is one connection: image root (404), image
    timestamp (200), director root (404), director timestamp (200) | the idle report
    (200) on the status client's connection.
    """

    def root(repository: str) -> Exchange:
        version = next_root_versions[repository]
        path = f"{TUF_PATH}{repository}/{version}.root.json"
        return Exchange(method="GET", path=path, expected_status=404)

    def timestamp(repository: str) -> Exchange:
        path = f"{TUF_PATH}{repository}/timestamp.json"
        return Exchange(method="GET", path=path, expected_status=200)

    report = Exchange(
        method="POST", path=STATUS_PATH, expected_status=200, json_body=idle_report
    )
    return CheckPlan(
        connections=(
            (
                root("image"),
                timestamp("image"),
                root("director"),
                timestamp("director"),
            ),
            (report,),
        )
    )


def baseline_plan(pattern: CheckPlan) -> CheckPlan:
    """``pattern``'s connections and request counts with the hello-world's
    ``GET /`` for every request."""
    hello = Exchange(method="GET", path="/", expected_status=200)
    return CheckPlan(
        connections=tuple(
            (hello,) * len(exchanges) for exchanges in pattern.connections
        )
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    """What one check run measured."""

    checks: int
    requests_per_check: int
    failures: Counter[str] = field(default_factory=Counter)
    duration_s: float
    p50_ms: float
    p99_ms: float
    client_cpu_s: float
    server_cpu_s: float | None

    @property
    def successes(self) -> int:
        """Checks whose every answer was as expected."""
        return self.checks - sum(self.failures.values())

    @property
    def checks_per_s(self) -> float:
        """Successful checks per second of run time."""
        return self.successes / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def requests_per_s(self) -> float:
        """Requests of successful checks per second."""
        return self.checks_per_s * self.requests_per_check

    def share(self, cpu_s: float | None) -> float | None:
        """CPU seconds as a share of one core over the run."""
        if cpu_s is None or self.duration_s <= 0:
            return None
        return cpu_s / self.duration_s


def request_bytes(exchange: Exchange, host: str) -> bytes:
    """The HTTP/1.1 request as the agent's fetcher would write it (its headers)."""
    body = (
        b"" if exchange.json_body is None else json.dumps(exchange.json_body).encode()
    )
    lines = [f"{exchange.method} {exchange.path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in AGENT_HEADERS.items()]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _answer_status(reader: asyncio.StreamReader) -> int:
    """Read one response (it must carry ``Content-Length``); return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    length = None
    for line in header_lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if length is None:
        raise ConnectionError("a response without Content-Length")
    await reader.readexactly(length)
    return int(status_line.split()[1])


async def one_check(
    base_url: str, device: CertifiedDevice, plan: CheckPlan
) -> str | None:
    """Run one check for ``device``: each group of requests on its own new TLS
    connection; ``None`` if every answer was as expected, else the first failure."""
    url = httpx.URL(base_url)
    host = f"{url.host}:{url.port}"
    failure = None
    for exchanges in plan.connections:
        reader, writer = await asyncio.open_connection(
            url.host, url.port, ssl=device.context
        )
        try:
            for exchange in exchanges:
                writer.write(request_bytes(exchange, host))
                status = await _answer_status(reader)
                if failure is None and status != exchange.expected_status:
                    name = exchange.path.rsplit("/", 1)[-1]
                    failure = f"{exchange.method} {name} {status}"
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
    return failure


async def _run(
    base_url: str,
    devices: Sequence[CertifiedDevice],
    plan: CheckPlan,
    *,
    concurrency: int,
    duration_s: float,
    max_checks: int,
) -> CheckResult:
    if httpx.URL(base_url).host != LOOPBACK:
        raise ValueError(f"update check runs target {LOOPBACK} only")
    if len(devices) < concurrency:
        raise ValueError("need at least one device per worker")
    latencies_s: list[float] = []
    failures: Counter[str] = Counter()
    started_count = 0

    async def worker(own: Sequence[CertifiedDevice], deadline: float) -> None:
        nonlocal started_count
        index = 0
        while started_count < max_checks and time.perf_counter() < deadline:
            started_count += 1
            device = own[index % len(own)]
            index += 1
            sent = time.perf_counter()
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT_S):
                    failure = await one_check(base_url, device, plan)
            except (OSError, EOFError, ValueError, TimeoutError) as err:
                failure = type(err).__name__
            latencies_s.append(time.perf_counter() - sent)
            if failure is not None:
                failures[failure] += 1

    cpu_before, server_before = time.process_time(), server_cpu_s()
    started = time.perf_counter()
    deadline = started + duration_s
    await asyncio.gather(
        *(worker(devices[i::concurrency], deadline) for i in range(concurrency))
    )
    duration = time.perf_counter() - started
    cpu_after, server_after = time.process_time(), server_cpu_s()
    latencies_s.sort()
    return CheckResult(
        checks=len(latencies_s),
        requests_per_check=plan.requests,
        failures=failures,
        duration_s=duration,
        p50_ms=percentile_ms(latencies_s, 50),
        p99_ms=percentile_ms(latencies_s, 99),
        client_cpu_s=cpu_after - cpu_before,
        server_cpu_s=(
            None
            if server_before is None or server_after is None
            else server_after - server_before
        ),
    )


def run_checks(
    base_url: str,
    devices: Sequence[CertifiedDevice],
    plan: CheckPlan,
    *,
    concurrency: int,
    duration_s: float,
    max_checks: int,
) -> CheckResult:
    """Run ``plan`` by ``devices`` in turn for ``duration_s`` (uvloop if installed)."""
    coroutine = _run(
        base_url,
        devices,
        plan,
        concurrency=concurrency,
        duration_s=duration_s,
        max_checks=max_checks,
    )
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)
