"""Update status reports, check-now and the operator's view (docs/updates.md §4)."""

import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event

from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.updates import (
    ImageType,
    InstalledImage,
    UpdateState,
    UpdateStatusReport,
)
from tests.api.attestation_support import history
from tests.api.device_auth_support import certified
from tests.api.update_support import DeviceUpdaters, add_release, settings
from tests.conftest import TenantAccess
from tests.support.fleet import assert_problem

__all__ = ["settings"]
STATUS = "/api/v1/device/update-status"


def _image(version: str = "26.1") -> InstalledImage:
    return InstalledImage(
        image_id=str(uuid.uuid4()),
        component_id=str(uuid.uuid4()),
        version=version,
        kind=ImageType.OS,
        sha256="ab" * 32,
    )


def _report(state: UpdateState = UpdateState.IDLE, **fields: Any) -> dict[str, Any]:
    report = UpdateStatusReport(
        state=state, os_version="26.1", installed=(_image(),), detail=None
    ).to_json()
    return {**report, **fields}


@pytest.fixture
def device(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> tuple[DeviceUpdaters, str]:
    """A certified device's updaters, and its ID."""
    add_release(app, clock, "26.1")
    certified_device = certified(client, admin, clock)
    return (
        DeviceUpdaters(app, clock, certified_device.certificate, tmp_path),
        certified_device.device_id,
    )


def _post(updaters: DeviceUpdaters, body: Any) -> Any:
    return updaters.client.post(STATUS, json=body, headers=updaters.fetcher.headers)


def test_status_report_is_stored_and_shown_to_operators(
    client: TestClient, admin: TenantAccess, device: tuple[DeviceUpdaters, str]
) -> None:
    updaters, device_id = device
    updaters.refresh("director")
    response = _post(updaters, _report(UpdateState.COMMITTED))
    assert response.status_code == 200, response.text
    assert response.json() == {"check_requested": False}
    shown = client.get(
        f"/api/v1/devices/{device_id}/update-status", headers=admin.headers
    )
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["state"] == "committed"
    assert body["os_version"] == "26.1"
    assert body["installed"][0]["kind"] == "os"
    assert [image["kind"] for image in body["targeted"]] == ["os"]
    assert body["last_check_at"] is not None


def test_a_repeated_idle_report_writes_nothing_within_a_minute(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    device: tuple[DeviceUpdaters, str],
) -> None:
    """An idle fleet reports after every check; an unchanged report within
    ``LAST_CHECK_RESOLUTION`` costs the database no write, a changed one is stored."""
    updaters, device_id = device
    idle = _report()
    assert _post(updaters, idle).status_code == 200
    writes: list[str] = []

    def record(*args: Any) -> None:
        text = " ".join(str(args[2]).split()).upper()
        if "DEVICE_UPDATE_STATUSES" in text and not text.startswith("SELECT"):
            writes.append(text)

    engine = app.state.sevenfold.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        clock.advance(30)
        assert _post(updaters, idle).status_code == 200
        assert writes == []
        clock.advance(31)
        assert _post(updaters, idle).status_code == 200
        assert len(writes) == 1, writes
        assert (
            _post(
                updaters,
                _report(UpdateState.DOWNLOADING, **{"installed": idle["installed"]}),
            ).status_code
            == 200
        )
        assert len(writes) == 2, writes
    finally:
        event.remove(engine, "before_cursor_execute", record)
    shown = client.get(
        f"/api/v1/devices/{device_id}/update-status", headers=admin.headers
    ).json()
    assert shown["state"] == "downloading"


@pytest.mark.parametrize(
    "body",
    [
        {**_report(), "state": "exploded"},
        _report(detail="x" * 201),
        _report(installed=[_image().to_json()] * 65),
        _report(installed=[{**_image().to_json(), "sha256": "AB" * 32}]),
        _report(installed=[{**_image().to_json(), "sha256": "ab" * 31}]),
        _report(os_version="26.1-beta"),
        _report(unexpected=True),
        _report(detail="line\nbreak"),
    ],
    ids=[
        "bad-state", "oversized-detail", "too-many-images", "upper-case-sha",
        "short-sha", "bad-version", "unknown-field", "control-character",
    ],
)  # fmt: skip
def test_malformed_status_report_is_refused(
    device: tuple[DeviceUpdaters, str], body: dict[str, Any]
) -> None:
    updaters, _ = device
    assert_problem(_post(updaters, body), 422, "validation-error")


def test_failed_update_is_recorded_as_a_device_event_once(
    client: TestClient, admin: TenantAccess, device: tuple[DeviceUpdaters, str]
) -> None:
    updaters, device_id = device
    for _ in range(2):
        response = _post(
            updaters, _report(UpdateState.ROLLED_BACK, rolled_back_from="26.2")
        )
        assert response.status_code == 200, response.text
    events = history(client, admin, device_id)["events"]
    failures = [event for event in events if event["kind"] == "update-failure"]
    assert [event["reason"] for event in failures] == ["rolled-back"]


def test_check_now_round_trip(
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    device: tuple[DeviceUpdaters, str],
) -> None:
    updaters, device_id = device
    asked = client.post(
        f"/api/v1/devices/{device_id}/update-check-requests", headers=admin.headers
    )
    assert asked.status_code == 202, asked.text
    assert _post(updaters, _report()).json() == {"check_requested": True}
    clock.advance(5)
    updaters.refresh("director")
    assert _post(updaters, _report()).json() == {"check_requested": False}
    audit = client.get("/api/v1/audit-events", headers=admin.headers).json()
    assert "device.update-check-request" in str(audit)


def test_check_now_for_an_unknown_device_is_not_found(
    client: TestClient, other_tenant: TenantAccess, device: tuple[DeviceUpdaters, str]
) -> None:
    _, device_id = device
    response = client.post(
        f"/api/v1/devices/{device_id}/update-check-requests",
        headers=other_tenant.headers,
    )
    assert_problem(response, 404, "not-found")


def test_contributor_cannot_rotate_update_keys(
    client: TestClient, admin: TenantAccess
) -> None:
    created = client.post(
        "/api/v1/tokens",
        json={"name": "r", "role": "contributor"},
        headers=admin.headers,
    )
    headers = {"Authorization": f"Bearer {created.json()['token']}"}
    response = client.post(
        "/api/v1/update-keys/rotate",
        json={"repository": "director", "role": "timestamp"},
        headers=headers,
    )
    assert_problem(response, 403, "forbidden")
    assert client.get("/api/v1/update-keys", headers=headers).status_code == 200
