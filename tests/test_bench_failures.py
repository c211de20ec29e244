"""The failure-report benchmark still runs: set-up over mTLS, short measurements of
the baseline, new and duplicate batches, one halt, and its outputs.

Nothing here asserts a timing; it checks that every POST succeeded, that the new
batches were stored event for event and the duplicates not at all, that the one
halt was measured on the failure the policy says crosses the threshold, and that
the figures are printed and written.
"""

import json
from pathlib import Path

import pytest
from bench import failures


def test_failure_bench_runs_on_sqlite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One short SQLite run: baseline, ingestion, duplicates, one halt."""
    # The service process inherits it: waves open within a fraction of a second.
    monkeypatch.setenv(failures.EVALUATION_INTERVAL_ENV, "0.2")
    argv = [
        "--backends", "sqlite", "--duration-s", "1", "--warmup-s", "0.3",
        "--devices", "4", "--concurrency", "2", "--batch-events", "10",
        "--halt-runs", "1", "--halt-devices", "3",
        "--halt-threshold-percent", "40", "--output-dir", str(tmp_path),
    ]  # fmt: skip
    assert failures.main(argv) == 0
    results = json.loads((tmp_path / "failures.json").read_text())
    assert results["meta"]["rollout_evaluation_interval_s"] == 0.2
    (backend,) = results["backends"]
    assert backend["backend"] == "sqlite"
    assert backend["note"] == ""
    baseline, fresh, duplicates = (
        backend[name] for name in ("baseline", "fresh", "duplicates")
    )
    for result in (baseline, fresh, duplicates):
        assert result["failures"] == {}
        assert result["successes"] > 0
    assert fresh["stored_events"] == fresh["successes"] * 10
    assert duplicates["stored_events"] == 0
    halts = backend["halts"]
    (run,) = halts["runs"]
    assert run["crossing_failure"] == 2  # 2 of 3 is the first share above 40 %
    assert run["polls"] >= 1
    output = capsys.readouterr().out
    assert "halt latency [sqlite]" in output
    assert "POSTs/s" in output
    assert "events/s" in output
    table = (tmp_path / "failures.md").read_text()
    assert "| failure-reports POST, 10 new events" in table
    assert "bench/run-failures" in table
