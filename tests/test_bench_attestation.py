"""The attestation benchmark still runs: set-up, a short measurement, its outputs.

Nothing here asserts a timing; it only checks that devices attest (no failures) and
that the table and result files are written.
"""

import json
from pathlib import Path

import pytest
from bench import attestation


def test_attestation_bench_runs_on_sqlite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One short SQLite run certifies devices and writes JSON and Markdown."""
    argv = [
        "--backends", "sqlite", "--duration-s", "1", "--warmup-s", "0.3",
        "--crypto-s", "0.1", "--devices", "4", "--concurrency", "2",
        "--output-dir", str(tmp_path),
    ]  # fmt: skip
    assert attestation.main(argv) == 0
    results = json.loads((tmp_path / "attestation.json").read_text())
    assert [figure["ops"] > 0 for figure in results["in_process"]] == [True] * 4
    (http,) = results["http"]
    assert http["backend"] == "sqlite", http
    assert http["failures"] == {}
    assert http["successes"] > 0
    table = (tmp_path / "attestation.md").read_text()
    assert "| attestation over HTTP" in table
    assert "bench/run-attestation" in table
    assert "sqlite" in capsys.readouterr().out
