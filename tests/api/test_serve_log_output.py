"""`sevenfold serve --output json`: the service log as one JSON object per line."""

import io
import json
import logging
import logging.config
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner

from sevenfold.entry.main import root
from sevenfold.service.log_format import JsonLogFormatter, json_log_config


def test_log_records_become_single_json_lines() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s "%s %s"',
        ("1.2.3.4", "GET", "/"),
        None,
    )
    line = JsonLogFormatter().format(record)
    assert "\n" not in line
    body = json.loads(line)
    assert body["level"] == "info"
    assert body["logger"] == "uvicorn.access"
    assert body["message"] == '1.2.3.4 "GET /"'


def test_the_json_config_routes_uvicorn_and_service_logs_through_the_formatter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    logging.config.dictConfig(json_log_config())
    try:
        logging.getLogger("sevenfold.service").warning("ready")
        logging.getLogger("uvicorn.error").info("started")
    finally:  # leave logging as the other tests expect it
        for name in json_log_config()["loggers"]:
            logger = logging.getLogger(name)
            logger.handlers.clear()
            logger.propagate = True
            logger.setLevel(logging.NOTSET)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["ready", "started"]


@pytest.mark.parametrize("output", ["table", "json"])
def test_serve_hands_uvicorn_the_chosen_log_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append(k))
    data_dir = tmp_path / "data"
    assert (
        CliRunner().invoke(root, ["init", "--data-dir", str(data_dir)]).exit_code == 0
    )
    result = CliRunner().invoke(
        root, ["serve", "--data-dir", str(data_dir), "--output", output]
    )
    assert result.exit_code == 0, result.output
    (kwargs,) = calls
    if output == "json":
        assert kwargs["log_config"] == json_log_config()
    else:
        assert "log_config" not in kwargs
