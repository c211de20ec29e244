"""Device authentication by certificate on device routes, named after the attacks.

The test app trusts 127.0.0.1 as a reverse proxy; the TestClient's own address is
``testclient``, which is no IP address and so never a trusted proxy.
"""

from datetime import timedelta

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sevenfold.protocol.clock import ManualClock
from sevenfold.service.settings import ServiceSettings
from tests.api.device_auth_support import (
    HEADER,
    IDENTITY,
    as_proxy,
    certified,
    client_certificate,
    proxy_header,
    tenant_ca,
    with_tls_chain,
)
from tests.conftest import TenantAccess
from tests.support.fleet import assert_problem


@pytest.fixture
def trusted_proxies() -> list[str]:
    """The reverse proxies the app trusts (a test may parametrize this)."""
    return ["127.0.0.1/32", "::1"]


@pytest.fixture
def settings(settings: ServiceSettings, trusted_proxies: list[str]) -> ServiceSettings:
    """The shared test settings, with trusted proxy addresses."""
    return settings.model_copy(update={"trusted_proxy_addresses": trusted_proxies})


def _refused(response: httpx.Response, reason: str) -> None:
    body = assert_problem(response, 401, "device-unauthenticated")
    assert body["reason"] == reason
    assert "www-authenticate" not in response.headers


