"""The update benchmark's figures as console tables, JSON and Markdown."""

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.update_bytes import CheckBytes
from bench.update_download import DownloadResult
from bench.update_load import CheckResult

CHECK_HEADER = [
    "scenario", "backend", "checks/s", "req/s", "p50 ms", "p99 ms", "vs hello",
    "notes",
]  # fmt: skip
BYTES_HEADER = [
    "one no-op check (real agent)", "backend", "requests", "connections",
    "HTTP sent", "HTTP received", "wire sent", "wire received",
]  # fmt: skip
DOWNLOAD_HEADER = ["download", "backend", "client", "MB/s", "median s", "vs curl"]
BASELINE_SCENARIO = "baseline: Starlette hello-world, GET / in the same pattern"
CHECK_SCENARIO = "no-op update check: 4 TUF GETs + idle status POST"
REPRODUCE = "bench/run-updates"


@dataclass(slots=True)
class BackendFigures:
    """One backend's figures, or why it was skipped."""

    backend: str
    checks: CheckResult | None = None
    check_bytes: CheckBytes | None = None
    downloads: list[DownloadResult] = field(default_factory=list)
    note: str = ""


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def _ratio(value: float, base: float | None) -> str:
    return "-" if not base else f"{value / base:.2%}"


def _notes(result: CheckResult) -> str:
    each = (
        f" ({result.server_cpu_s / result.checks * 1000:.1f} ms each)"
        if result.server_cpu_s is not None and result.checks
        else ""
    )
    notes = [
        f"server CPU {_pct(result.share(result.server_cpu_s))} of a core{each}",
        f"client CPU {_pct(result.share(result.client_cpu_s))}",
    ]
    failed = sum(result.failures.values())
    if failed:
        kinds = ", ".join(f"{n} {kind}" for kind, n in result.failures.most_common())
        notes.append(f"{failed} failed ({kinds})")
    return "; ".join(notes)


def _check_line(
    scenario: str, backend: str, result: CheckResult, base: float | None
) -> list[str]:
    return [
        scenario,
        backend,
        f"{result.checks_per_s:,.0f}",
        f"{result.requests_per_s:,.0f}",
        _ms(result.p50_ms),
        _ms(result.p99_ms),
        _ratio(result.checks_per_s, base),
        _notes(result),
    ]


def _tables(
    baseline: CheckResult | None, rows: list[BackendFigures]
) -> list[tuple[list[str], list[list[str]], set[int]]]:
    base = baseline.checks_per_s if baseline else None
    checks = (
        []
        if baseline is None
        else [_check_line(BASELINE_SCENARIO, "-", baseline, base)]
    )
    sizes, downloads = [], []
    for row in rows:
        if row.checks is None:
            checks.append([CHECK_SCENARIO, row.backend, *["-"] * 5, row.note])
        else:
            checks.append(_check_line(CHECK_SCENARIO, row.backend, row.checks, base))
        if (counted := row.check_bytes) is not None:
            sizes.append(
                [
                    "bytes per check", row.backend, str(counted.requests),
                    str(counted.connections), f"{counted.http_sent_bytes:,}",
                    f"{counted.http_received_bytes:,}", f"{counted.wire_sent_bytes:,}",
                    f"{counted.wire_received_bytes:,}",
                ]
            )  # fmt: skip
        curl = {d.source: d.mb_per_s for d in row.downloads if d.client == "curl"}
        for download in row.downloads:
            downloads.append(
                [
                    f"{download.size_bytes / 2**20:.3g} MiB, {download.source}",
                    row.backend,
                    download.client,
                    f"{download.mb_per_s:,.0f}",
                    f"{download.median_s:.3f}",
                    _ratio(download.mb_per_s, curl.get(download.source)),
                ]
            )
    return [
        (CHECK_HEADER, checks, {2, 3, 4, 5, 6}),
        (BYTES_HEADER, sizes, {2, 3, 4, 5, 6, 7}),
        (DOWNLOAD_HEADER, downloads, {3, 4, 5}),
    ]


