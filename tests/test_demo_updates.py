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


def test_a_bad_release_halts_its_own_rollout_and_never_reaches_retail(
    summary: dict[str, Any],
) -> None:
    """26.12 fails on hardware revision B: its trial boots roll back, the agents'
    uploaded failures halt the rollout, the operator cancels it; retail devices
    never see it."""
    updates = summary["updates"]
    hardware_b = set(updates["hardware_b"])
    eval_ids = {
        d["device_id"] for d in updates["devices"] if d["os_feed"] == RETAIL_EVAL
    }
    assert hardware_b
    assert hardware_b <= eval_ids
    rollout = updates["rollout"]
    assert rollout["state"] == "paused"
    assert rollout["halted_at"] is not None
    assert "that ran the update failed" in rollout["halt_reason"]
    assert updates["rounds"][2]["failed"] == len(hardware_b)
    assert updates["rounds"][2]["updated"] == len(eval_ids - hardware_b)
    releases = {release["version"]: release for release in updates["releases"]}
    assert releases["26.12"]["state"] == "cancelled"
    for device in updates["devices"]:
        if device["os_feed"] != RETAIL_EVAL:
            assert "26.12" not in device["versions_run"]


def test_the_fix_moves_every_evaluation_device_and_no_device_is_lost(
    summary: dict[str, Any],
) -> None:
    updates = summary["updates"]
    taking_part = len(updates["devices"])
    # The revoked device gets no certificate and so no update; all others take part.
    assert len(updates["not_taking_part"]) == 1
    assert taking_part == FLEET_SIZE - 1
    assert [r["failed"] for r in updates["rounds"]] == [
        0,
        0,
        len(updates["hardware_b"]),
        0,
    ]
    after_fix = _versions_by_feed(updates, 3)
    assert set(after_fix[RETAIL_EVAL]) == {"26.12.1"}
    assert set(after_fix["retail"]) == {"26.11"}
    releases = {release["version"]: release for release in updates["releases"]}
    assert releases["26.11"]["state"] == "retail"
    retail = sum(d["os_feed"] == "retail" for d in updates["devices"])
    assert releases["26.11"]["device_counts"] == {"idle": retail}
    assert releases["26.12.1"]["device_counts"] == {"idle": taking_part - retail}
    assert releases["26.12"]["device_counts"] == {}
    for device in updates["devices"]:
        expected_end = "26.12.1" if device["os_feed"] == RETAIL_EVAL else "26.11"
        assert device["os_version"] == expected_end
        assert device["versions_run"][:2] == ["26.10", "26.11"]
