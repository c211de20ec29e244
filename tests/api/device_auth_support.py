"""Builders for device-authentication tests: an attested device's certificate, the
header a TLS-ending proxy sends, and certificates made to look like one."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from sevenfold.crypto.certificate_authority import DEVICE_URI_PREFIX, certificate_pem
from sevenfold.protocol.clock import ManualClock
from sevenfold.service.ca import service as ca_service
from sevenfold.service.db.engine import make_session_factory
from tests.api.attestation_support import (
    EVIDENCE,
    Attester,
    enrolled,
    evidence_body,
    nonce_for,
)
from tests.conftest import TenantAccess

IDENTITY = "/api/v1/device/identity"
HEADER = "X-Client-Certificate"


@dataclass(frozen=True, slots=True)
class Certified:
    """An attested device and the certificate the service issued it."""

    attester: Attester
    certificate: str

    @property
    def device_id(self) -> str:
        """The device ID."""
        return self.attester.device_id


def certified(
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    *,
    uds: bytes = b"\x07" * 32,
) -> Certified:
    """A claimed device that attested and got its 24-hour certificate."""
    attester = enrolled(client, admin, clock, uds=uds)
    evidence = attester.device.evidence(nonce_for(client, attester.device_id))
    response = client.post(EVIDENCE, json=evidence_body(attester.device_id, evidence))
    assert response.status_code == 200, response.text
    return Certified(attester=attester, certificate=response.json()["certificate"])


def proxy_header(pem: str) -> dict[str, str]:
    """The header nginx sends with ``$ssl_client_escaped_cert``."""
    return {HEADER: quote(pem, safe="")}


def as_proxy(app: FastAPI, host: str = "127.0.0.1") -> TestClient:
    """A client whose requests come from ``host`` (a proxy's address)."""
    return TestClient(app, client=(host, 50000))


def with_tls_chain(app: ASGIApp, chain: Sequence[str]) -> ASGIApp:
    """The app behind a server that ended TLS and puts the peer chain in the scope."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            extensions = dict(scope.get("extensions") or {})
            extensions["tls"] = {"server_cert": None, "client_cert_chain": list(chain)}
            scope = {**scope, "extensions": extensions}
        await app(scope, receive, send)

    return wrapped


def tenant_ca(app: FastAPI, clock: ManualClock, tenant_id: str) -> ca_service.ActiveCa:
    """A tenant's signing CA with its key, straight from the service."""
    state = app.state.sevenfold
    with make_session_factory(state.engine)() as session:
        return ca_service.active_ca(
            session=session,
            clock=clock,
            kek=state.key_encryption_key,
            tenant_id=tenant_id,
        )


def client_certificate(
    *,
    device_id: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer_name: x509.Name,
    now: datetime,
    usages: Sequence[x509.ObjectIdentifier] | None = (ExtendedKeyUsageOID.CLIENT_AUTH,),
) -> str:
    """A device-shaped client certificate signed by any key with any issuer name."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "device")]))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=24))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(DEVICE_URI_PREFIX + device_id)]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if usages is not None:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(list(usages)), critical=False
        )
    return certificate_pem(builder.sign(issuer_key, hashes.SHA256()))
