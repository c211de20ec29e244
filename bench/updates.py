"""Update benchmark: no-op update checks per second, their bytes, image downloads.

Run ``bench/run-updates`` (= ``.venv/bin/python -m bench.updates``) from the
repository root. Per backend (SQLite file, then a throwaway PostgreSQL cluster),
against the service over HTTPS with client certificates (one uvicorn worker in its
own process, as ``sevenfold serve --tls-cert`` runs it), with an OS release of
``--image-mib`` published and ``--devices`` attested devices already running it:

1. the bytes of one no-op check sent by the real agent (``UpdateCycle`` over
   ``UpdateClient``, ``UpdateFetcher``, ``UpdateStatusClient``), HTTP and wire;
2. (first backend only) the baseline: the Starlette hello-world over the same TLS,
   verifying the same device certificates, driven with the same request pattern;
3. no-op checks per second by concurrent devices (``bench/update_load.py``), after
   every device has checked once (its first check publishes its director metadata);
4. downloads of the OS image by the agent's fetcher and by curl, from the service's
   target route (mTLS) and from a static mirror of the artifact directory.

Figures are printed and written to ``bench/results/updates.json`` and ``.md``;
nothing asserts a timing.
"""

import argparse
import os
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.environment import benchmark_database, machine_facts
from bench.serve_tls import tls_server_process
from bench.update_bytes import agent_check_bytes
from bench.update_download import measure_downloads
from bench.update_load import (
    CheckPlan,
    CheckResult,
    agent_check_plan,
    baseline_plan,
    run_checks,
)
from bench.update_report import BackendFigures, text_table, write_outputs
from bench.update_target import UpdateTarget, set_up, sevenfold_tls_server
from sevenfold.protocol.clock import SystemClock
from sevenfold.protocol.updates import UpdateState, UpdateStatusReport
from sevenfold.service.ca import service as ca_service
from sevenfold.service.db.engine import make_engine, make_session_factory

