"""Builders for attestation tests: a claimed software-DICE device, its product's
approved software, nonces and evidence bodies, all through the public API."""

import base64
import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from sevenfold.protocol.attestation import Evidence, Measurements
from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.tpm_evidence import TpmEvidence
from sevenfold.service.attestation.models import AttestationAttempt, DeviceEvent
from sevenfold.service.db.engine import make_session_factory
from tests.conftest import TenantAccess
from tests.support.dice import SoftwareDevice, software_device
from tests.support.fleet import claim, create_product, groups_by_name, register

API = "/api/v1"
NONCES = f"{API}/device/attestation/nonces"
EVIDENCE = f"{API}/device/attestation/evidence"
TPM_EVIDENCE = f"{API}/device/attestation/tpm-evidence"
OS_VERSION = "26.11.1"


def digest(name: str) -> bytes:
    """SHA-256 of a named software image."""
    return hashlib.sha256(name.encode()).digest()


def running(
    os: str = "os 26.11.1", apps: tuple[str, ...] = ("app 1.0",)
) -> Measurements:
    """Measurements of a device running this OS, agent 1.0 and these apps."""
    return Measurements(
        os_image_sha256=digest(os),
        agent_sha256=digest("agent 1.0"),
        app_image_sha256s=tuple(digest(app) for app in apps),
    )


@dataclass(frozen=True, slots=True)
class Attester:
    """A registered device and the product it was claimed into."""

    device: SoftwareDevice
    product_id: str

    @property
    def device_id(self) -> str:
        """The device ID."""
        return self.device.device_id


def new_device(
    clock: ManualClock, uds: bytes, software: Measurements | None = None
) -> SoftwareDevice:
    """A software-DICE device whose Alias certificate is valid at the clock's now."""
    return software_device(
        uds, software or running(), not_before=clock.now() - timedelta(minutes=5)
    )


def approve(
    client: TestClient, admin: TenantAccess, product_id: str, **body: Any
) -> dict[str, Any]:
    """Approve one measurement for a product; return it."""
    response = client.post(
        f"{API}/products/{product_id}/approved-measurements",
        json=body,
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def approve_software(
    client: TestClient, admin: TenantAccess, product_id: str, software: Measurements
) -> None:
    """Approve an OS (as OS_VERSION), an agent and apps for a product."""
    approve(
        client, admin, product_id,
        kind="os", sha256=software.os_image_sha256.hex(), version=OS_VERSION,
        label="OS",
    )  # fmt: skip
    approve(client, admin, product_id, kind="agent", sha256=software.agent_sha256.hex())
    for app in software.app_image_sha256s:
        approve(client, admin, product_id, kind="app", sha256=app.hex())


def enrolled(
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    *,
    uds: bytes = b"\x07" * 32,
    claimed: bool = True,
) -> Attester:
    """A registered (and claimed) device whose product approves what it runs."""
    device = new_device(clock, uds)
    product_id = enroll(
        client, admin, device.device_id, device.measurements, claimed=claimed
    )
    return Attester(device=device, product_id=product_id)


def enroll(
    client: TestClient,
    admin: TenantAccess,
    device_id: str,
    software: Measurements,
    *,
    claimed: bool = True,
) -> str:
    """Register (and claim) a device into a new product approving ``software``;
    return the product's ID."""
    register(client, admin.headers, [device_id])
    product = create_product(client, admin.headers, f"Gateway {device_id[:8]}")
    if claimed:
        group = groups_by_name(client, admin.headers, product["id"])["Production"]
        claim(client, admin.headers, device_id, group["id"])
    approve_software(client, admin, product["id"], software)
    product_id: str = product["id"]
    return product_id


def nonce_for(client: TestClient | httpx.Client, device_id: str) -> bytes:
    """Ask for a nonce as the device; return its bytes."""
    response = client.post(NONCES, json={"device_id": device_id})
    assert response.status_code == 201, response.text
    text: str = response.json()["nonce"]
    return base64.urlsafe_b64decode(text + "=")


def evidence_body(device_id: str, evidence: Evidence) -> dict[str, Any]:
    """The JSON body of an evidence submission."""
    measurements = evidence.measurements
    return {
        "device_id": device_id,
        "nonce": base64.urlsafe_b64encode(evidence.nonce).rstrip(b"=").decode(),
        "alias_certificate": base64.b64encode(evidence.alias_certificate).decode(),
        "measurements": {
            "os_image_sha256": measurements.os_image_sha256.hex(),
            "agent_sha256": measurements.agent_sha256.hex(),
            "app_image_sha256s": [d.hex() for d in measurements.app_image_sha256s],
        },
        "signature": base64.b64encode(evidence.signature).decode(),
    }


def tpm_evidence_body(device_id: str, evidence: TpmEvidence) -> dict[str, Any]:
    """The JSON body of a TPM evidence submission."""
    body = evidence_body(
        device_id,
        Evidence(
            alias_certificate=b"",
            measurements=evidence.measurements,
            nonce=evidence.nonce,
            signature=evidence.signature,
        ),
    )
    del body["alias_certificate"]
    return body | {
        "quoted": base64.b64encode(evidence.quoted).decode(),
        "attestation_public_key": base64.b64encode(
            evidence.attestation_public_key
        ).decode(),
        "attestation_key_binding": base64.b64encode(
            evidence.attestation_key_binding
        ).decode(),
        "pcr_indices": list(evidence.pcr_indices),
        "pcr_values": [value.hex() for value in evidence.pcr_values],
    }


def history(client: TestClient, admin: TenantAccess, device_id: str) -> dict[str, Any]:
    """The device's attestation history as its tenant sees it."""
    response = client.get(
        f"{API}/devices/{device_id}/attestations", headers=admin.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def recorded(app: FastAPI, device_id: str) -> list[tuple[str, str | None]]:
    """Every recorded attempt of a device, oldest first: (outcome, reason)."""
    factory = make_session_factory(app.state.sevenfold.engine)
    with factory() as session:
        rows = session.scalars(
            select(AttestationAttempt)
            .where(AttestationAttempt.device_id == device_id)
            .order_by(AttestationAttempt.id)
        ).all()
        return [(row.outcome, row.reason) for row in rows]


def failure_events(app: FastAPI, device_id: str) -> list[str | None]:
    """The reasons of a device's attestation-failure events, oldest first."""
    factory = make_session_factory(app.state.sevenfold.engine)
    with factory() as session:
        rows = session.scalars(
            select(DeviceEvent)
            .where(DeviceEvent.device_id == device_id)
            .order_by(DeviceEvent.id)
        ).all()
        assert {row.kind for row in rows} <= {"attestation-failure"}
        return [row.reason for row in rows]


def assert_refused(
    app: FastAPI, response: httpx.Response, device_id: str, reason: str
) -> None:
    """Refused with this reason, no certificate, the attempt and event recorded."""
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "attestation-failed"
    assert body["reason"] == reason
    assert "certificate" not in body
    assert "BEGIN CERTIFICATE" not in response.text
    assert recorded(app, device_id)[-1] == ("refused", reason)
    assert failure_events(app, device_id)[-1] == reason
