"""Approved measurements from released images (docs/updates.md §3): a released OS
image and the tenant's own app images need no manual approval; nothing else does."""

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.updates import ImageType, ReleaseAction
from tests.api.attestation_support import (
    API,
    EVIDENCE,
    approve,
    assert_refused,
    evidence_body,
    new_device,
    nonce_for,
    running,
)
from tests.api.release_support import insert_image, publish
from tests.conftest import TenantAccess
from tests.support.dice import SoftwareDevice
from tests.support.fleet import claim, create_product, groups_by_name, register


def _device_approving_only_the_agent(
    client: TestClient, admin: TenantAccess, clock: ManualClock
) -> SoftwareDevice:
    """A claimed device whose product's manual list holds only its agent."""
    device = new_device(clock, b"\x21" * 32, running(apps=("app 1.0",)))
    register(client, admin.headers, [device.device_id])
    product = create_product(client, admin.headers, "Gateway")
    group = groups_by_name(client, admin.headers, product["id"])["Production"]
    claim(client, admin.headers, device.device_id, group["id"])
    agent = device.measurements.agent_sha256.hex()
    approve(client, admin, product["id"], kind="agent", sha256=agent)
    return device


def _attest(client: TestClient, device: SoftwareDevice) -> httpx.Response:
    evidence = device.evidence(nonce_for(client, device.device_id))
    response: httpx.Response = client.post(
        EVIDENCE, json=evidence_body(device.device_id, evidence)
    )
    return response


def _os_and_app(
    app: FastAPI,
    clock: ManualClock,
    device: SoftwareDevice,
    *,
    app_tenant_id: str,
) -> str:
    """Platform OS and tenant app image rows whose digests the device measures;
    returns the OS image ID."""
    measured = device.measurements
    os_image = insert_image(
        app,
        clock,
        tenant_id=None,
        kind=ImageType.OS,
        version="26.11.1",
        sha256=measured.os_image_sha256.hex(),
    )
    insert_image(
        app,
        clock,
        tenant_id=app_tenant_id,
        kind=ImageType.APP,
        sha256=measured.app_image_sha256s[0].hex(),
    )
    return os_image.id


def test_device_running_a_released_os_is_certified_without_manual_approval(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    """The released OS and the tenant's own app image are approved measurements."""
    device = _device_approving_only_the_agent(client, admin, clock)
    os_image_id = _os_and_app(app, clock, device, app_tenant_id=admin.tenant_id)
    publish(client, admin, os_image_id)
    response = _attest(client, device)
    assert response.status_code == 200, response.text


def test_device_on_a_cancelled_release_still_attests(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    """A device on a cancelled release must attest so it can be moved on."""
    device = _device_approving_only_the_agent(client, admin, clock)
    os_image_id = _os_and_app(app, clock, device, app_tenant_id=admin.tenant_id)
    release = publish(client, admin, os_image_id)
    cancelled = client.post(
        f"{API}/os-releases/{release['id']}/{ReleaseAction.CANCEL.value}",
        headers=admin.headers,
    )
    assert cancelled.status_code == 200, cancelled.text
    response = _attest(client, device)
    assert response.status_code == 200, response.text


def test_unreleased_platform_os_image_is_refused(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    """An uploaded but never published OS image is not approved software."""
    device = _device_approving_only_the_agent(client, admin, clock)
    _os_and_app(app, clock, device, app_tenant_id=admin.tenant_id)
    response = _attest(client, device)
    assert_refused(app, response, device.device_id, "unapproved-software")


def test_another_tenants_app_image_is_refused(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    other_tenant: TenantAccess,
    clock: ManualClock,
) -> None:
    """An app image uploaded by another tenant approves nothing for this device."""
    device = _device_approving_only_the_agent(client, admin, clock)
    os_image_id = _os_and_app(app, clock, device, app_tenant_id=other_tenant.tenant_id)
    publish(client, admin, os_image_id)
    response = _attest(client, device)
    assert_refused(app, response, device.device_id, "unapproved-software")
