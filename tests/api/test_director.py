"""What the director targets each device: feeds, policies, app updates, device
binding and revocation (docs/updates.md §3-4)."""

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.updates import ImageType, ReleaseState, target_path
from tests.api.device_auth_support import certified
from tests.api.update_support import (
    TUF,
    DeviceUpdaters,
    add_image,
    add_release,
    deploy,
    set_group,
    settings,
)
from tests.conftest import TenantAccess
from tests.support.fleet import assert_problem, groups_by_name

__all__ = ["settings"]


def _targets(device: DeviceUpdaters) -> tuple[set[str], bool]:
    director = device.refresh("director").\
        _trusted_set.targets  # fmt: skip
    managed = director.unrecognized_fields["x-sevenfold-apps-managed"]
    assert isinstance(managed, bool)
    return set(director.targets), managed


@pytest.mark.parametrize(
    ("group", "changes", "os_version", "apps"),
    [
        ("Production", {}, "26.1", True),
        ("Production OS Evaluation", {}, "26.2", True),
        ("Development", {}, "26.1", False),
        ("Production", {"update_policy": "os-only"}, "26.1", False),
        ("Production", {"update_policy": "no-updates"}, None, False),
        ("Production", {"app_updates": False}, "26.1", False),
    ],
)
def test_feed_policy_and_app_updates_decide_the_targets(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
    group: str,
    changes: dict[str, object],
    os_version: str | None,
    apps: bool,
) -> None:
    """Cancelled and withdrawn releases are never offered, whatever their version;
    retail-eval is seen only by evaluation feeds until its promotion is due."""
    releases = {
        "26.1": add_release(app, clock, "26.1"),
        "26.2": add_release(app, clock, "26.2", state=ReleaseState.RETAIL_EVAL),
        "26.3": add_release(app, clock, "26.3", state=ReleaseState.CANCELLED),
        "26.4": add_release(app, clock, "26.4", state=ReleaseState.WITHDRAWN),
    }
    device = certified(client, admin, clock)
    group_ids = groups_by_name(client, admin.headers, device.attester.product_id)
    group_id = group_ids[group]["id"]
    client.patch(
        f"/api/v1/devices/{device.device_id}",
        json={"device_group_id": group_id},
        headers=admin.headers,
    ).raise_for_status()
    set_group(app, group_id, **changes)
    app_image = add_image(
        app, clock, tenant_id=admin.tenant_id, kind=ImageType.APP, version="1.0"
    )
    deploy(app, clock, admin.tenant_id, group_id, [app_image])
    updaters = DeviceUpdaters(app, clock, device.certificate, tmp_path)
    expected = {target_path(app_image.sha256)} if apps else set()
    if os_version is not None:
        expected.add(target_path(releases[os_version].sha256))
    assert _targets(updaters) == (expected, apps)


