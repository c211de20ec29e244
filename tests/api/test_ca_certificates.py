"""The tenant CA over the API: listing, downloads, the chain, rotation, key at rest."""

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import PolicyBuilder, Store
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from sevenfold.crypto.certificate_authority import issue_device_certificate
from sevenfold.crypto.key_wrapping import KeyUnwrapError
from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.vocabulary import Role
from sevenfold.service.app import create_app
from sevenfold.service.ca import service as ca_service
from sevenfold.service.ca.key_encryption_key import KeyEncryptionKey
from sevenfold.service.ca.models import TenantCa
from sevenfold.service.db.engine import make_session_factory
from sevenfold.service.errors import KeyEncryptionKeyError
from sevenfold.service.settings import ServiceSettings
from sevenfold.service.tokens import service as token_service
from tests.api.tenancy_support import API, assert_problem, bearer
from tests.conftest import TenantAccess

PEM = "application/x-pem-file"
DAY_S = 24 * 3600


def _reader_now(app: FastAPI, clock: ManualClock, tenant_id: str) -> dict[str, str]:
    """A fresh reader token at the clock's time (the clock outruns any token)."""
    with make_session_factory(app.state.sevenfold.engine)() as session:
        _, text = token_service.create_token(
            session=session,
            clock=clock,
            principal=None,
            tenant_id=tenant_id,
            name="ca reader",
            role=Role.READER,
            platform_role=None,
            expires_in_days=1,
        )
    return bearer(text)


