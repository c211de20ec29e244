"""``sevenfold rollout`` through the real CLI against a real server: create an OS
or deployment rollout with every option, show its waves, list, pause, resume,
abort, and one clear error line for what is refused."""

from typing import Any

import pytest
from fastapi import FastAPI

from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.updates import ImageType
from tests.api.release_support import insert_image
from tests.api.rollout_support import ProductGroups, add_devices, open_wave
from tests.cli.conftest import Cli, first_line_error
from tests.conftest import TenantAccess

USAGE_EXIT_CODE = 2
CONFLICT_EXIT_CODE = 5


def _product(cli: Cli, admin: TenantAccess, name: str = "Gateway") -> ProductGroups:
    product = cli.json("product", "create", "--name", name)
    groups = cli.json("device-group", "list", "--product", name)
    return ProductGroups(
        admin.tenant_id, product["id"], {g["name"]: g["id"] for g in groups}
    )


def _release(cli: Cli, app: FastAPI, clock: ManualClock, version: str) -> str:
    image = insert_image(app, clock, tenant_id=None, kind=ImageType.OS, version=version)
    release: dict[str, Any] = cli.json("os-release", "publish", image.id)
    release_id: str = release["id"]
    return release_id


def test_os_rollout_with_every_option_then_pause_resume_abort(
    cli: Cli, app: FastAPI, clock: ManualClock, admin: TenantAccess
) -> None:
    product = _product(cli, admin)
    add_devices(app, clock, product, "Production", 10)
    release_id = _release(cli, app, clock, "27.1")

    rollout = cli.json(
        "rollout", "create", "--os-release", "27.1", "--feed", "retail",
        "--wave", "1", "--wave", "50%", "--wave", "50%", "--soak", "1h",
        "--start", "2026-12-01T08:00:00+00:00", "--threshold", "20",
        "--min-devices", "3", "--count-kinds", "update-failure,rollback",
        "--crash-window", "30m",
    )  # fmt: skip

    assert rollout["os_release_id"] == release_id
    assert (rollout["os_feed"], rollout["state"]) == ("retail", "running")
    assert [(w["size"], w["unit"]) for w in rollout["waves"]] == [
        (1, "count"),
        (50, "percent"),
        (50, "percent"),
    ]
    assert [w["devices"] for w in rollout["waves"]] == [1, 5, 4]
    assert {w["min_soak_s"] for w in rollout["waves"]} == {3600}
    assert rollout["waves"][0]["earliest_start_at"].startswith("2026-12-01T08:00")
    assert rollout["policy"] == {
        "counted_kinds": ["rollback", "update-failure"],
        "min_devices": 3,
        "threshold_percent": 20.0,
        "crash_window_s": 1800,
    }
    open_wave(app, rollout["id"], 0, clock.now())
    table = cli.ok("rollout", "show", rollout["id"]).stdout
    assert "OS 27.1 on retail" in table
    assert "SUCCEEDED" in table
    assert "50%" in table
    assert rollout["id"] in cli.ok("rollout", "list").stdout
    assert "1/3 open" in cli.ok("rollout", "list").stdout

    paused = cli.json("rollout", "pause", rollout["id"], "--reason", "look first")
    assert paused["state"] == "paused"
    assert [r["id"] for r in cli.json("rollout", "list", "--state", "paused")] == [
        rollout["id"]
    ]
    assert cli.json("rollout", "resume", rollout["id"])["state"] == "running"
    assert cli.json("rollout", "abort", rollout["id"])["state"] == "aborted"
    again = cli("rollout", "resume", rollout["id"])
    assert again.exit_code == CONFLICT_EXIT_CODE
    assert first_line_error(again).endswith("[invalid-rollout-transition]")
    assert cli.json("rollout", "show", rollout["id"])["state"] == "aborted"


def test_deployment_rollout_by_id(
    cli: Cli, app: FastAPI, clock: ManualClock, admin: TenantAccess
) -> None:
    product = _product(cli, admin)
    devices = add_devices(app, clock, product, "Production", 4)
    image = insert_image(app, clock, tenant_id=admin.tenant_id, kind=ImageType.APP)
    deployment = cli.json(
        "device-group", "deployment", "create", "Gateway/Production",
        "--image", image.id,
    )  # fmt: skip

    rollout = cli.json(
        "rollout", "create", "--deployment", deployment["id"], "--wave", "25%",
        "--wave", "75%",
    )  # fmt: skip

    assert rollout["deployment_id"] == deployment["id"]
    assert sum(w["devices"] for w in rollout["waves"]) == len(devices)
    assert "deployment " + deployment["id"] in cli.ok("rollout", "list").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--wave", "10%"), "--os-release with --feed, or --deployment"),
        (("--os-release", "27.1", "--wave", "10%"), "--os-release needs --feed"),
        (("--deployment", "d", "--wave", "0"), "a wave is a device count"),
        (("--deployment", "d", "--wave", "ten"), "a wave is a device count"),
        (("--deployment", "d", "--wave", "5", "--soak", "1w"), "a duration is"),
        (
            ("--deployment", "d", "--wave", "5", "--start", "2026-12-01T08:00"),
            "--start needs a time zone",
        ),
    ],
)
def test_invalid_options_print_one_error_line(
    cli: Cli, args: tuple[str, ...], message: str
) -> None:
    result = cli("rollout", "create", *args)

    assert result.exit_code == USAGE_EXIT_CODE
    first_line_error(result)
    assert message in result.stderr


def test_refusals_by_the_service_are_one_line(
    cli: Cli, app: FastAPI, clock: ManualClock
) -> None:
    _release(cli, app, clock, "27.1")

    too_much = cli(
        "rollout", "create", "--os-release", "27.1", "--feed", "retail",
        "--wave", "60%", "--wave", "50%",
    )  # fmt: skip
    network = cli(
        "rollout", "create", "--os-release", "27.1", "--feed", "retail",
        "--wave", "5", "--count-kinds", "network-failure",
    )  # fmt: skip
    unknown = cli(
        "rollout", "create", "--os-release", "26.9", "--feed", "retail",
        "--wave", "5",
    )  # fmt: skip

    assert too_much.exit_code == USAGE_EXIT_CODE
    assert "more than 100" in first_line_error_text(too_much)
    assert network.exit_code == USAGE_EXIT_CODE
    assert "network failures" in first_line_error_text(network)
    assert unknown.exit_code == 4
    assert cli.json("rollout", "list") == []


def first_line_error_text(result: Any) -> str:
    """The error line (after checking it is the only one)."""
    first_line_error(result)
    text: str = result.stderr.strip().splitlines()[-1]
    return text
