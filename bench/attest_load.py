"""The attestation load generator: nonce request + signed evidence, over HTTP.

wrk cannot drive this flow (the evidence must sign the nonce the first response
returns), so an asyncio httpx client does: a fixed number of workers, each on its own
keep-alive connection and owning its own devices (so one device never has two
attestations in flight), bounded in count and in time. One attestation is the nonce
request plus the evidence POST; it succeeds when the evidence answer is 200 with a
certificate. The evidence is signed in this process when the nonce arrives; the time
spent signing, the process's CPU time and the server process's CPU time are all
recorded so the report can say what bounds the figure.
"""

import asyncio
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.dice_devices import BenchDevice
from bench.load import LOOPBACK, percentile_ms

NONCES = "/api/v1/device/attestation/nonces"
EVIDENCE = "/api/v1/device/attestation/evidence"
REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class AttestResult:
    """What one attestation run measured."""

    attestations: int
    failures: Counter[str] = field(default_factory=Counter)
    duration_s: float
    p50_ms: float
    p99_ms: float
    client_cpu_s: float
    client_sign_s: float
    server_cpu_s: float | None

    @property
    def successes(self) -> int:
        """Attestations that ended with a certificate."""
        return self.attestations - sum(self.failures.values())

    @property
    def per_s(self) -> float:
        """Successful attestations per second of run time."""
        return self.successes / self.duration_s if self.duration_s > 0 else 0.0

    def share(self, cpu_s: float | None) -> float | None:
        """CPU seconds as a share of one core over the run."""
        if cpu_s is None or self.duration_s <= 0:
            return None
        return cpu_s / self.duration_s


def server_cpu_s() -> float | None:
    """User + system CPU seconds of this process's ``bench.serve`` children."""
    total = 0.0
    found = False
    tick = os.sysconf("SC_CLK_TCK")
    for children in Path("/proc/self/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            if b"bench.serve" not in cmdline:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            found = True
    return total if found else None


async def _run(
    base_url: str,
    devices: Sequence[BenchDevice],
    *,
    concurrency: int,
    duration_s: float,
    max_attestations: int,
) -> AttestResult:
    if httpx.URL(base_url).host != LOOPBACK:
        raise ValueError(f"attestation runs target {LOOPBACK} only")
    if len(devices) < concurrency:
        raise ValueError("need at least one device per worker")
    latencies_s: list[float] = []
    failures: Counter[str] = Counter()
    sign_s = 0.0
    started_count = 0

    async def worker(own: Sequence[BenchDevice], deadline: float) -> None:
        nonlocal sign_s, started_count
        async with httpx.AsyncClient(
            base_url=base_url, timeout=REQUEST_TIMEOUT_S
        ) as client:
            index = 0
            while started_count < max_attestations and time.perf_counter() < deadline:
                started_count += 1
                device = own[index % len(own)]
                index += 1
                sent = time.perf_counter()
                try:
                    nonce = await client.post(NONCES, json=device.nonce_body())
                    if nonce.status_code != 201:
                        failures[f"nonce {nonce.status_code}"] += 1
                        continue
                    signing = time.perf_counter()
                    body = device.evidence_body(nonce.json()["nonce"])
                    sign_s += time.perf_counter() - signing
                    answer = await client.post(EVIDENCE, json=body)
                    if answer.status_code != 200 or "certificate" not in answer.json():
                        failures[f"evidence {answer.status_code}"] += 1
                except httpx.HTTPError as err:
                    failures[type(err).__name__] += 1
                finally:
                    latencies_s.append(time.perf_counter() - sent)

    cpu_before, server_before = time.process_time(), server_cpu_s()
    started = time.perf_counter()
    deadline = started + duration_s
    await asyncio.gather(
        *(worker(devices[i::concurrency], deadline) for i in range(concurrency))
    )
    duration = time.perf_counter() - started
    cpu_after, server_after = time.process_time(), server_cpu_s()
    latencies_s.sort()
    return AttestResult(
        attestations=len(latencies_s),
        failures=failures,
        duration_s=duration,
        p50_ms=percentile_ms(latencies_s, 50),
        p99_ms=percentile_ms(latencies_s, 99),
        client_cpu_s=cpu_after - cpu_before,
        client_sign_s=sign_s,
        server_cpu_s=(
            None
            if server_before is None or server_after is None
            else server_after - server_before
        ),
    )


def run_attestations(
    base_url: str,
    devices: Sequence[BenchDevice],
    *,
    concurrency: int,
    duration_s: float,
    max_attestations: int,
) -> AttestResult:
    """Attest ``devices`` in turn for ``duration_s`` (uvloop when installed)."""
    coroutine = _run(
        base_url,
        devices,
        concurrency=concurrency,
        duration_s=duration_s,
        max_attestations=max_attestations,
    )
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)
