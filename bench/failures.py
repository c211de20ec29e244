"""Failure-report benchmark: ingestion rate, duplicate re-sends, halt latency.

Run ``bench/run-failures`` (= ``.venv/bin/python -m bench.failures``) from the
repository root. Per backend (SQLite file, then a throwaway PostgreSQL cluster),
against the service over HTTPS with client certificates (one uvicorn worker in its
own process, as ``sevenfold serve --tls-cert`` runs it; the update bench's
launcher and set-up), with ``--devices`` attested devices:

1. the baseline, in the same run on the same server: the no-op authenticated
   ``POST /api/v1/device/update-status`` (an unchanged ``idle`` report, which
   writes nothing), each POST on a fresh TLS connection with the device's
   certificate;
2. ingestion: ``POST /api/v1/device/failure-reports`` with batches of
   ``--batch-events`` new events (unique random ids) in the same pattern; events
   stored per second are counted as rows added to ``failure_events``;
3. duplicates: the batches stored in 2, sent again by the same devices (the
   service acknowledges them and stores nothing; the row count must not move);
4. halt latency (``bench/failure_halt.py``): from the POST of the failure batch
   that crosses a rollout's threshold to ``GET /api/v1/rollouts/{id}`` reading
   ``paused``, over ``--halt-runs`` rollouts, with the service's
   ``rollout_evaluation_interval_s`` (its default unless
   ``SEVENFOLD_ROLLOUT_EVALUATION_INTERVAL_S`` is set).

Figures are printed and written to ``bench/results/failures.json`` and ``.md``;
nothing asserts a timing.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.dice_devices import OS_VERSION
from bench.environment import benchmark_database, machine_facts
from bench.failure_halt import HaltBench, HaltFigures
from bench.failure_load import (
    STATUS_PATH,
    PostResult,
    SentBatches,
    post_duplicate_batches,
    post_fresh_batches,
    post_status_reports,
    stored_event_count,
)
from bench.update_target import (
    CertifiedDevice,
    TlsServiceTarget,
    certify_devices,
    sevenfold_tls_server,
)
from sevenfold.protocol.failures import MAX_BATCH_EVENTS
from sevenfold.protocol.updates import UpdateState, UpdateStatusReport
from sevenfold.service.settings import ServiceSettings

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPRODUCE = "bench/run-failures"
EVALUATION_INTERVAL_ENV = "SEVENFOLD_ROLLOUT_EVALUATION_INTERVAL_S"
LOAD_HEADER = [
    "scenario", "backend", "POSTs/s", "events/s", "stored/s", "p50 ms", "p99 ms",
    "vs baseline", "notes",
]  # fmt: skip
HALT_HEADER = [
    "halt latency (crossing POST -> paused)", "backend", "runs", "median ms",
    "max ms", "wave opened after (median s)",
]  # fmt: skip


@dataclass(slots=True)
class BackendFigures:
    """One backend's figures, or why it was skipped."""

    backend: str
    baseline: PostResult | None = None
    fresh: PostResult | None = None
    duplicates: PostResult | None = None
    halts: HaltFigures | None = None
    note: str = ""


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.failures", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--duration-s", type=float, default=10.0)
    parser.add_argument("--warmup-s", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=8, help="device clients")
    parser.add_argument("--devices", type=int, default=16, help="attested devices")
    parser.add_argument("--batch-events", type=int, default=MAX_BATCH_EVENTS)
    parser.add_argument("--halt-runs", type=int, default=5)
    parser.add_argument("--halt-devices", type=int, default=5)
    parser.add_argument("--halt-threshold-percent", type=float, default=40.0)
    parser.add_argument(
        "--backends", default="sqlite,postgresql", help="comma-separated"
    )
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.devices < max(args.concurrency, args.halt_devices):
        parser.error("--devices must be at least --concurrency and --halt-devices")
    if not 1 <= args.batch_events <= MAX_BATCH_EVENTS:
        parser.error(f"--batch-events is 1-{MAX_BATCH_EVENTS}")
    if args.halt_runs < 0 or not 0 <= args.halt_threshold_percent < 100:
        parser.error("--halt-runs >= 0 and --halt-threshold-percent 0-99")
    return args


def _evaluation_interval_s() -> float:
    """The interval the service process runs with (it inherits the environment)."""
    configured = os.environ.get(EVALUATION_INTERVAL_ENV)
    if configured:
        return float(configured)
    default = ServiceSettings.model_fields["rollout_evaluation_interval_s"].default
    return float(default)


def _idle_report() -> dict[str, Any]:
    return UpdateStatusReport(state=UpdateState.IDLE, os_version=OS_VERSION).to_json()


def _prime(service: TlsServiceTarget, devices: list[CertifiedDevice]) -> None:
    """Each device reports ``idle`` once, unmeasured: the first report stores the
    device's status row; the baseline measures the unchanged ones after it."""
    for device in devices:
        with httpx.Client(
            base_url=service.base_url, verify=device.context, trust_env=False
        ) as client:
            client.post(STATUS_PATH, json=_idle_report()).raise_for_status()