def _chain(client: TestClient, headers: dict[str, str]) -> list[x509.Certificate]:
    response = client.get(f"{API}/ca-certificates/chain", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(PEM)
    return x509.load_pem_x509_certificates(response.content)


def _statuses(client: TestClient, headers: dict[str, str]) -> list[tuple[str, bool]]:
    response = client.get(f"{API}/ca-certificates", headers=headers)
    assert response.status_code == 200, response.text
    return [(ca["status"], ca["in_chain"]) for ca in response.json()]


def test_first_read_makes_one_active_ca_and_audits_it(
    client: TestClient, admin: TenantAccess
) -> None:
    listed = client.get(f"{API}/ca-certificates", headers=admin.headers).json()
    assert len(listed) == 1
    ca = listed[0]
    assert ca["status"] == "active"
    assert ca["in_chain"] is True
    assert f"tenant {admin.tenant_id}" in ca["subject"]
    assert ca["not_before"] == ca["activates_at"]
    again = client.get(f"{API}/ca-certificates", headers=admin.headers).json()
    assert again == listed
    events = client.get(f"{API}/audit-events", headers=admin.headers).json()["items"]
    created = [event for event in events if event["action"] == "ca.create"]
    assert [event["target_id"] for event in created] == [ca["id"]]
    assert created[0]["actor_name"] == ca_service.ROTATION_ACTOR


def test_downloads_as_pem_der_and_chain_name_the_same_certificate(
    client: TestClient, admin: TenantAccess
) -> None:
    ca = client.get(f"{API}/ca-certificates", headers=admin.headers).json()[0]
    pem = client.get(f"{API}/ca-certificates/{ca['id']}", headers=admin.headers)
    assert pem.status_code == 200
    assert pem.headers["content-type"].startswith(PEM)
    der = client.get(
        f"{API}/ca-certificates/{ca['id']}",
        params={"format": "der"},
        headers=admin.headers,
    )
    assert der.headers["content-type"] == "application/pkix-cert"
    from_pem = x509.load_pem_x509_certificate(pem.content)
    assert x509.load_der_x509_certificate(der.content) == from_pem
    assert _chain(client, admin.headers) == [from_pem]
    assert from_pem.fingerprint(hashes.SHA256()).hex() == (ca["thumbprint_sha256"])


def test_other_tenant_cannot_download_my_ca(
    client: TestClient, admin: TenantAccess, other_tenant: TenantAccess
) -> None:
    mine = client.get(f"{API}/ca-certificates", headers=admin.headers).json()[0]
    for params in ({}, {"format": "der"}):
        response = client.get(
            f"{API}/ca-certificates/{mine['id']}",
            params=params,
            headers=other_tenant.headers,
        )
        assert_problem(response, 404, "not-found")
    theirs = client.get(f"{API}/ca-certificates", headers=other_tenant.headers).json()
    assert [ca["id"] for ca in theirs] != [mine["id"]]
    their_chain = _chain(client, other_tenant.headers)
    assert all(admin.tenant_id not in c.subject.rfc4514_string() for c in their_chain)


def test_ca_private_key_is_not_stored_in_plaintext(
    client: TestClient, admin: TenantAccess, app: FastAPI, clock: ManualClock
) -> None:
    client.get(f"{API}/ca-certificates", headers=admin.headers)
    state = app.state.sevenfold
    with make_session_factory(state.engine)() as session:
        row = session.scalars(select(TenantCa)).one()
        signing = ca_service.active_ca(
            session=session,
            clock=clock,
            kek=state.key_encryption_key,
            tenant_id=admin.tenant_id,
        )
    key_der = signing.private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    scalar = signing.private_key.private_numbers().private_value.to_bytes(32, "big")
    stored = row.wrapped_private_key
    assert key_der not in stored
    assert scalar not in stored
    assert b"PRIVATE KEY" not in stored
    assert "PRIVATE KEY" not in row.certificate_pem
    assert repr(state.key_encryption_key) == "KeyEncryptionKey()"
    public = signing.certificate.public_key()
    assert public == signing.private_key.public_key()


def test_ca_key_opens_only_with_the_service_kek(
    client: TestClient, admin: TenantAccess, app: FastAPI, clock: ManualClock
) -> None:
    client.get(f"{API}/ca-certificates", headers=admin.headers)
    factory = make_session_factory(app.state.sevenfold.engine)
    with factory() as session, pytest.raises(KeyUnwrapError):
        ca_service.active_ca(
            session=session,
            clock=clock,
            kek=KeyEncryptionKey(material=bytes(32)),
            tenant_id=admin.tenant_id,
        )


def test_ca_key_copied_into_another_tenants_row_does_not_open(
    client: TestClient,
    admin: TenantAccess,
    other_tenant: TenantAccess,
    app: FastAPI,
    clock: ManualClock,
) -> None:
    """A database writer swapping wrapped keys between tenants gains no signing key."""
    client.get(f"{API}/ca-certificates", headers=admin.headers)
    client.get(f"{API}/ca-certificates", headers=other_tenant.headers)
    state = app.state.sevenfold
    with make_session_factory(state.engine)() as session:
        mine = session.scalars(
            select(TenantCa).where(TenantCa.tenant_id == admin.tenant_id)
        ).one()
        session.execute(
            update(TenantCa)
            .where(TenantCa.tenant_id == other_tenant.tenant_id)
            .values(wrapped_private_key=mine.wrapped_private_key)
        )
        session.commit()
        with pytest.raises(KeyUnwrapError):
            ca_service.active_ca(
                session=session,
                clock=clock,
                kek=state.key_encryption_key,
                tenant_id=other_tenant.tenant_id,
            )


def test_rotation_timeline_across_the_two_year_boundary(
    client: TestClient, admin: TenantAccess, app: FastAPI, clock: ManualClock
) -> None:
    """One CA; at 90 days before expiry a next one; active 45 days later; old drops."""
    first = client.get(f"{API}/ca-certificates", headers=admin.headers).json()[0]
    clock.advance((730 - 90) * DAY_S - 1)
    headers = _reader_now(app, clock, admin.tenant_id)
    assert _statuses(client, headers) == [("active", True)]
    assert len(_chain(client, headers)) == 1

    clock.advance(1)  # exactly not_after - 90 days
    headers = _reader_now(app, clock, admin.tenant_id)
    listed = client.get(f"{API}/ca-certificates", headers=headers).json()
    assert [(ca["id"], ca["status"]) for ca in listed] == [
        (listed[0]["id"], "next"),
        (first["id"], "active"),
    ]
    second = listed[0]
    assert len(_chain(client, headers)) == 2
    default = client.get(f"{API}/ca-certificates/{first['id']}", headers=headers)
    assert default.status_code == 200

    clock.advance(45 * DAY_S - 1)
    headers = _reader_now(app, clock, admin.tenant_id)
    assert _statuses(client, headers) == [("next", True), ("active", True)]

    clock.advance(1)  # the successor's activation
    headers = _reader_now(app, clock, admin.tenant_id)
    assert _statuses(client, headers) == [("active", True), ("retired", True)]
    assert len(_chain(client, headers)) == 2
    with make_session_factory(app.state.sevenfold.engine)() as session:
        signing = ca_service.active_ca(
            session=session,
            clock=clock,
            kek=app.state.sevenfold.key_encryption_key,
            tenant_id=admin.tenant_id,
        )
    assert signing.ca.id == second["id"]

    clock.advance(45 * DAY_S)  # the first CA's not_after
    headers = _reader_now(app, clock, admin.tenant_id)
    assert _statuses(client, headers) == [("active", True), ("retired", False)]
    chain = _chain(client, headers)
    assert len(chain) == 1
    assert chain[0].fingerprint(hashes.SHA256()).hex() == (second["thumbprint_sha256"])
    still = client.get(f"{API}/ca-certificates/{first['id']}", headers=headers)
    assert still.status_code == 200  # retired CAs stay downloadable by ID


def test_ca_nobody_read_until_after_expiry_is_replaced_at_once(
    client: TestClient, admin: TenantAccess, app: FastAPI, clock: ManualClock
) -> None:
    client.get(f"{API}/ca-certificates", headers=admin.headers)
    clock.advance(800 * DAY_S)
    headers = _reader_now(app, clock, admin.tenant_id)
    assert _statuses(client, headers) == [("active", True), ("retired", False)]


def test_device_certificate_from_the_active_ca_verifies_against_the_chain(
    client: TestClient, admin: TenantAccess, app: FastAPI, clock: ManualClock
) -> None:
    with make_session_factory(app.state.sevenfold.engine)() as session:
        signing = ca_service.active_ca(
            session=session,
            clock=clock,
            kek=app.state.sevenfold.key_encryption_key,
            tenant_id=admin.tenant_id,
        )
    device_key = ec.generate_private_key(ec.SECP256R1())
    leaf = issue_device_certificate(
        signing.private_key,
        signing.certificate,
        device_key.public_key(),
        "cd" * 64,
        clock.now(),
    )
    roots = _chain(client, admin.headers)
    verifier = (
        PolicyBuilder()
        .store(Store(roots))
        .time(clock.now() + timedelta(hours=1))
        .build_client_verifier()
    )
    verified = verifier.verify(leaf, [])
    assert verified.chain[-1] == roots[0]


def test_without_a_kek_the_ca_routes_say_so(
    settings: ServiceSettings, app: FastAPI, admin: TenantAccess, clock: ManualClock
) -> None:
    bare = settings.model_copy(update={"key_encryption_key_file": None})
    no_kek = create_app(
        bare, clock=clock, engine=app.state.sevenfold.engine, run_operations=False
    )
    with TestClient(no_kek) as client:
        for path in ("/ca-certificates", "/ca-certificates/chain"):
            response = client.get(f"{API}{path}", headers=admin.headers)
            assert_problem(response, 503, "ca-unavailable")


def test_kek_file_readable_by_others_is_refused(
    settings: ServiceSettings, app: FastAPI, tmp_path: Path
) -> None:
    path = settings.effective_key_encryption_key_file
    path.chmod(0o644)
    with pytest.raises(KeyEncryptionKeyError, match="owner only") as caught:
        create_app(settings, engine=app.state.sevenfold.engine)
    assert path.read_text().strip() not in str(caught.value)
    path.chmod(0o600)


@pytest.mark.parametrize("content", [b"", b"not base64!", b"c2hvcnQ=\n"])
def test_kek_file_without_a_32_byte_key_is_refused(
    settings: ServiceSettings, app: FastAPI, content: bytes
) -> None:
    path = settings.effective_key_encryption_key_file
    path.write_bytes(content)
    with pytest.raises(KeyEncryptionKeyError):
        create_app(settings, engine=app.state.sevenfold.engine)
