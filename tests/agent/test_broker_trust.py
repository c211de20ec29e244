"""The customer's cloud trusts an attested device: a real mosquitto that trusts only
the tenant CA chain (downloaded through the API) accepts the device's certificate,
presented through the key store's TLS context, and refuses an expired certificate,
another tenant's certificate and a self-made one.

The broker checks certificates against the real wall clock, so the service's clock
starts at the real time less two days: attesting at once gives an expired
certificate; advancing the clock by two days first gives one valid now.
"""

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from sevenfold.agent.state import AttestationResult, StateStore
from sevenfold.agent.trusted.dice_keystore import DiceKeyStore
from sevenfold.protocol.clock import ManualClock
from tests.agent.agent_support import config_for, run_agent
from tests.api.attestation_support import approve_software, running
from tests.conftest import TenantAccess
from tests.support.fleet import claim, create_product, groups_by_name, register
from tests.support.mosquitto import (
    CONNACK_ACCEPTED,
    Broker,
    mosquitto,
    mqtt_connect,
)

BEHIND = timedelta(days=2)
CHAIN = "/api/v1/ca-certificates/chain"


@pytest.fixture
def clock() -> ManualClock:
    """The service's clock, two days behind the real one (see the module doc)."""
    return ManualClock(datetime.now(UTC) - BEHIND)


def _attested_device(
    client: TestClient, platform: TenantAccess, tenant: TenantAccess,
    clock: ManualClock, live_url: str, state_dir: Path,
) -> tuple[DiceKeyStore, bytes]:  # fmt: skip
    """A DICE device registered by the platform, claimed by ``tenant`` with its
    software approved, attested by the agent daemon; its key store and the
    certificate.pem the daemon wrote."""
    DiceKeyStore.create(state_dir)
    device_id = DiceKeyStore.open(state_dir, running(), clock=clock).device_id
    register(client, platform.headers, [device_id])
    product = create_product(client, tenant.headers, f"Gateway {device_id[:8]}")
    group = groups_by_name(client, tenant.headers, product["id"])["Production"]
    claim(client, tenant.headers, device_id, group["id"])
    approve_software(client, tenant, product["id"], running())
    run_agent(config_for(state_dir, live_url), clock, max_sleeps=1)
    state = StateStore(state_dir).read_state()
    assert state is not None
    assert state.last_result is AttestationResult.CERTIFIED
    keystore = DiceKeyStore.open(state_dir, running(), clock=clock)
    return keystore, (state_dir / "certificate.pem").read_bytes()


def _tenant_chain(live_url: str, tenant: TenantAccess) -> bytes:
    """The tenant CA chain, downloaded once, as the customer's cloud does."""
    response = httpx.get(f"{live_url}{CHAIN}", headers=tenant.headers, timeout=10)
    assert response.status_code == 200, response.text
    assert b"BEGIN CERTIFICATE" in response.content
    return response.content


def _assert_refused(broker: Broker, context: ssl.SSLContext) -> None:
    """The broker rejects the client certificate during the TLS handshake.

    The client sees an alert or, when mosquitto closes first, an EOF (both
    ``ssl.SSLError``) or a reset; the broker's log is the verdict that counts."""
    with pytest.raises((ssl.SSLError, ConnectionError)):
        mqtt_connect(broker.port, context, "gateway-1")
    log = broker.log_once_it_shows("certificate verify failed")
    assert log.count("certificate verify failed") == 1, log
    assert "New client connected" not in log


def _issued_by_one_of(certificate: x509.Certificate, chain_pem: bytes) -> bool:
    for ca in x509.load_pem_x509_certificates(chain_pem):
        try:
            certificate.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return True
    return False


def _subject_cn(certificate_pem: bytes) -> str:
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value)


