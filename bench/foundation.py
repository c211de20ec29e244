"""Foundation benchmark: authenticated device-list reads and single claims.

Run ``.venv/bin/python -m bench.foundation`` (or ``bench/run``) from the repository
root. It measures, each with its own warm-up and in this order:

1. a bare Starlette hello-world (the baseline: the same uvicorn settings, the same
   load generator, the same run);
2. per backend (SQLite file, then a throwaway PostgreSQL cluster): GET
   ``/api/v1/devices?limit=100`` with a few hundred claimed devices, then POST
   ``/api/v1/devices/{id}/claim`` with every request claiming a fresh registered
   device into a group.

Every server is one uvicorn worker in its own process; the load generator (wrk, or
an asyncio httpx client when wrk is unavailable) runs outside it and targets only
127.0.0.1. The figures are printed and written to ``bench/results/foundation.json``
and ``.md``. Nothing here asserts a timing.
"""

import argparse
import json
import math
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench.environment import benchmark_database, machine_facts
from bench.load import LoadResult, LoadSpec, run_httpx
from bench.report import Row, text_table, write_outputs
from bench.servers import server_process
from bench.target import ServiceTarget, register, register_and_claim, sevenfold_server
from bench.wrk import find_wrk, run_wrk, wrk_version

RESULTS_DIR = Path(__file__).resolve().parent / "results"
WARMUP_CLAIM_BUDGET = 3000
CLAIM_BUDGET_MARGIN = 1.6
MAX_CLAIM_BUDGET = 60_000
Generator = Callable[[LoadSpec], LoadResult]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.foundation", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--duration-s", type=float, default=10.0)
    parser.add_argument("--warmup-s", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--list-devices", type=int, default=300)
    parser.add_argument(
        "--backends", default="sqlite,postgresql", help="comma-separated"
    )
    parser.add_argument("--generator", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument(
        "--no-install", action="store_true", help="never apt-get install wrk"
    )
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR)
    return parser.parse_args(argv)


def _generator(choice: str, *, install: bool) -> tuple[Generator, str]:
    if choice != "httpx":
        binary = find_wrk(install=install)
        if binary is not None:
            return partial(run_wrk, binary), f"{wrk_version(binary)}, 1 thread"
        if choice == "wrk":
            raise SystemExit("wrk is not installed and could not be installed")
        print(
            "wrk unavailable; falling back to the asyncio httpx generator, which "
            "saturates long before the baseline does (ratios overstate the service)"
        )
    return run_httpx, f"httpx {httpx.__version__} asyncio client"


class Bench:
    """Runs scenarios with one generator and settings, collecting table rows."""

    def __init__(self, args: argparse.Namespace, generator: Generator) -> None:
        self.args = args
        self.generator = generator
        self.rows: list[Row] = []
        self.baseline: LoadResult | None = None

    def _spec(
        self, base_url: str, method: str, paths: list[str], **kw: Any
    ) -> LoadSpec:
        return LoadSpec(
            base_url=base_url,
            method=method,
            paths=paths,
            headers=kw.pop("headers", {}),
            body=kw.pop("body", None),
            concurrency=self.args.concurrency,
            duration_s=kw.pop("duration_s", self.args.duration_s),
            max_requests=kw.pop("max_requests", None),
        )

    def _record(self, scenario: str, backend: str, result: LoadResult) -> None:
        self.rows.append(Row(scenario, backend, result))
        print(
            f"  {scenario} [{backend}]: {result.requests_per_s:,.0f} req/s, "
            f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
            f"{result.requests} requests, {result.errors} errors",
            flush=True,
        )

    def baseline_run(self, workdir: Path) -> None:
        """The hello-world, measured like every other figure."""
        print("baseline: bare Starlette hello-world", flush=True)
        with server_process(
            ["hello"], ready_path="/", log_file=workdir / "hello.log"
        ) as base_url:
            headers = {"Authorization": "Bearer sf_baseline_sends_the_same_header"}
            spec = self._spec(base_url, "GET", ["/"], headers=headers)
            self.generator(
                self._spec(base_url, "GET", ["/"], duration_s=self.args.warmup_s)
            )
            self.baseline = self.generator(spec)
        self._record("baseline: Starlette hello-world", "-", self.baseline)

    def service_runs(self, backend: str, target: ServiceTarget) -> None:
        """Device list reads, then single claims, on one backend."""
        register_and_claim(target, self.args.list_devices)
        list_spec = self._spec(
            target.base_url,
            "GET",
            ["/api/v1/devices?limit=100"],
            headers=target.headers,
        )
        self.generator(self._warm(list_spec))
        self._record(
            f"GET /devices?limit=100 ({self.args.list_devices} claimed)",
            backend,
            self.generator(list_spec),
        )

        warmup = self._claims(target, register(target, WARMUP_CLAIM_BUDGET), warm=True)
        rate = self.generator(warmup).requests_per_s
        budget = min(
            MAX_CLAIM_BUDGET,
            math.ceil(rate * self.args.duration_s * CLAIM_BUDGET_MARGIN) + 500,
        )
        claims = self._claims(target, register(target, budget), warm=False)
        self._record(
            "POST /devices/{id}/claim (fresh device)", backend, self.generator(claims)
        )

    def _warm(self, spec: LoadSpec) -> LoadSpec:
        return self._spec(
            spec.base_url,
            spec.method,
            list(spec.paths),
            headers=dict(spec.headers),
            body=spec.body,
            duration_s=self.args.warmup_s,
            max_requests=spec.max_requests,
        )

    def _claims(
        self, target: ServiceTarget, device_ids: list[str], *, warm: bool
    ) -> LoadSpec:
        return self._spec(
            target.base_url,
            "POST",
            [f"/api/v1/devices/{device_id}/claim" for device_id in device_ids],
            headers={**target.headers, "Content-Type": "application/json"},
            body=json.dumps({"device_group_id": target.group_id}).encode(),
            duration_s=self.args.warmup_s if warm else self.args.duration_s,
            max_requests=len(device_ids),
        )


def _meta(args: argparse.Namespace, generator: str) -> dict[str, Any]:
    return {
        "generator": generator,
        "concurrency": args.concurrency,
        "duration_s": args.duration_s,
        "warmup_s": args.warmup_s,
        "list_devices": args.list_devices,
        **machine_facts(),
        "databases": {},
    }


def main(argv: list[str] | None = None) -> int:
    """Run every scenario, print the table, write JSON and Markdown."""
    args = _parse(argv)
    generator, label = _generator(args.generator, install=not args.no_install)
    meta = _meta(args, label)
    bench = Bench(args, generator)
    print(f"load generator: {label}; {args.concurrency} connections", flush=True)
    with tempfile.TemporaryDirectory(prefix="sevenfold-bench-") as tmp:
        workdir = Path(tmp)
        bench.baseline_run(workdir)
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            print(f"{backend}: setting up", flush=True)
            try:
                with benchmark_database(backend, workdir) as (url, migrate, version):
                    meta["databases"][backend] = version
                    (workdir / backend).mkdir()
                    with sevenfold_server(
                        url, workdir / backend, migrate=migrate
                    ) as target:
                        bench.service_runs(backend, target)
            except (RuntimeError, OSError, subprocess.CalledProcessError) as err:
                print(f"{backend}: skipped: {err}", file=sys.stderr, flush=True)
                bench.rows.append(Row("(all)", backend, None, f"skipped: {err}"))
    print()
    print(text_table(bench.rows, bench.baseline))
    json_path, md_path = write_outputs(
        args.output_dir, "foundation", bench.rows, bench.baseline, meta
    )
    print(f"\nwrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
