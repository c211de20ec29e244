"""``sevenfold failure-event list|queue`` and ``sevenfold tenant
download-error-report`` through the real CLI against a real server."""

import csv
import io
import os
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.failures import CSV_COLUMNS, FailureKind
from tests.api.failure_support import Reporter, failure, reporter
from tests.api.update_support import add_release, settings
from tests.cli.conftest import Cli, first_line_error
from tests.conftest import TenantAccess

__all__ = ["settings"]
USAGE_EXIT_CODE = 2
NOT_FOUND_EXIT_CODE = 4
IMAGE_ID = "5f0b7e0e-1111-4000-8000-000000000000"


@pytest.fixture
def device(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> Reporter:
    """A device that reported a crash (on OS 26.1), an update failure and a
    rollback, and said its queue dropped 7 records."""
    add_release(app, clock, "26.1")
    found = reporter(app, client, admin, clock)
    now = clock.now()
    found.send(
        failure(now - timedelta(hours=3), os_version="26.1", description="=1+2"),
        failure(now - timedelta(hours=2), FailureKind.UPDATE_FAILURE),
        failure(now - timedelta(hours=1), FailureKind.ROLLBACK, image_id=IMAGE_ID),
        dropped_total=7,
    )
    return found


def test_failure_event_list_with_each_filter(
    cli: Cli, device: Reporter, clock: ManualClock
) -> None:
    every = cli.json("failure-event", "list")
    assert [e["kind"] for e in every] == ["rollback", "update-failure", "app-crash"]
    product = cli.json("product", "show", device.product_id)
    all_three = ["rollback", "update-failure", "app-crash"]
    two_hours_ago = (clock.now() - timedelta(hours=2)).isoformat()
    for option, value, kinds in (
        ("--device", device.device_id, all_three),
        ("--device-group", f"{product['name']}/Production", all_three),
        ("--product", product["name"], all_three),
        ("--os-release", "26.1", ["app-crash"]),
        ("--kind", "update-failure", ["update-failure"]),
        ("--since", two_hours_ago, ["rollback", "update-failure"]),
        ("--until", two_hours_ago, ["app-crash"]),
        ("--image", IMAGE_ID, ["rollback"]),
    ):
        listed = cli.json("failure-event", "list", option, value)
        assert [e["kind"] for e in listed] == kinds, option
    assert cli.json("failure-event", "list", "--max-items", "1")[0]["kind"] == (
        "rollback"
    )
    table = cli.ok("failure-event", "list").stdout
    assert "LAST AT" in table
    assert "update-failure" in table


def test_failure_event_queue_shows_the_dropped_counter(
    cli: Cli, device: Reporter
) -> None:
    shown = cli.json("failure-event", "queue", device.device_id)
    assert shown["dropped_total"] == 7
    assert (
        "Dropped (total)" in cli.ok("failure-event", "queue", device.device_id).stdout
    )


def test_download_error_report_writes_the_csv_atomically(
    cli: Cli, device: Reporter, tmp_path: Path
) -> None:
    destination = tmp_path / "errors.csv"
    destination.write_text("an older report\n")
    answer = cli.json(
        "tenant", "download-error-report", "--destination", str(destination)
    )
    assert answer == {"path": str(destination), "events": 3}
    rows = list(csv.reader(io.StringIO(destination.read_text())))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [row[3] for row in rows[1:]] == ["rollback", "update-failure", "app-crash"]
    assert rows[3][5] == "'=1+2"  # CSV injection defused by the service
    assert {row[0] for row in rows[1:]} == {device.device_id}
    assert [name for name in os.listdir(tmp_path) if name.endswith(".tmp")] == []
    filtered = cli.json(
        "tenant", "download-error-report", "--destination", str(destination),
        "--kind", "rollback", "--device", device.device_id,
    )  # fmt: skip
    assert filtered["events"] == 1
    table = cli.ok(
        "tenant", "download-error-report", "--destination", str(destination)
    ).stdout
    assert "Wrote" in table


def test_failure_commands_print_one_error_line(
    cli: Cli, device: Reporter, tmp_path: Path
) -> None:
    naive = cli("failure-event", "list", "--since", "2026-11-01T00:00:00")
    assert naive.exit_code == USAGE_EXIT_CODE
    assert "time zone" in first_line_error(naive)
    garbled = cli("failure-event", "list", "--until", "yesterday")
    assert garbled.exit_code == USAGE_EXIT_CODE
    assert "ISO 8601" in first_line_error(garbled)
    bad_kind = cli("failure-event", "list", "--kind", "meltdown")
    assert bad_kind.exit_code == USAGE_EXIT_CODE
    no_release = cli("failure-event", "list", "--os-release", "99.9")
    assert no_release.exit_code == NOT_FOUND_EXIT_CODE
    assert "[not-found]" in first_line_error(no_release)
    bad_device = cli("failure-event", "list", "--device", "not-a-device")
    assert bad_device.exit_code == USAGE_EXIT_CODE
    assert "[validation-error]" in first_line_error(bad_device)
    unknown = cli("failure-event", "queue", "ab" * 64)
    assert unknown.exit_code == NOT_FOUND_EXIT_CODE
    assert "[not-found]" in first_line_error(unknown)
    missing_dir = tmp_path / "nowhere" / "errors.csv"
    unwritable = cli(
        "tenant", "download-error-report", "--destination", str(missing_dir)
    )
    assert unwritable.exit_code == 1
    assert "cannot write" in first_line_error(unwritable)
    assert not missing_dir.exists()
