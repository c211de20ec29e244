"""``sevenfold demo``'s update act, end to end: a real process, HTTPS with device
certificates (mTLS), the agent's real updater on every simulated device."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SEVENFOLD = str(Path(sys.executable).parent / "sevenfold")
DEMO_TIMEOUT_S = 240.0
FLEET_SIZE = 20  # 4 devices in "Production OS Evaluation", so some always update
RETAIL_EVAL = "retail-eval"


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    """The demo's JSON summary (one run for the whole module)."""
    result = subprocess.run(
        [SEVENFOLD, "demo", "--port", "0", "--exit-after", "0",
         "--devices", str(FLEET_SIZE), "--output", "json"],
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def _versions_by_feed(summary: dict[str, Any], step: int) -> dict[str, dict[str, int]]:
    """{feed: {os version: devices}} after round ``step``."""
    feeds = {device["group"]: device["os_feed"] for device in summary["devices"]}
    by_feed: dict[str, dict[str, int]] = {}
    rounds = summary["rounds"][step]["os_versions_by_group"]
    for group, versions in rounds.items():
        counts = by_feed.setdefault(feeds[group], {})
        for version, count in versions.items():
            counts[version] = counts.get(version, 0) + count
    return by_feed


def test_eval_devices_take_the_release_and_retail_devices_wait(
    summary: dict[str, Any],
) -> None:
    updates = summary["updates"]
    eval_devices = [d for d in updates["devices"] if d["os_feed"] == RETAIL_EVAL]
    retail_devices = [d for d in updates["devices"] if d["os_feed"] == "retail"]
    assert eval_devices, "the fleet has evaluation devices taking part"
    assert retail_devices
    published = _versions_by_feed(updates, 0)
    assert published == {
        RETAIL_EVAL: {"26.11": len(eval_devices)},
        "retail": {"26.10": len(retail_devices)},
    }
    assert updates["rounds"][0]["updated"] == len(eval_devices)


def test_promotion_updates_retail_devices(summary: dict[str, Any]) -> None:
    updates = summary["updates"]
    promoted = _versions_by_feed(updates, 1)
    assert set(promoted) == {RETAIL_EVAL, "retail"}
    assert all(set(versions) == {"26.11"} for versions in promoted.values())
    retail = sum(d["os_feed"] == "retail" for d in updates["devices"])
    assert updates["rounds"][1]["updated"] == retail


def test_a_cancelled_release_never_reaches_any_device(
    summary: dict[str, Any],
) -> None:
    updates = summary["updates"]
    after_cancel = _versions_by_feed(updates, 2)
    assert all(set(versions) == {"26.11"} for versions in after_cancel.values())
    assert updates["rounds"][2]["updated"] == 0
    for device in updates["devices"]:
        assert "26.12" not in device["versions_run"]
        assert device["os_version"] == "26.11"
    releases = {release["version"]: release for release in updates["releases"]}
    assert releases["26.12"]["state"] == "cancelled"
    assert releases["26.12"]["device_counts"] == {}


def test_no_device_fails_and_the_service_counts_every_updated_device(
    summary: dict[str, Any],
) -> None:
    updates = summary["updates"]
    taking_part = len(updates["devices"])
    assert updates["failed"] == 0
    assert not any(device["failed"] for device in updates["devices"])
    assert [r["failed"] for r in updates["rounds"]] == [0, 0, 0]
    # The revoked device gets no certificate and so no update; all others take part.
    assert len(updates["not_taking_part"]) == 1
    assert taking_part == FLEET_SIZE - 1
    releases = {release["version"]: release for release in updates["releases"]}
    assert releases["26.11"]["state"] == "retail"
    assert releases["26.11"]["device_counts"] == {"idle": taking_part}
    for device in updates["devices"]:
        assert device["versions_run"] == ["26.10", "26.11"]