def _print(label: str, result: PostResult) -> None:
    stored = (
        "" if result.stored_per_s is None else f", {result.stored_per_s:,.0f} stored/s"
    )
    print(
        f"  {label}: {result.posts_per_s:,.1f} POSTs/s "
        f"({result.events_per_s:,.0f} events/s{stored}), p50 {result.p50_ms:.1f} ms, "
        f"p99 {result.p99_ms:.1f} ms, {sum(result.failures.values())} failed "
        f"{dict(result.failures)}",
        flush=True,
    )


def _ingest(
    args: argparse.Namespace,
    service: TlsServiceTarget,
    devices: list[CertifiedDevice],
    database_url: str,
    row: BackendFigures,
) -> None:
    load = {"concurrency": args.concurrency}
    _prime(service, devices)
    post_status_reports(
        service.base_url, devices, _idle_report(), duration_s=args.warmup_s, **load
    )
    row.baseline = post_status_reports(
        service.base_url, devices, _idle_report(), duration_s=args.duration_s, **load
    )
    _print(f"baseline: idle update-status POST [{row.backend}]", row.baseline)
    events = {"events_per_post": args.batch_events, **load}
    post_fresh_batches(service.base_url, devices, duration_s=args.warmup_s, **events)
    sent = SentBatches()
    before = stored_event_count(database_url)
    fresh = post_fresh_batches(
        service.base_url, devices, duration_s=args.duration_s, sent=sent, **events
    )
    row.fresh = _with_stored(fresh, stored_event_count(database_url) - before)
    _print(f"new events [{row.backend}]", row.fresh)
    before = stored_event_count(database_url)
    duplicates = post_duplicate_batches(
        service.base_url, devices, sent, duration_s=args.duration_s, **events
    )
    row.duplicates = _with_stored(duplicates, stored_event_count(database_url) - before)
    _print(f"duplicate re-sends [{row.backend}]", row.duplicates)


def _with_stored(result: PostResult, stored: int) -> PostResult:
    return PostResult(
        posts=result.posts,
        events_per_post=result.events_per_post,
        failures=result.failures,
        duration_s=result.duration_s,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        server_cpu_s=result.server_cpu_s,
        stored_events=stored,
    )


def _run_backend(
    args: argparse.Namespace, row: BackendFigures, workdir: Path, meta: dict[str, Any]
) -> None:
    """Fill ``row`` with what the backend measured (as far as it got)."""
    backend = row.backend
    with benchmark_database(backend, workdir) as (url, migrate, version):
        meta["databases"][backend] = version
        meta["load_average_at_start"][backend] = os.getloadavg()
        directory = workdir / backend
        directory.mkdir()
        with sevenfold_tls_server(url, directory, migrate=migrate) as service:
            devices = certify_devices(service, args.devices, directory)
            _ingest(args, service, devices, url, row)
            if args.halt_runs:
                halts = HaltBench(
                    service,
                    devices[: args.halt_devices],
                    directory,
                    threshold_percent=args.halt_threshold_percent,
                )
                try:
                    row.halts = halts.measure(args.halt_runs)
                finally:
                    halts.close()
                print(
                    f"  halt latency [{backend}]: median {row.halts.median_ms:.0f} ms, "
                    f"max {row.halts.max_ms:.0f} ms over {len(row.halts.runs)} runs",
                    flush=True,
                )


def _fmt(value: float | None, pattern: str = "{:,.0f}") -> str:
    return "-" if value is None or math.isnan(value) else pattern.format(value)


def _load_line(
    scenario: str, backend: str, result: PostResult, base: PostResult | None
) -> list[str]:
    ratio = (
        f"{result.posts_per_s / base.posts_per_s:.2%}"
        if base is not None and base.posts_per_s
        else "-"
    )
    notes = []
    if (each := result.server_ms_per_post) is not None:
        notes.append(f"server CPU {each:.1f} ms per POST")
    failed = sum(result.failures.values())
    if failed:
        notes.append(f"{failed} failed ({dict(result.failures)})")
    return [
        scenario, backend, _fmt(result.posts_per_s, "{:,.1f}"),
        _fmt(result.events_per_s), _fmt(result.stored_per_s),
        _fmt(result.p50_ms, "{:.1f}"), _fmt(result.p99_ms, "{:.1f}"), ratio,
        "; ".join(notes),
    ]  # fmt: skip


def _tables(
    rows: list[BackendFigures], batch_events: int
) -> list[tuple[list[str], list[list[str]], set[int]]]:
    loads, halts = [], []
    for row in rows:
        if row.baseline is None or row.fresh is None or row.duplicates is None:
            loads.append(["failure reports", row.backend, *["-"] * 6, row.note])
            continue
        loads += [
            _load_line(
                "baseline: idle update-status POST (no-op, mTLS)",
                row.backend, row.baseline, None,
            ),
            _load_line(
                f"failure-reports POST, {batch_events} new events",
                row.backend, row.fresh, row.baseline,
            ),
            _load_line(
                f"failure-reports POST, {batch_events} duplicates (re-send)",
                row.backend, row.duplicates, row.baseline,
            ),
        ]  # fmt: skip
        if row.halts is not None and row.halts.runs:
            waits = sorted(run.wave_open_wait_s for run in row.halts.runs)
            halts.append(
                [
                    f"{row.halts.devices} devices ran, threshold "
                    f"{row.halts.threshold_percent:g} %",
                    row.backend, str(len(row.halts.runs)),
                    _fmt(row.halts.median_ms), _fmt(row.halts.max_ms),
                    f"{waits[len(waits) // 2]:.1f}",
                ]
            )  # fmt: skip
    return [
        (LOAD_HEADER, loads, {2, 3, 4, 5, 6, 7}),
        (HALT_HEADER, halts, {2, 3, 4, 5}),
    ]


