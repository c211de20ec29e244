"""Attestation benchmark: end-to-end attestations with certificate issuance per second.

Run ``bench/run-attestation`` (= ``.venv/bin/python -m bench.attestation``) from the
repository root. It measures, in this order and in one run:

1. in-process, single-threaded, nothing else running: raw certificate issuance with
   ``cryptography`` (``issue_device_certificate`` in a loop: the ceiling), then the
   evidence check plus issuance, then single ECDSA P-256 signatures and verifications;
2. per backend (SQLite file, then a throwaway PostgreSQL cluster): end-to-end
   attestations over HTTP, each a nonce request and a signed evidence POST answered
   with a 24-hour device certificate, by claimed software-DICE devices whose product
   approves what they run.

The service is one uvicorn worker in its own process with a key-encryption key, set
up over HTTP like the foundation benchmark; the client is an asyncio httpx generator
(wrk cannot sign the nonce it receives) targeting only 127.0.0.1. Figures are printed
and written to ``bench/results/attestation.json`` and ``.md``; nothing asserts a timing.
"""

import argparse
import asyncio
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import cryptography
import httpx

from bench import crypto_ceiling
from bench.attest_load import AttestResult, run_attestations
from bench.attestation_report import AttestRow, text_table, write_outputs
from bench.dice_devices import BenchDevice, approvals, new_devices
from bench.environment import benchmark_database, machine_facts
from bench.target import ServiceTarget, claim, register_ids, sevenfold_server

RESULTS_DIR = Path(__file__).resolve().parent / "results"
MAX_ATTESTATIONS = 200_000


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.attestation", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--duration-s", type=float, default=10.0)
    parser.add_argument("--warmup-s", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--devices", type=int, default=256, help="claimed devices")
    parser.add_argument(
        "--crypto-s", type=float, default=3.0, help="seconds per in-process figure"
    )
    parser.add_argument(
        "--backends", default="sqlite,postgresql", help="comma-separated"
    )
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.devices < args.concurrency:
        parser.error("--devices must be at least --concurrency")
    return args


def _approve(target: ServiceTarget) -> None:
    async def go() -> None:
        async with httpx.AsyncClient(
            base_url=target.base_url + "/api/v1", headers=target.headers
        ) as client:
            for body in approvals():
                response = await client.post(
                    f"/products/{target.product_id}/approved-measurements", json=body
                )
                response.raise_for_status()

    asyncio.run(go())


def _attest(
    args: argparse.Namespace, target: ServiceTarget, devices: list[BenchDevice]
) -> AttestResult:
    """Enrol the devices over HTTP, warm up (the tenant CA is made then), measure."""
    device_ids = [device.device_id for device in devices]
    register_ids(target, device_ids)
    claim(target, device_ids)
    _approve(target)
    results = [
        run_attestations(
            target.base_url,
            devices,
            concurrency=args.concurrency,
            duration_s=seconds,
            max_attestations=MAX_ATTESTATIONS,
        )
        for seconds in (args.warmup_s, args.duration_s)
    ]
    return results[-1]


def _print_http(backend: str, result: AttestResult) -> None:
    print(
        f"  attestations [{backend}]: {result.per_s:,.0f}/s, p50 {result.p50_ms:.1f} "
        f"ms, p99 {result.p99_ms:.1f} ms, {result.successes} certified, "
        f"{sum(result.failures.values())} failed {dict(result.failures)}",
        flush=True,
    )


def _meta(args: argparse.Namespace) -> dict[str, Any]:
    from cryptography.hazmat.backends.openssl import backend  # noqa: PLC0415

    return {
        "generator": f"httpx {httpx.__version__} asyncio client",
        "concurrency": args.concurrency,
        "devices": args.devices,
        "duration_s": args.duration_s,
        "warmup_s": args.warmup_s,
        "crypto_s": args.crypto_s,
        **machine_facts(),
        "cryptography": cryptography.__version__,
        "openssl": backend.openssl_version_text(),
        "python_ssl": ssl.OPENSSL_VERSION,
        "databases": {},
    }


def main(argv: list[str] | None = None) -> int:
    """Measure the ceiling, then attestations per backend; print and write."""
    args = _parse(argv)
    meta = _meta(args)
    print(f"in-process figures, {args.crypto_s:g} s each", flush=True)
    crypto = crypto_ceiling.measure(args.crypto_s)
    for figure in crypto:
        print(f"  {figure.name}: {figure.per_s:,.0f}/s", flush=True)
    rows: list[AttestRow] = []
    devices = new_devices(args.devices)
    with tempfile.TemporaryDirectory(prefix="sevenfold-bench-") as tmp:
        workdir = Path(tmp)
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            print(f"{backend}: setting up {args.devices} devices", flush=True)
            try:
                with benchmark_database(backend, workdir) as (url, migrate, version):
                    meta["databases"][backend] = version
                    (workdir / backend).mkdir()
                    with sevenfold_server(
                        url, workdir / backend, migrate=migrate
                    ) as target:
                        result = _attest(args, target, devices)
            except (RuntimeError, OSError, subprocess.CalledProcessError) as err:
                print(f"{backend}: skipped: {err}", file=sys.stderr, flush=True)
                rows.append(AttestRow(backend, None, f"skipped: {err}"))
                continue
            _print_http(backend, result)
            rows.append(AttestRow(backend, result))
    print()
    print(text_table(crypto, rows))
    json_path, md_path = write_outputs(args.output_dir, crypto, rows, meta)
    print(f"\nwrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
