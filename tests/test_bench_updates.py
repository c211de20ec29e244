"""The update benchmark still runs: set-up over mTLS, short measurements, outputs.

Nothing here asserts a timing; it checks that checks succeed (no failures), that the
real agent's no-op check has the shape the load generator replays, that downloads
deliver the whole image, and that the table and result files are written.
"""

import json
import math
from pathlib import Path

import pytest
from bench import updates


def test_update_bench_runs_on_sqlite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One short SQLite run checks, counts bytes, downloads; writes JSON and MD."""
    argv = [
        "--backends", "sqlite", "--duration-s", "1", "--warmup-s", "0.3",
        "--devices", "4", "--concurrency", "2", "--image-mib", "0.25",
        "--download-repeats", "1", "--output-dir", str(tmp_path),
    ]  # fmt: skip
    assert updates.main(argv) == 0
    results = json.loads((tmp_path / "updates.json").read_text())
    baseline = results["baseline"]
    assert baseline["failures"] == {}
    assert baseline["successes"] > 0
    (backend,) = results["backends"]
    assert backend["backend"] == "sqlite", backend
    checks = backend["checks"]
    assert checks["failures"] == {}
    assert checks["successes"] > 0
    assert checks["requests_per_check"] == 5
    assert math.isfinite(checks["p99_ms"])
    assert checks["checks_per_s"] > 0
    counted = backend["check_bytes"]
    assert (counted["requests"], counted["connections"]) == (5, 2)
    assert 0 < counted["http_sent_bytes"] < counted["wire_sent_bytes"]
    assert 0 < counted["http_received_bytes"] < counted["wire_received_bytes"]
    downloads = backend["downloads"]
    assert len(downloads) == 4
    image_bytes = results["meta"]["image_bytes"]
    assert all(d["size_bytes"] > image_bytes for d in downloads)  # payload + header
    assert all(d["mb_per_s"] > 0 for d in downloads)
    table = (tmp_path / "updates.md").read_text()
    assert "| no-op update check" in table
    assert "bench/run-updates" in table
    assert "sqlite" in capsys.readouterr().out