def test_device_certificate_from_a_trusted_proxy_header_is_accepted(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    device = certified(client, admin, clock)
    response = as_proxy(app).get(IDENTITY, headers=proxy_header(device.certificate))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["device_id"] == device.device_id
    assert body["tenant_id"] == admin.tenant_id
    assert body["product_id"] == device.attester.product_id
    assert body["device_group_id"]
    assert body["certificate_not_after"].startswith(
        (clock.now() + timedelta(hours=24)).isoformat()[:19]
    )


def test_device_certificate_from_a_trusted_proxy_over_real_http(
    client: TestClient, admin: TenantAccess, clock: ManualClock, live_url: str
) -> None:
    device = certified(client, admin, clock)
    with httpx.Client(base_url=live_url, trust_env=False) as proxy:
        response = proxy.get(IDENTITY, headers=proxy_header(device.certificate))
    assert response.status_code == 200, response.text
    assert response.json()["device_id"] == device.device_id


def test_device_certificate_from_the_tls_layer_is_accepted(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    device = certified(client, admin, clock)
    tls = TestClient(with_tls_chain(app, [device.certificate]))
    response = tls.get(IDENTITY)
    assert response.status_code == 200, response.text
    assert response.json()["device_id"] == device.device_id


def test_certificate_header_sent_by_an_untrusted_address_is_refused(
    client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    device = certified(client, admin, clock)
    response = client.get(IDENTITY, headers=proxy_header(device.certificate))
    _refused(response, "untrusted-certificate-header")
    assert HEADER in response.json()["detail"]


@pytest.mark.parametrize("trusted_proxies", [["10.0.0.0/8"]])
def test_certificate_header_over_real_http_from_an_untrusted_address_is_refused(
    client: TestClient, admin: TenantAccess, clock: ManualClock, live_url: str
) -> None:
    device = certified(client, admin, clock)
    with httpx.Client(base_url=live_url, trust_env=False) as direct:
        response = direct.get(IDENTITY, headers=proxy_header(device.certificate))
    _refused(response, "untrusted-certificate-header")


def test_header_does_not_override_the_tls_peer_from_an_untrusted_address(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    """A device with its own certificate cannot name another device's in a header."""
    mine = certified(client, admin, clock)
    theirs = certified(client, admin, clock, uds=b"\x08" * 32)
    tls = TestClient(with_tls_chain(app, [mine.certificate]))
    response = tls.get(IDENTITY, headers=proxy_header(theirs.certificate))
    _refused(response, "untrusted-certificate-header")


def test_request_without_a_certificate_is_refused(
    app: FastAPI, client: TestClient
) -> None:
    _refused(client.get(IDENTITY), "no-certificate")
    _refused(as_proxy(app).get(IDENTITY), "no-certificate")
    _refused(TestClient(with_tls_chain(app, [])).get(IDENTITY), "no-certificate")


def test_expired_device_certificate_is_refused(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    device = certified(client, admin, clock)
    clock.advance(timedelta(hours=25).total_seconds())
    response = as_proxy(app).get(IDENTITY, headers=proxy_header(device.certificate))
    _refused(response, "untrusted-certificate")


def test_certificate_from_another_tenants_ca_is_refused(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    other_tenant: TenantAccess,
    clock: ManualClock,
) -> None:
    """Tenant B's CA naming tenant A's device: B's CA does not speak for A's devices."""
    device = certified(client, admin, clock)
    other_ca = tenant_ca(app, clock, other_tenant.tenant_id)
    forged = client_certificate(
        device_id=device.device_id,
        issuer_key=other_ca.private_key,
        issuer_name=other_ca.certificate.subject,
        now=clock.now(),
    )
    response = as_proxy(app).get(IDENTITY, headers=proxy_header(forged))
    _refused(response, "unknown-device")


def test_self_signed_certificate_is_refused(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    device = certified(client, admin, clock)
    real_ca = tenant_ca(app, clock, admin.tenant_id)
    key = ec.generate_private_key(ec.SECP256R1())
    for issuer_name in (
        real_ca.certificate.subject,  # wearing the tenant CA's name
        x509.Name([]),  # no name at all
    ):
        forged = client_certificate(
            device_id=device.device_id,
            issuer_key=key,
            issuer_name=issuer_name,
            now=clock.now(),
        )
        response = as_proxy(app).get(IDENTITY, headers=proxy_header(forged))
        _refused(response, "untrusted-certificate")


def test_certificate_without_client_auth_eku_is_refused(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    device = certified(client, admin, clock)
    real_ca = tenant_ca(app, clock, admin.tenant_id)
    for usages in (None, (ExtendedKeyUsageOID.SERVER_AUTH,)):
        wrong = client_certificate(
            device_id=device.device_id,
            issuer_key=real_ca.private_key,
            issuer_name=real_ca.certificate.subject,
            now=clock.now(),
            usages=usages,
        )
        response = as_proxy(app).get(IDENTITY, headers=proxy_header(wrong))
        _refused(response, "not-client-certificate")


def test_revoked_device_is_cut_off_at_once(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    device = certified(client, admin, clock)
    proxy = as_proxy(app)
    headers = proxy_header(device.certificate)
    assert proxy.get(IDENTITY, headers=headers).status_code == 200
    revoked = client.post(
        f"/api/v1/devices/{device.device_id}/revoke", headers=admin.headers
    )
    assert revoked.status_code == 200, revoked.text
    assert_problem(proxy.get(IDENTITY, headers=headers), 409, "device-revoked")


def test_bearer_token_is_not_accepted_on_device_routes(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    device = certified(client, admin, clock)
    proxy = as_proxy(app)
    for headers in (
        admin.headers,  # a token alone
        {**admin.headers, **proxy_header(device.certificate)},  # and a good cert
        {"Authorization": "Bearer nonsense"},
    ):
        response = proxy.get(IDENTITY, headers=headers)
        assert_problem(response, 400, "authorization-not-accepted")
        assert "www-authenticate" not in response.headers


def test_malformed_certificate_header_is_a_clear_error(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    device = certified(client, admin, clock)
    proxy = as_proxy(app)
    pem = device.certificate
    for value in (
        "garbage",
        "%FF%FE",  # not UTF-8 once decoded
        "-----BEGIN CERTIFICATE-----%0Anot base64%0A-----END CERTIFICATE-----",
        proxy_header(pem)[HEADER] * 20,  # oversized
        proxy_header(pem * 5)[HEADER],  # too many certificates
    ):
        _refused(proxy.get(IDENTITY, headers={HEADER: value}), "malformed-certificate")
    repeated = [(HEADER, proxy_header(pem)[HEADER])] * 2
    _refused(proxy.get(IDENTITY, headers=repeated), "malformed-certificate")
