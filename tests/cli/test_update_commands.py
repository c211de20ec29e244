"""``sevenfold device update|show-deployment-status|image`` and ``sevenfold
update-key`` over real HTTP."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.updates import UpdateState, UpdateStatusReport
from tests.api.device_auth_support import certified
from tests.api.update_support import DeviceUpdaters, add_release, settings
from tests.cli.conftest import Cli
from tests.conftest import TenantAccess

__all__ = ["settings"]


def test_device_update_commands_show_status_and_request_a_check(
    cli: Cli,
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    os_image = add_release(app, clock, "26.1")
    device = certified(client, admin, clock)
    updaters = DeviceUpdaters(app, clock, device.certificate, tmp_path)
    updaters.refresh("director")
    report = UpdateStatusReport(state=UpdateState.IDLE, os_version="26.0").to_json()
    updaters.client.post(
        "/api/v1/device/update-status", json=report, headers=updaters.fetcher.headers
    ).raise_for_status()
    asked = cli.json("device", "update", device.device_id, "--check-now")
    assert asked["device_id"] == device.device_id
    status = cli.json("device", "show-deployment-status", device.device_id)
    assert (status["state"], status["os_version"]) == ("idle", "26.0")
    assert status["check_requested_at"] is not None
    targeted = cli.json("device", "image", "list-targeted", device.device_id)
    assert [image["sha256"] for image in targeted] == [os_image.sha256]
    assert cli.json("device", "image", "list-installed", device.device_id) == []
    table = cli.ok("device", "image", "list-targeted", device.device_id).stdout
    assert "SHA-256" in table
    assert "26.1" in table
    nothing = cli("device", "update", device.device_id)
    assert nothing.exit_code == 2, nothing.output


def test_update_key_commands_list_and_rotate(cli: Cli) -> None:
    keys = cli.json("update-key", "list")
    assert len(keys) == 9  # four roles per repository, and the image "images"
    assert {(key["repository"], key["root_version"]) for key in keys} == {
        ("image", 1),
        ("director", 1),
    }
    rotated = cli.json(
        "update-key", "rotate", "--repository", "director", "--role", "timestamp"
    )
    assert rotated["root_version"] == 2
    assert rotated["new_keyid"] != rotated["old_keyid"]
    after = cli.json("update-key", "list")
    revoked = [key for key in after if key["revoked_at"]]
    assert [key["keyid"] for key in revoked] == [rotated["old_keyid"]]
    assert "KEY ID" in cli.ok("update-key", "list").stdout
    bad = cli("update-key", "rotate", "--repository", "mirror", "--role", "root")
    assert bad.exit_code == 2, bad.output
