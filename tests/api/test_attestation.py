"""Attestation: each test is named after the attack it stops, and checks the reason
code, that no certificate was issued and that the attempt was recorded."""

import dataclasses
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from sevenfold.protocol.attestation import ATTESTED_OS_VERSION_OID, encode_os_version
from sevenfold.protocol.clock import ManualClock
from sevenfold.service.attestation.models import AttestationNonce
from tests.api.attestation_support import (
    API,
    EVIDENCE,
    NONCES,
    OS_VERSION,
    approve,
    assert_refused,
    digest,
    enrolled,
    evidence_body,
    history,
    new_device,
    nonce_for,
    recorded,
    running,
)
from tests.conftest import TenantAccess


def test_attested_device_gets_a_24_hour_certificate_for_its_alias_key(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    attester = enrolled(client, admin, clock)
    evidence = attester.device.evidence(nonce_for(client, attester.device_id))
    response = client.post(EVIDENCE, json=evidence_body(attester.device_id, evidence))
    assert response.status_code == 200, response.text
    body = response.json()
    leaf = x509.load_pem_x509_certificate(body["certificate"].encode())
    roots = x509.load_pem_x509_certificates(body["chain"].encode())
    verifier = (
        PolicyBuilder().store(Store(roots)).time(clock.now()).build_client_verifier()
    )
    verified = verifier.verify(leaf, [])
    uri = f"urn:sevenfold:device:{attester.device_id}"
    assert verified.subjects is not None
    assert x509.UniformResourceIdentifier(uri) in verified.subjects
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert leaf.not_valid_before_utc == clock.now()
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == timedelta(hours=24)
    assert body["not_after"].startswith(leaf.not_valid_after_utc.isoformat()[:19])
    version = leaf.extensions.get_extension_for_oid(
        x509.ObjectIdentifier(ATTESTED_OS_VERSION_OID)
    )
    assert not version.critical
    assert isinstance(version.value, x509.UnrecognizedExtension)
    assert version.value.value == encode_os_version(OS_VERSION)
    alias = x509.load_der_x509_certificate(evidence.alias_certificate).public_key()
    point = serialization.PublicFormat.UncompressedPoint
    assert leaf.public_key().public_bytes(
        serialization.Encoding.X962, point
    ) == alias.public_bytes(serialization.Encoding.X962, point)
    assert recorded(app, attester.device_id) == [("certified", None)]
    seen = history(client, admin, attester.device_id)
    assert seen["attempts"][0]["outcome"] == "certified"
    assert seen["attempts"][0]["os_version"] == OS_VERSION
    assert seen["events"] == []


def test_replayed_nonce_is_refused(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    attester = enrolled(client, admin, clock)
    body = evidence_body(
        attester.device_id,
        attester.device.evidence(nonce_for(client, attester.device_id)),
    )
    assert client.post(EVIDENCE, json=body).status_code == 200
    replay = client.post(EVIDENCE, json=body)
    assert_refused(app, replay, attester.device_id, "nonce-used")
    assert recorded(app, attester.device_id) == [
        ("certified", None),
        ("refused", "nonce-used"),
    ]
    assert history(client, admin, attester.device_id)["events"][0] == {
        "kind": "attestation-failure",
        "reason": "nonce-used",
        "at": history(client, admin, attester.device_id)["events"][0]["at"],
    }


def test_expired_nonce_is_refused(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    attester = enrolled(client, admin, clock)
    nonce = nonce_for(client, attester.device_id)
    clock.advance(61)
    body = evidence_body(attester.device_id, attester.device.evidence(nonce))
    assert_refused(
        app, client.post(EVIDENCE, json=body), attester.device_id, "nonce-expired"
    )


def test_nonce_for_another_device_is_refused(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    attester = enrolled(client, admin, clock)
    other = enrolled(client, admin, clock, uds=b"\x08" * 32)
    stolen = nonce_for(client, other.device_id)
    body = evidence_body(attester.device_id, attester.device.evidence(stolen))
    assert_refused(
        app, client.post(EVIDENCE, json=body), attester.device_id, "unknown-nonce"
    )
    # The other device's nonce was not spent by the attempt.
    answer = evidence_body(other.device_id, other.device.evidence(stolen))
    assert client.post(EVIDENCE, json=answer).status_code == 200


def test_forged_evidence_signature_is_refused(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    attester = enrolled(client, admin, clock)
    evidence = attester.device.evidence(nonce_for(client, attester.device_id))
    forger = ec.generate_private_key(ec.SECP256R1())
    forged = dataclasses.replace(
        evidence,
        signature=forger.sign(evidence.signed_bytes(), ec.ECDSA(hashes.SHA256())),
    )
    body = evidence_body(attester.device_id, forged)
    assert_refused(
        app, client.post(EVIDENCE, json=body), attester.device_id, "bad-signature"
    )


def test_evidence_from_an_unregistered_key_is_refused(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    """A cloned identity: same software, but a DeviceID key nobody registered."""
    attester = enrolled(client, admin, clock)
    clone = new_device(clock, b"\x09" * 32)
    evidence = clone.evidence(nonce_for(client, attester.device_id))
    body = evidence_body(attester.device_id, evidence)
    assert_refused(
        app, client.post(EVIDENCE, json=body), attester.device_id, "bad-chain"
    )


def test_alias_certificate_from_another_device_is_refused(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    """Another registered device's genuine Alias certificate and key, our ID."""
    attester = enrolled(client, admin, clock)
    other = enrolled(client, admin, clock, uds=b"\x0a" * 32)
    evidence = other.device.evidence(nonce_for(client, attester.device_id))
    body = evidence_body(attester.device_id, evidence)
    assert_refused(
        app, client.post(EVIDENCE, json=body), attester.device_id, "bad-chain"
    )


def test_tampered_os_measurement_is_refused(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    """The device reports (and signs) an approved OS it does not run."""
    attester = enrolled(client, admin, clock)
    hacked = new_device(clock, b"\x07" * 32, running(os="os hacked"))
    approved_measurements = attester.device.measurements
    lying = dataclasses.replace(hacked, measurements=approved_measurements)
    evidence = lying.evidence(nonce_for(client, attester.device_id))
    body = evidence_body(attester.device_id, evidence)
    assert_refused(
        app,
        client.post(EVIDENCE, json=body),
        attester.device_id,
        "measurement-mismatch",
    )


def test_unapproved_os_is_refused(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    attester = enrolled(client, admin, clock)
    updated = new_device(clock, b"\x07" * 32, running(os="os 27.01"))
    evidence = updated.evidence(nonce_for(client, attester.device_id))
    body = evidence_body(attester.device_id, evidence)
    assert_refused(
        app,
        client.post(EVIDENCE, json=body),
        attester.device_id,
        "unapproved-software",
    )


def test_unapproved_app_is_refused(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    attester = enrolled(client, admin, clock)
    sideloaded = new_device(
        clock, b"\x07" * 32, running(apps=("app 1.0", "cryptominer"))
    )
    evidence = sideloaded.evidence(nonce_for(client, attester.device_id))
    body = evidence_body(attester.device_id, evidence)
    assert_refused(
        app,
        client.post(EVIDENCE, json=body),
        attester.device_id,
        "unapproved-software",
    )
    approve(
        client,
        admin,
        attester.product_id,
        kind="app",
        sha256=digest("cryptominer").hex(),
    )
    again = sideloaded.evidence(nonce_for(client, attester.device_id))
    ok = client.post(EVIDENCE, json=evidence_body(attester.device_id, again))
    assert ok.status_code == 200, ok.text


def test_revoked_device_gets_no_certificate(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    attester = enrolled(client, admin, clock)
    revoked = client.post(
        f"{API}/devices/{attester.device_id}/revoke", headers=admin.headers
    )
    assert revoked.status_code == 200, revoked.text
    evidence = attester.device.evidence(nonce_for(client, attester.device_id))
    body = evidence_body(attester.device_id, evidence)
    assert_refused(app, client.post(EVIDENCE, json=body), attester.device_id, "revoked")


def test_unclaimed_device_gets_no_certificate(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    attester = enrolled(client, admin, clock, claimed=False)
    evidence = attester.device.evidence(nonce_for(client, attester.device_id))
    body = evidence_body(attester.device_id, evidence)
    assert_refused(
        app, client.post(EVIDENCE, json=body), attester.device_id, "not-claimed"
    )


def test_unregistered_device_gets_no_nonce(
    client: TestClient, clock: ManualClock
) -> None:
    device = new_device(clock, b"\x0b" * 32)
    response = client.post(NONCES, json={"device_id": device.device_id})
    assert response.status_code == 403
    assert response.json()["reason"] == "unknown-device"


def test_bearer_token_is_not_accepted_on_device_routes(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    attester = enrolled(client, admin, clock)
    asked = client.post(
        NONCES, json={"device_id": attester.device_id}, headers=admin.headers
    )
    assert asked.status_code == 400
    assert asked.json()["code"] == "authorization-not-accepted"
    body = evidence_body(
        attester.device_id,
        attester.device.evidence(nonce_for(client, attester.device_id)),
    )
    sent = client.post(EVIDENCE, json=body, headers=admin.headers)
    assert sent.status_code == 400
    assert sent.json()["code"] == "authorization-not-accepted"
    assert "BEGIN CERTIFICATE" not in sent.text
    assert recorded(app, attester.device_id) == []


def test_nonce_table_is_bounded_per_device(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    attester = enrolled(client, admin, clock)
    nonces = [nonce_for(client, attester.device_id) for _ in range(20)]
    factory = app.state.sevenfold.session_factory
    with factory() as session:
        stored = session.scalar(select(func.count()).select_from(AttestationNonce))
    assert stored == 8
    oldest = evidence_body(attester.device_id, attester.device.evidence(nonces[0]))
    assert_refused(
        app, client.post(EVIDENCE, json=oldest), attester.device_id, "unknown-nonce"
    )
    newest = evidence_body(attester.device_id, attester.device.evidence(nonces[-1]))
    assert client.post(EVIDENCE, json=newest).status_code == 200