def text_table(rows: list[BackendFigures], batch_events: int) -> str:
    """Aligned plain-text tables."""
    blocks = []
    for header, lines, numeric in _tables(rows, batch_events):
        every = [header, *lines]
        widths = [max(len(line[i]) for line in every) for i in range(len(header))]
        blocks.append(
            "\n".join(
                "  ".join(
                    cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
                    for i, cell in enumerate(line)
                ).rstrip()
                for line in every
            )
        )
    return "\n\n".join(blocks)


def markdown_table(rows: list[BackendFigures], meta: dict[str, Any]) -> str:
    """Markdown tables with a line on how and where they were measured."""
    parts = []
    for header, lines, numeric in _tables(rows, meta["batch_events"]):
        align = ["---:" if i in numeric else "---" for i in range(len(header))]
        parts.append(
            "\n".join(
                [
                    "| " + " | ".join(header) + " |",
                    "|" + "|".join(align) + "|",
                    *("| " + " | ".join(cells) + " |" for cells in lines),
                ]
            )
        )
    loads = ", ".join(
        f"{name} {values[0]:.1f}"
        for name, values in meta["load_average_at_start"].items()
    )
    parts.append(
        f"{meta['generator']}, {meta['concurrency']} concurrent device clients over "
        f"{meta['devices']} attested devices, each POST on a fresh TLS connection "
        f"with the device's client certificate, {meta['duration_s']:g} s per figure "
        f"after {meta['warmup_s']:g} s warm-up; stored/s = rows added to "
        f"failure_events; one uvicorn worker (h11, TLS as `sevenfold serve "
        f"--tls-cert`); halt latency polled every 10 ms with "
        f"rollout_evaluation_interval_s = {meta['rollout_evaluation_interval_s']:g}; "
        f"{meta['cpu_count']} CPUs ({meta['cpu_model']}), 1-minute load average at "
        f"each backend's start: {loads}; {meta['measured_at']}, commit "
        f"{meta['commit']}. Reproduce: `{REPRODUCE}`."
    )
    return "\n\n".join(parts) + "\n"


def to_json(rows: list[BackendFigures], meta: dict[str, Any]) -> dict[str, Any]:
    """Every figure, unrounded, with the run's metadata."""
    backends = []
    for row in rows:
        entry: dict[str, Any] = {"backend": row.backend, "note": row.note}
        for name in ("baseline", "fresh", "duplicates"):
            result: PostResult | None = getattr(row, name)
            entry[name] = None if result is None else result.to_json()
        entry["halts"] = None if row.halts is None else row.halts.to_json()
        backends.append(entry)
    return {"meta": meta, "backends": backends}


def write_outputs(
    directory: Path, rows: list[BackendFigures], meta: dict[str, Any]
) -> tuple[Path, Path]:
    """Write ``failures.json`` and ``failures.md``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "failures.json"
    json_path.write_text(json.dumps(to_json(rows, meta), indent=2) + "\n")
    md_path = directory / "failures.md"
    md_path.write_text(markdown_table(rows, meta))
    return json_path, md_path


def main(argv: list[str] | None = None) -> int:
    """Measure every backend; print and write the figures."""
    args = _parse(argv)
    meta: dict[str, Any] = {
        "generator": "asyncio-streams client (uvloop, OpenSSL TLS, HTTP/1.1 by hand)",
        "concurrency": args.concurrency,
        "devices": args.devices,
        "duration_s": args.duration_s,
        "warmup_s": args.warmup_s,
        "batch_events": args.batch_events,
        "halt_runs": args.halt_runs,
        "rollout_evaluation_interval_s": _evaluation_interval_s(),
        **machine_facts(),
        "load_average_at_start": {},
        "databases": {},
    }
    rows: list[BackendFigures] = []
    with tempfile.TemporaryDirectory(prefix="sevenfold-bench-") as tmp:
        workdir = Path(tmp)
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            print(f"{backend}: setting up {args.devices} devices", flush=True)
            row = BackendFigures(backend)
            rows.append(row)
            try:
                _run_backend(args, row, workdir, meta)
            except (
                RuntimeError, OSError, subprocess.CalledProcessError, httpx.HTTPError
            ) as err:  # fmt: skip
                print(f"{backend}: stopped: {err}", file=sys.stderr, flush=True)
                row.note = f"stopped: {err}"[:300]
    print()
    print(text_table(rows, args.batch_events))
    json_path, md_path = write_outputs(args.output_dir, rows, meta)
    print(f"\nwrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