def test_attested_device_certificate_connects_to_the_broker(
    live_url: str, client: TestClient, admin: TenantAccess, clock: ManualClock,
    tmp_path: Path,
) -> None:  # fmt: skip
    clock.advance(BEHIND.total_seconds())
    keystore, certificate = _attested_device(
        client, admin, admin, clock, live_url, tmp_path / "device"
    )
    with mosquitto(tmp_path / "broker", _tenant_chain(live_url, admin)) as broker:
        context = keystore.client_ssl_context(certificate, broker.server_ca_pem)
        code = mqtt_connect(broker.port, context, "gateway-1")
        assert code == CONNACK_ACCEPTED
        # use_identity_as_username: the broker names the client by its
        # certificate's CN, the device ID (cut to 64 characters by the CA).
        assert _subject_cn(certificate) == keystore.device_id[:64]
        broker.log_once_it_shows(
            f"as gateway-1 (p2, c1, k60, u'{keystore.device_id[:64]}')"
        )


def test_expired_device_certificate_is_refused_by_the_broker(
    live_url: str, client: TestClient, admin: TenantAccess, clock: ManualClock,
    tmp_path: Path,
) -> None:  # fmt: skip
    keystore, certificate = _attested_device(
        client, admin, admin, clock, live_url, tmp_path / "device"
    )
    chain = _tenant_chain(live_url, admin)
    # Expiry is the only fault: the tenant CA the broker trusts issued it.
    issued = x509.load_pem_x509_certificate(certificate)
    assert issued.not_valid_after_utc < datetime.now(UTC)
    assert _issued_by_one_of(issued, chain)
    with mosquitto(tmp_path / "broker", chain) as broker:
        context = keystore.client_ssl_context(certificate, broker.server_ca_pem)
        _assert_refused(broker, context)


def test_certificate_from_another_tenants_ca_is_refused_by_the_broker(
    live_url: str, client: TestClient, admin: TenantAccess,
    other_tenant: TenantAccess, clock: ManualClock, tmp_path: Path,
) -> None:  # fmt: skip
    clock.advance(BEHIND.total_seconds())
    keystore, certificate = _attested_device(
        client, admin, other_tenant, clock, live_url, tmp_path / "device"
    )
    chain_a = _tenant_chain(live_url, admin)
    # Control: the certificate is valid now and chains to tenant B's CA.
    issued = x509.load_pem_x509_certificate(certificate)
    assert issued.not_valid_after_utc > datetime.now(UTC)
    assert _issued_by_one_of(issued, _tenant_chain(live_url, other_tenant))
    assert not _issued_by_one_of(issued, chain_a)
    with mosquitto(tmp_path / "broker", chain_a) as broker:
        context = keystore.client_ssl_context(certificate, broker.server_ca_pem)
        _assert_refused(broker, context)


def test_self_made_certificate_is_refused_by_the_broker(
    live_url: str, client: TestClient, admin: TenantAccess, clock: ManualClock,
    tmp_path: Path,
) -> None:  # fmt: skip
    """An impostor copies the real certificate's subject and SAN into a certificate
    it signs itself, with a key of its own."""
    clock.advance(BEHIND.total_seconds())
    _, certificate_pem = _attested_device(
        client, admin, admin, clock, live_url, tmp_path / "device"
    )
    genuine = x509.load_pem_x509_certificate(certificate_pem)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    forged = (
        x509.CertificateBuilder()
        .subject_name(genuine.subject)
        .issuer_name(genuine.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            genuine.extensions.get_extension_for_class(
                x509.SubjectAlternativeName
            ).value,
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    impostor = tmp_path / "impostor"
    impostor.mkdir()
    (impostor / "cert.pem").write_bytes(forged.public_bytes(serialization.Encoding.PEM))
    (impostor / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with mosquitto(tmp_path / "broker", _tenant_chain(live_url, admin)) as broker:
        context = ssl.create_default_context(cadata=broker.server_ca_pem.decode())
        context.load_cert_chain(impostor / "cert.pem", impostor / "key.pem")
        _assert_refused(broker, context)