def text_table(baseline: CheckResult | None, rows: list[BackendFigures]) -> str:
    """Aligned plain-text tables."""
    blocks = []
    for header, lines, numeric in _tables(baseline, rows):
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


def markdown_table(
    baseline: CheckResult | None, rows: list[BackendFigures], meta: dict[str, Any]
) -> str:
    """Markdown tables with a line on how and where they were measured."""
    parts = []
    for header, lines, numeric in _tables(baseline, rows):
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
    parts.append(
        f"{meta['generator']}, {meta['concurrency']} concurrent checks over "
        f"{meta['devices']} attested devices, each check on two fresh TLS "
        f"connections with the device's client certificate (as the agent makes "
        f"them: the fetcher's four TUF GETs kept alive on one, the status POST on "
        f"the other), {meta['duration_s']:g} s per "
        f"figure after {meta['warmup_s']:g} s warm-up; one uvicorn worker (h11, "
        f"TLS as `sevenfold serve --tls-cert`); "
        f"bytes: HTTP = plaintext through TLS, wire = TCP payload incl. handshakes; "
        f"downloads: median of {meta['download_repeats']}, MB = 10^6 bytes, "
        f"{meta['curl']}; {meta['cpu_count']} CPUs ({meta['cpu_model']}), 1-minute "
        f"load average at each backend's start: {_load(meta)}; "
        f"{meta['measured_at']}, commit {meta['commit']}. Reproduce: `{REPRODUCE}`."
    )
    return "\n\n".join(parts) + "\n"


def _load(meta: dict[str, Any]) -> str:
    averages = meta.get("load_average_at_start", {})
    return ", ".join(f"{name} {values[0]:.1f}" for name, values in averages.items())


def _check_json(result: CheckResult, base: float | None) -> dict[str, Any]:
    return {
        "checks_per_s": result.checks_per_s,
        "requests_per_s": result.requests_per_s,
        "ratio_to_baseline": result.checks_per_s / base if base else None,
        "checks": result.checks,
        "successes": result.successes,
        "requests_per_check": result.requests_per_check,
        "failures": dict(result.failures),
        "duration_s": result.duration_s,
        "p50_ms": result.p50_ms,
        "p99_ms": result.p99_ms,
        "client_cpu_s": result.client_cpu_s,
        "server_cpu_s": result.server_cpu_s,
    }


def to_json(
    baseline: CheckResult | None, rows: list[BackendFigures], meta: dict[str, Any]
) -> dict[str, Any]:
    """Every figure, unrounded, with the run's metadata."""
    base = baseline.checks_per_s if baseline else None
    backends = []
    for row in rows:
        entry: dict[str, Any] = {"backend": row.backend, "note": row.note}
        if row.checks is not None:
            entry["checks"] = _check_json(row.checks, base)
        if (counted := row.check_bytes) is not None:
            entry["check_bytes"] = {
                "requests": counted.requests,
                "connections": counted.connections,
                "http_sent_bytes": counted.http_sent_bytes,
                "http_received_bytes": counted.http_received_bytes,
                "wire_sent_bytes": counted.wire_sent_bytes,
                "wire_received_bytes": counted.wire_received_bytes,
                "fetcher_body_bytes": counted.fetcher_body_bytes,
            }
        entry["downloads"] = [
            {
                "source": d.source,
                "client": d.client,
                "size_bytes": d.size_bytes,
                "seconds": list(d.seconds),
                "median_s": d.median_s,
                "mb_per_s": d.mb_per_s,
            }
            for d in row.downloads
        ]
        backends.append(entry)
    return {
        "meta": meta,
        "baseline": None if baseline is None else _check_json(baseline, base),
        "backends": backends,
    }


def write_outputs(
    directory: Path,
    baseline: CheckResult | None,
    rows: list[BackendFigures],
    meta: dict[str, Any],
) -> tuple[Path, Path]:
    """Write ``updates.json`` and ``updates.md``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "updates.json"
    json_path.write_text(json.dumps(to_json(baseline, rows, meta), indent=2) + "\n")
    md_path = directory / "updates.md"
    md_path.write_text(markdown_table(baseline, rows, meta))
    return json_path, md_path
