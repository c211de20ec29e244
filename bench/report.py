"""The benchmark's figures as a console table, JSON and a Markdown table."""

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.load import LoadResult


@dataclass(frozen=True, slots=True)
class Row:
    """One measured (or skipped) scenario on one backend."""

    scenario: str
    backend: str
    result: LoadResult | None
    note: str = ""


def _ratio(row: Row, baseline: LoadResult | None) -> float | None:
    if row.result is None or baseline is None or baseline.requests_per_s == 0:
        return None
    return row.result.requests_per_s / baseline.requests_per_s


def _cells(row: Row, baseline: LoadResult | None) -> list[str]:
    result = row.result
    if result is None:
        return [row.scenario, row.backend, "-", "-", "-", "-", row.note]
    ratio = _ratio(row, baseline)
    flags = [row.note] if row.note else []
    if result.errors:
        flags.append(f"{result.errors} errors")
    if result.exhausted:
        flags.append("ran out of fresh devices")
    return [
        row.scenario,
        row.backend,
        f"{result.requests_per_s:,.0f}",
        _ms(result.p50_ms),
        _ms(result.p99_ms),
        "-" if ratio is None else f"{ratio:.2%}",
        "; ".join(flags),
    ]


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


HEADER = ["scenario", "backend", "req/s", "p50 ms", "p99 ms", "vs hello", "notes"]


def text_table(rows: list[Row], baseline: LoadResult | None) -> str:
    """An aligned plain-text table."""
    lines = [HEADER, *(_cells(row, baseline) for row in rows)]
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
    rows: list[Row], baseline: LoadResult | None, meta: dict[str, Any]
) -> str:
    """A Markdown table with a line on how and where it was measured."""
    lines = [
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join(["---", "---", "---:", "---:", "---:", "---:", "---"]) + "|",
    ]
    lines.extend("| " + " | ".join(_cells(row, baseline)) + " |" for row in rows)
    lines.append("")
    lines.append(
        f"{meta['generator']}, {meta['concurrency']} connections, "
        f"{meta['duration_s']:g} s per figure after {meta['warmup_s']:g} s warm-up; "
        f"one uvicorn worker; {meta['cpu_count']} CPUs ({meta['cpu_model']}); "
        f"{meta['measured_at']}, commit {meta['commit']}. "
        "Reproduce: `.venv/bin/python -m bench.foundation`."
    )
    return "\n".join(lines) + "\n"


def to_json(
    rows: list[Row], baseline: LoadResult | None, meta: dict[str, Any]
) -> dict[str, Any]:
    """Every figure, unrounded, with the run's metadata."""
    results = []
    for row in rows:
        entry: dict[str, Any] = {
            "scenario": row.scenario,
            "backend": row.backend,
            "note": row.note,
        }
        if row.result is not None:
            entry |= {
                "requests_per_s": row.result.requests_per_s,
                "p50_ms": row.result.p50_ms,
                "p99_ms": row.result.p99_ms,
                "ratio_to_baseline": _ratio(row, baseline),
                "requests": row.result.requests,
                "errors": row.result.errors,
                "duration_s": row.result.duration_s,
                "exhausted": row.result.exhausted,
            }
        results.append(entry)
    return {"meta": meta, "results": results}


def write_outputs(
    directory: Path,
    name: str,
    rows: list[Row],
    baseline: LoadResult | None,
    meta: dict[str, Any],
) -> tuple[Path, Path]:
    """Write ``NAME.json`` and ``NAME.md``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / f"{name}.json"
    json_path.write_text(json.dumps(to_json(rows, baseline, meta), indent=2) + "\n")
    md_path = directory / f"{name}.md"
    md_path.write_text(markdown_table(rows, baseline, meta))
    return json_path, md_path
