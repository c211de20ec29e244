"""Builders for failure-report tests: a certified device that uploads through a
trusted proxy's certificate header, and well-formed events to send."""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.failures import FailureBatch, FailureEvent, FailureKind
from tests.api.attestation_support import (
    EVIDENCE,
    approve_software,
    evidence_body,
    new_device,
    nonce_for,
)
from tests.api.device_auth_support import as_proxy, certified, proxy_header
from tests.conftest import TenantAccess
from tests.support.fleet import claim, create_product, groups_by_name, register

REPORTS = "/api/v1/device/failure-reports"
EVENTS = "/api/v1/failure-events"
REPORT_CSV = "/api/v1/failure-events/report.csv"


@dataclass(frozen=True, slots=True)
class Reporter:
    """A certified device and a client that posts as it."""

    device_id: str
    product_id: str
    client: TestClient
    headers: dict[str, str]

    def post(self, body: Any) -> httpx.Response:
        """POST a failure batch (any JSON) as this device."""
        response: httpx.Response = self.client.post(
            REPORTS, json=body, headers=self.headers
        )
        return response

    def send(self, *events: FailureEvent, dropped_total: int = 0) -> dict[str, Any]:
        """Upload well-formed events; return the answer, which must be a 200."""
        batch = FailureBatch(events=events, dropped_total=dropped_total)
        response = self.post(batch.to_json())
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer


def reporter(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    *,
    uds: bytes = b"\x07" * 32,
) -> Reporter:
    """A claimed, attested device of ``admin``'s tenant that can upload failures."""
    device = certified(client, admin, clock, uds=uds)
    return Reporter(
        device_id=device.device_id,
        product_id=device.attester.product_id,
        client=as_proxy(app),
        headers=proxy_header(device.certificate),
    )


def failure(
    at: datetime,
    kind: FailureKind = FailureKind.APP_CRASH,
    **fields: Any,
) -> FailureEvent:
    """A well-formed event that last happened at ``at`` (a fresh id each time)."""
    values: dict[str, Any] = {
        "event_id": secrets.token_hex(16),
        "kind": kind,
        "key": f"{kind.value}:test",
        "count": 1,
        "first_at": at - timedelta(minutes=5),
        "last_at": at,
        "description": f"{kind.value} in a test",
    }
    values.update(fields)
    return FailureEvent(**values)


def reporter_of(
    app: FastAPI,
    client: TestClient,
    *,
    platform: TenantAccess,
    owner: TenantAccess,
    clock: ManualClock,
    uds: bytes,
    product_name: str,
) -> Reporter:
    """A device registered by ``platform`` and claimed by ``owner``'s tenant (which
    need not be the platform administrator's), attested, ready to upload."""
    device = new_device(clock, uds)
    register(client, platform.headers, [device.device_id])
    product = create_product(client, owner.headers, product_name)
    group = groups_by_name(client, owner.headers, product["id"])["Production"]
    claim(client, owner.headers, device.device_id, group["id"])
    approve_software(client, owner, product["id"], device.measurements)
    evidence = device.evidence(nonce_for(client, device.device_id))
    response = client.post(EVIDENCE, json=evidence_body(device.device_id, evidence))
    assert response.status_code == 200, response.text
    return Reporter(
        device_id=device.device_id,
        product_id=product["id"],
        client=as_proxy(app),
        headers=proxy_header(response.json()["certificate"]),
    )