def test_a_group_that_never_had_a_deployment_does_not_manage_apps(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    """No deployment yet means "leave the device's apps alone", not "remove them";
    an empty deployment is the explicit way to remove every app."""
    add_release(app, clock, "26.1")
    device = certified(client, admin, clock)
    group_id = groups_by_name(client, admin.headers, device.attester.product_id)[
        "Field Test"
    ]["id"]
    client.patch(
        f"/api/v1/devices/{device.device_id}",
        json={"device_group_id": group_id},
        headers=admin.headers,
    ).raise_for_status()
    updaters = DeviceUpdaters(app, clock, device.certificate, tmp_path / "first")
    assert _targets(updaters)[1] is False
    deploy(app, clock, admin.tenant_id, group_id, [])
    updaters = DeviceUpdaters(app, clock, device.certificate, tmp_path / "second")
    assert _targets(updaters)[1] is True


def test_device_with_app_development_gets_no_cloud_apps(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    """enable-development: OS updates continue, the cloud stops managing apps (the
    device keeps its sideloaded ones); enable-cloud-test: the deployment applies."""
    release = add_release(app, clock, "26.1")
    device = certified(client, admin, clock)
    group_id = groups_by_name(client, admin.headers, device.attester.product_id)[
        "Production"
    ]["id"]
    client.patch(
        f"/api/v1/devices/{device.device_id}",
        json={"device_group_id": group_id},
        headers=admin.headers,
    ).raise_for_status()
    app_image = add_image(
        app, clock, tenant_id=admin.tenant_id, kind=ImageType.APP, version="1.0"
    )
    deploy(app, clock, admin.tenant_id, group_id, [app_image])
    everything = {target_path(release.sha256), target_path(app_image.sha256)}
    updaters = DeviceUpdaters(app, clock, device.certificate, tmp_path)
    assert _targets(updaters) == (everything, True)
    devices = f"/api/v1/devices/{device.device_id}"
    client.post(f"{devices}/enable-development", headers=admin.headers)
    assert _targets(updaters) == ({target_path(release.sha256)}, False)
    client.post(f"{devices}/enable-cloud-test", headers=admin.headers)
    assert _targets(updaters) == (everything, True)


def test_retail_feed_sees_an_evaluation_release_once_promotion_is_due(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    add_release(app, clock, "26.1")
    due = add_release(
        app, clock, "26.2", state=ReleaseState.RETAIL_EVAL, promote_in=timedelta(days=1)
    )
    device = certified(client, admin, clock)
    updaters = DeviceUpdaters(app, clock, device.certificate, tmp_path)
    assert target_path(due.sha256) not in _targets(updaters)[0]
    clock.advance(86400)
    assert target_path(due.sha256) in _targets(updaters)[0]


def test_replayed_director_metadata_names_its_own_device(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    """Each device's targets carry its own ID in the role and every entry, so the
    agent can refuse metadata made for another device."""
    add_release(app, clock, "26.1")
    first = certified(client, admin, clock, uds=b"\x01" * 32)
    second = certified(client, admin, clock, uds=b"\x02" * 32)
    for device in (first, second):
        updaters = DeviceUpdaters(
            app, clock, device.certificate, tmp_path / device.device_id[:8]
        )
        targets = updaters.refresh("director")._trusted_set.targets
        assert targets.unrecognized_fields["x-sevenfold-device-id"] == device.device_id
        for entry in targets.targets.values():
            assert entry.custom["deviceId"] == device.device_id


def test_revoked_device_gets_no_metadata(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    device = certified(client, admin, clock)
    updaters = DeviceUpdaters(app, clock, device.certificate, tmp_path)
    revoked = client.post(
        f"/api/v1/devices/{device.device_id}/revoke", headers=admin.headers
    )
    assert revoked.status_code == 200, revoked.text
    for path in (f"{TUF}/director/timestamp.json", f"{TUF}/image/1.root.json"):
        response = updaters.client.get(path, headers=updaters.fetcher.headers)
        assert_problem(response, 409, "device-revoked")


@pytest.mark.parametrize(("running", "offered"), [("26.0", True), ("26.2", False)])
def test_device_on_a_withdrawn_release_is_not_downgraded(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
    running: str,
    offered: bool,
) -> None:
    """Versions only go up: a device running a release since withdrawn keeps it
    until a newer good release appears, instead of being sent an older one."""
    good = add_release(app, clock, "26.1")
    add_release(app, clock, "26.2", state=ReleaseState.WITHDRAWN)
    device = certified(client, admin, clock)
    updaters = DeviceUpdaters(app, clock, device.certificate, tmp_path)
    report = {"state": "idle", "os_version": running, "installed": [], "targeted": []}
    reported = updaters.client.post(
        "/api/v1/device/update-status", json=report, headers=updaters.fetcher.headers
    )
    assert reported.status_code == 200, reported.text
    assert (target_path(good.sha256) in _targets(updaters)[0]) is offered
    newer = add_release(app, clock, "26.3")
    assert target_path(newer.sha256) in _targets(updaters)[0]
