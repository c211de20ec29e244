"""Deployments (docs/updates.md §3): a group's app images, one per component; a new
deployment supersedes the current one and history is kept; tenants stay apart."""

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.updates import ImageType
from sevenfold.service.db.engine import make_session_factory
from sevenfold.service.deployments.service import current_deployment_images
from tests.api.release_support import API, ImageRow, insert_image, insert_update_status
from tests.api.tenancy_support import access_with_role, assert_problem, build_fleet
from tests.conftest import TenantAccess


def _app_image(
    app: FastAPI, clock: ManualClock, tenant: TenantAccess, **kwargs: Any
) -> ImageRow:
    return insert_image(
        app, clock, tenant_id=tenant.tenant_id, kind=ImageType.APP, **kwargs
    )


def _deploy(
    client: TestClient, access: TenantAccess, group_id: str, image_ids: list[str]
) -> Any:
    return client.post(
        f"{API}/device-groups/{group_id}/deployments",
        json={"image_ids": image_ids},
        headers=access.headers,
    )


def _current_images(app: FastAPI, group_id: str) -> list[str] | None:
    factory = make_session_factory(app.state.sevenfold.engine)
    with factory() as session:
        images = current_deployment_images(session, group_id)
        return None if images is None else [image.id for image in images]


def test_new_deployment_supersedes_the_current_one_and_history_is_kept(
    client: TestClient, app: FastAPI, clock: ManualClock, admin: TenantAccess
) -> None:
    """The newest is current; older ones keep their images and superseded_at.

    (The fleet's first group already has a deployment; the other has none.)"""
    fleet = build_fleet(client, admin, admin)
    assert _current_images(app, fleet.other_group_id) is None
    first, second = _app_image(app, clock, admin), _app_image(app, clock, admin)
    contributor = access_with_role(client, admin, "contributor")
    created = _deploy(client, contributor, fleet.other_group_id, [first.id, second.id])
    assert created.status_code == 201, created.text
    assert [image["id"] for image in created.json()["images"]] == [first.id, second.id]
    assert _current_images(app, fleet.other_group_id) == [first.id, second.id]
    clock.advance(60)
    emptied = _deploy(client, admin, fleet.other_group_id, [])
    assert emptied.status_code == 201, emptied.text
    assert _current_images(app, fleet.other_group_id) == []

    history = client.get(
        f"{API}/device-groups/{fleet.other_group_id}/deployments", headers=admin.headers
    ).json()
    assert [(item["id"], item["current"]) for item in history] == [
        (emptied.json()["id"], True),
        (created.json()["id"], False),
    ]
    assert history[1]["superseded_at"] is not None
    assert len(history[1]["images"]) == 2
    events = client.get(f"{API}/audit-events", headers=admin.headers).json()["items"]
    assert [event["action"] for event in events[:2]] == [
        "deployment.create",
        "deployment.create",
    ]
    assert events[0]["details"]["superseded"] == [created.json()["id"]]


def test_deployment_counts_the_groups_devices_by_update_state(
    client: TestClient, app: FastAPI, clock: ManualClock, admin: TenantAccess
) -> None:
    """A claimed device without a report counts as unknown, then by its state."""
    fleet = build_fleet(client, admin, admin)
    created = _deploy(client, admin, fleet.group_id, []).json()
    shown = client.get(f"{API}/deployments/{created['id']}", headers=admin.headers)
    assert shown.status_code == 200
    unknown = shown.json()["device_counts"]
    assert set(unknown) == {"unknown"}
    insert_update_status(
        app,
        clock,
        device_id=fleet.device_id,
        tenant_id=admin.tenant_id,
        state="downloading",
        os_image_id=None,
    )
    counts = client.get(
        f"{API}/deployments/{created['id']}", headers=admin.headers
    ).json()["device_counts"]
    assert counts.get("downloading") == 1
    assert sum(counts.values()) == sum(unknown.values())


def test_two_images_of_one_component_are_refused(
    client: TestClient, app: FastAPI, clock: ManualClock, admin: TenantAccess
) -> None:
    """At most one image per component: 422 and nothing deployed."""
    fleet = build_fleet(client, admin, admin)
    first = _app_image(app, clock, admin, version="1.0.0")
    second = _app_image(
        app, clock, admin, version="1.1.0", component_id=first.component_id
    )
    response = _deploy(client, admin, fleet.other_group_id, [first.id, second.id])
    assert_problem(response, 422, "validation-error")
    twice = _deploy(client, admin, fleet.other_group_id, [first.id, first.id])
    assert_problem(twice, 422, "validation-error")
    assert _current_images(app, fleet.other_group_id) is None


def test_deploying_another_tenants_image_or_an_os_image_is_refused(
    client: TestClient,
    app: FastAPI,
    clock: ManualClock,
    admin: TenantAccess,
    other_tenant: TenantAccess,
) -> None:
    """A foreign app image is a 404 (its existence is not revealed); a platform OS
    image is not an app image of the tenant either."""
    fleet = build_fleet(client, admin, admin)
    foreign = _app_image(app, clock, other_tenant)
    os_image = insert_image(app, clock, tenant_id=None, kind=ImageType.OS)
    for image_id in (foreign.id, os_image.id, "4f3c1bd8-0000-4000-8000-000000000000"):
        response = _deploy(client, admin, fleet.other_group_id, [image_id])
        assert_problem(response, 404, "not-found")
    assert _current_images(app, fleet.other_group_id) is None


def test_reader_cannot_deploy_and_too_many_images_are_refused(
    client: TestClient, admin: TenantAccess
) -> None:
    """Contributor or more deploys; more than 64 images is a 422."""
    fleet = build_fleet(client, admin, admin)
    reader = access_with_role(client, admin, "reader")
    assert_problem(_deploy(client, reader, fleet.other_group_id, []), 403, "forbidden")
    many = [f"00000000-0000-4000-8000-{index:012d}" for index in range(65)]
    assert_problem(
        _deploy(client, admin, fleet.other_group_id, many), 422, "validation-error"
    )


def test_other_tenant_cannot_deploy_to_or_read_a_groups_deployments(
    client: TestClient,
    app: FastAPI,
    clock: ManualClock,
    admin: TenantAccess,
    other_tenant: TenantAccess,
) -> None:
    """Tenant B gets 404 on A's group and deployment, and changes nothing."""
    fleet = build_fleet(client, admin, admin)
    image = _app_image(app, clock, admin)
    created = _deploy(client, admin, fleet.group_id, [image.id]).json()
    own_image = _app_image(app, clock, other_tenant)
    for response in (
        _deploy(client, other_tenant, fleet.group_id, [own_image.id]),
        client.get(
            f"{API}/device-groups/{fleet.group_id}/deployments",
            headers=other_tenant.headers,
        ),
        client.get(f"{API}/deployments/{created['id']}", headers=other_tenant.headers),
    ):
        assert_problem(response, 404, "not-found")
    assert _current_images(app, fleet.group_id) == [image.id]
