"""The attestation benchmark's figures as a console table, JSON and Markdown."""

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.attest_load import AttestResult
from bench.crypto_ceiling import CryptoResult

HEADER = ["scenario", "backend", "per s", "p50 ms", "p99 ms", "vs issuance", "notes"]
HTTP_SCENARIO = "attestation over HTTP (nonce + evidence -> certificate)"
REPRODUCE = "bench/run-attestation"


@dataclass(frozen=True, slots=True)
class AttestRow:
    """One backend's end-to-end run, or why it was skipped."""

    backend: str
    result: AttestResult | None
    note: str = ""


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def _ratio(per_s: float, ceiling: CryptoResult | None) -> str:
    if ceiling is None or ceiling.per_s == 0:
        return "-"
    return f"{per_s / ceiling.per_s:.2%}"


def _http_notes(result: AttestResult) -> str:
    per_attestation = (
        f" ({result.server_cpu_s / result.attestations * 1000:.1f} ms each)"
        if result.server_cpu_s is not None and result.attestations
        else ""
    )
    notes = [
        f"server CPU {_pct(result.share(result.server_cpu_s))} of a core"
        + per_attestation,
        f"client CPU {_pct(result.share(result.client_cpu_s))} "
        f"(signing {_pct(result.share(result.client_sign_s))})",
    ]
    failed = sum(result.failures.values())
    if failed:
        kinds = ", ".join(f"{n} {kind}" for kind, n in result.failures.most_common())
        notes.append(f"{failed} failed ({kinds})")
    return "; ".join(notes)


def _lines(crypto: list[CryptoResult], rows: list[AttestRow]) -> list[list[str]]:
    ceiling = crypto[0] if crypto else None
    lines = []
    for index, figure in enumerate(crypto):
        note = "the ceiling" if index == 0 else ""
        lines.append(
            [
                f"in-process: {figure.name}",
                "-",
                f"{figure.per_s:,.0f}",
                "-",
                "-",
                _ratio(figure.per_s, ceiling),
                note,
            ]
        )
    for row in rows:
        if row.result is None:
            lines.append([HTTP_SCENARIO, row.backend, "-", "-", "-", "-", row.note])
            continue
        result = row.result
        lines.append(
            [
                HTTP_SCENARIO,
                row.backend,
                f"{result.per_s:,.0f}",
                _ms(result.p50_ms),
                _ms(result.p99_ms),
                _ratio(result.per_s, ceiling),
                _http_notes(result),
            ]
        )
    return lines


def text_table(crypto: list[CryptoResult], rows: list[AttestRow]) -> str:
    """An aligned plain-text table."""
    lines = [HEADER, *_lines(crypto, rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    numeric = {2, 3, 4, 5}
    return "\n".join(
        "  ".join(
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(line)
        ).rstrip()
        for line in lines
    )


def markdown_table(
    crypto: list[CryptoResult], rows: list[AttestRow], meta: dict[str, Any]
) -> str:
    """A Markdown table with a line on how and where it was measured."""
    lines = [
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join(["---", "---", "---:", "---:", "---:", "---:", "---"]) + "|",
    ]
    lines.extend("| " + " | ".join(cells) + " |" for cells in _lines(crypto, rows))
    lines.append("")
    lines.append(
        f"{meta['generator']}, {meta['concurrency']} concurrent attestations over "
        f"{meta['devices']} claimed devices, {meta['duration_s']:g} s per backend "
        f"after {meta['warmup_s']:g} s warm-up; one uvicorn worker; in-process "
        f"figures single-threaded, {meta['crypto_s']:g} s each, cryptography "
        f"{meta['cryptography']} ({meta['openssl']}); {meta['cpu_count']} CPUs "
        f"({meta['cpu_model']}); {meta['measured_at']}, commit {meta['commit']}. "
        f"Reproduce: `{REPRODUCE}`."
    )
    return "\n".join(lines) + "\n"


def to_json(
    crypto: list[CryptoResult], rows: list[AttestRow], meta: dict[str, Any]
) -> dict[str, Any]:
    """Every figure, unrounded, with the run's metadata."""
    ceiling = crypto[0].per_s if crypto else 0.0
    in_process = [
        {
            "name": figure.name,
            "ops": figure.ops,
            "duration_s": figure.duration_s,
            "per_s": figure.per_s,
            "ratio_to_ceiling": figure.per_s / ceiling if ceiling else None,
        }
        for figure in crypto
    ]
    http = []
    for row in rows:
        entry: dict[str, Any] = {"backend": row.backend, "note": row.note}
        if (result := row.result) is not None:
            entry |= {
                "attestations_per_s": result.per_s,
                "ratio_to_ceiling": result.per_s / ceiling if ceiling else None,
                "attestations": result.attestations,
                "successes": result.successes,
                "failures": dict(result.failures),
                "duration_s": result.duration_s,
                "p50_ms": result.p50_ms,
                "p99_ms": result.p99_ms,
                "client_cpu_s": result.client_cpu_s,
                "client_sign_s": result.client_sign_s,
                "server_cpu_s": result.server_cpu_s,
            }
        http.append(entry)
    return {"meta": meta, "in_process": in_process, "http": http}


def write_outputs(
    directory: Path,
    crypto: list[CryptoResult],
    rows: list[AttestRow],
    meta: dict[str, Any],
) -> tuple[Path, Path]:
    """Write ``attestation.json`` and ``attestation.md``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "attestation.json"
    json_path.write_text(json.dumps(to_json(crypto, rows, meta), indent=2) + "\n")
    md_path = directory / "attestation.md"
    md_path.write_text(markdown_table(crypto, rows, meta))
    return json_path, md_path