RESULTS_DIR = Path(__file__).resolve().parent / "results"
MAX_CHECKS = 500_000
PRIME_LIMIT_S = 300.0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.updates", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--duration-s", type=float, default=10.0)
    parser.add_argument("--warmup-s", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--devices", type=int, default=200, help="attested devices")
    parser.add_argument(
        "--image-mib", type=float, default=64.0, help="OS image payload, MiB"
    )
    parser.add_argument("--download-repeats", type=int, default=5)
    parser.add_argument(
        "--backends", default="sqlite,postgresql", help="comma-separated"
    )
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.devices < args.concurrency:
        parser.error("--devices must be at least --concurrency")
    if args.image_mib <= 0 or args.download_repeats < 1:
        parser.error("--image-mib and --download-repeats must be positive")
    return args


def _idle_report(target: UpdateTarget) -> dict[str, Any]:
    """The report an up-to-date agent posts after a check (``UpdateCycle._status``)."""
    running = target.release.as_installed()
    return UpdateStatusReport(
        state=UpdateState.IDLE,
        os_version=target.release.version,
        installed=(running,),
        targeted=(running,),
    ).to_json()


def _tenant_cas(database_url: str, path: Path) -> Path:
    """Write the tenant CA certificates valid now to ``path`` (for the baseline)."""
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            pems = ca_service.valid_ca_certificates(
                session=session, now=SystemClock().now()
            )
    finally:
        engine.dispose()
    path.write_text("".join(pems))
    return path


def _prime(
    args: argparse.Namespace, base_url: str, target: UpdateTarget, plan: CheckPlan
) -> None:
    """Every device checks once, unmeasured: a device's first check publishes its
    director metadata (targets, snapshot, timestamp signed and stored), a real
    change that the no-op checks measured afterwards must not be charged for."""
    run_checks(
        base_url,
        target.devices,
        plan,
        concurrency=args.concurrency,
        duration_s=PRIME_LIMIT_S,
        max_checks=len(target.devices),
    )


def _measure(
    args: argparse.Namespace, base_url: str, target: UpdateTarget, plan: CheckPlan
) -> CheckResult:
    results = [
        run_checks(
            base_url,
            target.devices,
            plan,
            concurrency=args.concurrency,
            duration_s=seconds,
            max_checks=MAX_CHECKS,
        )
        for seconds in (args.warmup_s, args.duration_s)
    ]
    return results[-1]


def _baseline(
    args: argparse.Namespace,
    target: UpdateTarget,
    plan: CheckPlan,
    database_url: str,
    workdir: Path,
) -> CheckResult:
    tls = target.service.tls
    arguments = [
        "hello",
        *("--tls-cert", str(tls.certificate_file), "--tls-key", str(tls.key_file)),
        *("--client-ca", str(_tenant_cas(database_url, workdir / "tenant-cas.pem"))),
    ]
    with tls_server_process(
        arguments,
        client_context=tls.client_context(),
        ready_path="/",
        log_file=workdir / "hello.log",
    ) as base_url:
        return _measure(args, base_url, target, baseline_plan(plan))


def _print_checks(label: str, result: CheckResult) -> None:
    print(
        f"  {label}: {result.checks_per_s:,.0f} checks/s "
        f"({result.requests_per_s:,.0f} req/s), p50 {result.p50_ms:.1f} ms, "
        f"p99 {result.p99_ms:.1f} ms, {sum(result.failures.values())} failed "
        f"{dict(result.failures)}",
        flush=True,
    )


def _curl_version() -> str:
    result = subprocess.run(
        ["curl", "--version"], capture_output=True, text=True, check=False
    )
    return " ".join(result.stdout.split()[:2]) or "curl"


def _meta(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "generator": "asyncio-streams client (uvloop, OpenSSL TLS, HTTP/1.1 by hand)",
        "concurrency": args.concurrency,
        "devices": args.devices,
        "duration_s": args.duration_s,
        "warmup_s": args.warmup_s,
        "image_bytes": int(args.image_mib * 2**20),
        "download_repeats": args.download_repeats,
        "curl": _curl_version(),
        **machine_facts(),
        "python_ssl": ssl.OPENSSL_VERSION,
        "load_average_at_start": {},
        "databases": {},
    }


def _run_backend(
    args: argparse.Namespace,
    backend: str,
    workdir: Path,
    meta: dict[str, Any],
    baseline: list[CheckResult],
) -> BackendFigures:
    with benchmark_database(backend, workdir) as (url, migrate, version):
        meta["databases"][backend] = version
        meta["load_average_at_start"][backend] = os.getloadavg()
        directory = workdir / backend
        directory.mkdir()
        with sevenfold_tls_server(url, directory, migrate=migrate) as service:
            target = set_up(
                service,
                directory,
                devices=args.devices,
                image_bytes=meta["image_bytes"],
            )
            counted = agent_check_bytes(target, target.devices[0], directory)
            print(
                f"  one no-op check [{backend}]: {counted.requests} requests, "
                f"{counted.http_bytes:,} HTTP bytes, {counted.wire_bytes:,} on the "
                f"wire ({counted.connections} TLS connections)",
                flush=True,
            )
            plan = agent_check_plan(counted.next_root_versions, _idle_report(target))
            if (counted.requests, counted.connections) != (
                plan.requests,
                len(plan.connections),
            ):
                raise RuntimeError(
                    f"the agent sent {counted.requests} requests over "
                    f"{counted.connections} connections; the load generator's "
                    f"check is {plan.requests} over {len(plan.connections)}"
                )
            if not baseline:
                baseline.append(_baseline(args, target, plan, url, directory))
                _print_checks("baseline (hello-world)", baseline[0])
            _prime(args, target.base_url, target, plan)
            checks = _measure(args, target.base_url, target, plan)
            _print_checks(f"no-op checks [{backend}]", checks)
            downloads = measure_downloads(
                target,
                target.devices[0],
                repeats=args.download_repeats,
                workdir=directory,
            )
            for download in downloads:
                print(
                    f"  download [{backend}] {download.source}, {download.client}: "
                    f"{download.mb_per_s:,.0f} MB/s",
                    flush=True,
                )
    return BackendFigures(backend, checks, counted, downloads)


def main(argv: list[str] | None = None) -> int:
    """Measure every backend; print and write the figures."""
    args = _parse(argv)
    meta = _meta(args)
    rows: list[BackendFigures] = []
    baseline: list[CheckResult] = []
    with tempfile.TemporaryDirectory(prefix="sevenfold-bench-") as tmp:
        workdir = Path(tmp)
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            print(f"{backend}: setting up {args.devices} devices", flush=True)
            try:
                rows.append(_run_backend(args, backend, workdir, meta, baseline))
            except (RuntimeError, OSError, subprocess.CalledProcessError) as err:
                print(f"{backend}: skipped: {err}", file=sys.stderr, flush=True)
                rows.append(BackendFigures(backend, note=f"skipped: {err}"))
    first = baseline[0] if baseline else None
    print()
    print(text_table(first, rows))
    json_path, md_path = write_outputs(args.output_dir, first, rows, meta)
    print(f"\nwrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
