"""Direct mTLS: the real app over real TLS, as ``sevenfold serve --tls-cert`` runs it.

The server asks for client certificates (optional), verifies them against the tenant
CAs (those valid at start, and each made later), and puts the verified chain in the
ASGI TLS extension, where the device-auth dependency checks it again.
"""

import contextlib
import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sevenfold.entry.main import root
from sevenfold.protocol.clock import ManualClock
from sevenfold.service.tls.context import server_context, trust_tenant_cas
from tests.api.attestation_support import (
    EVIDENCE,
    Attester,
    approve_software,
    evidence_body,
    new_device,
    nonce_for,
)
from tests.api.device_auth_support import IDENTITY, Certified, certified
from tests.conftest import TenantAccess
from tests.support.fleet import (
    assert_problem,
    claim,
    create_product,
    groups_by_name,
    register,
)
from tests.support.live_server import live_server
from tests.support.tls_files import (
    ServerTls,
    key_pem,
    self_signed,
    server_tls,
    write_private,
)


@pytest.fixture
def tls(tmp_path: Path) -> ServerTls:
    """A server certificate for 127.0.0.1 from a throwaway test CA."""
    return server_tls(tmp_path / "tls")


@contextlib.contextmanager
def mtls_server(app: FastAPI, tls: ServerTls) -> Iterator[tuple[str, int]]:
    """Serve ``app`` over HTTPS as ``sevenfold serve`` does; yield the URL and how
    many tenant CAs were trusted at start."""
    context = server_context(tls.certificate_file, tls.key_file)
    loaded = trust_tenant_cas(app.state.sevenfold, context)
    with live_server(app, context, tls.client_context()) as url:
        yield url, loaded


def device_context(
    tls: ServerTls, device: Certified, directory: Path
) -> ssl.SSLContext:
    """A client context presenting the device's certificate and Alias key."""
    directory.mkdir(parents=True, exist_ok=True)
    certificate_file = directory / "device.pem"
    certificate_file.write_text(device.certificate)
    key_file = write_private(
        directory / "device-key.pem", key_pem(device.attester.device.alias)
    )
    return tls.client_context(certificate_file, key_file)


def identity(url: str, context: ssl.SSLContext) -> httpx.Response:
    """GET the device identity route over HTTPS with ``context``."""
    with httpx.Client(base_url=url, verify=context, trust_env=False) as device:
        first = device.get(IDENTITY)
        second = device.get(IDENTITY)  # the same connection carries the chain again
    assert second.status_code == first.status_code
    return first


def test_attested_device_is_authenticated_by_its_certificate_over_mtls(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tls: ServerTls,
    tmp_path: Path,
) -> None:
    device = certified(client, admin, clock)  # its tenant CA exists before start
    with mtls_server(app, tls) as (url, loaded):
        assert loaded == 1
        response = identity(url, device_context(tls, device, tmp_path / "device"))
    assert response.status_code == 200, response.text
    assert response.json()["device_id"] == device.device_id
    assert response.json()["tenant_id"] == admin.tenant_id


def test_without_a_client_certificate_devices_are_refused_and_operators_work(
    app: FastAPI, client: TestClient, admin: TenantAccess, tls: ServerTls
) -> None:
    with (
        mtls_server(app, tls) as (url, _loaded),
        httpx.Client(
            base_url=url, verify=tls.client_context(), trust_env=False
        ) as anonymous,
    ):
        refused = anonymous.get(IDENTITY)
        tenants = anonymous.get("/api/v1/tenants", headers=admin.headers)
    body = assert_problem(refused, 401, "device-unauthenticated")
    assert body["reason"] == "no-certificate"
    assert tenants.status_code == 200, tenants.text


def test_a_self_signed_client_certificate_is_refused(
    app: FastAPI, client: TestClient, tls: ServerTls, tmp_path: Path
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate_file = tmp_path / "self-signed.pem"
    certificate_file.write_bytes(
        self_signed(key, "device").public_bytes(serialization.Encoding.PEM)
    )
    key_file = write_private(tmp_path / "self-signed-key.pem", key_pem(key))
    context = tls.client_context(certificate_file, key_file)
    with (
        mtls_server(app, tls) as (url, _loaded),
        httpx.Client(base_url=url, verify=context, trust_env=False) as forger,
        pytest.raises(httpx.TransportError),  # the TLS layer ends the handshake
    ):
        forger.get(IDENTITY)


def _certified_in(
    client: TestClient, platform: TenantAccess, tenant: TenantAccess, clock: ManualClock
) -> Certified:
    """A device the platform registered and ``tenant`` claimed, attested."""
    device = new_device(clock, b"\x0b" * 32)
    register(client, platform.headers, [device.device_id])
    product = create_product(client, tenant.headers, "Fabrikam gateway")
    group = groups_by_name(client, tenant.headers, product["id"])["Production"]
    claim(client, tenant.headers, device.device_id, group["id"])
    approve_software(client, tenant, product["id"], device.measurements)
    evidence = device.evidence(nonce_for(client, device.device_id))
    response = client.post(EVIDENCE, json=evidence_body(device.device_id, evidence))
    assert response.status_code == 200, response.text
    attester = Attester(device=device, product_id=product["id"])
    return Certified(attester=attester, certificate=response.json()["certificate"])


def test_a_ca_made_after_start_is_trusted_without_restart(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    other_tenant: TenantAccess,
    clock: ManualClock,
    tls: ServerTls,
    tmp_path: Path,
) -> None:
    with mtls_server(app, tls) as (url, loaded):
        assert loaded == 0  # no tenant has a CA yet
        device = _certified_in(client, admin, other_tenant, clock)
        response = identity(url, device_context(tls, device, tmp_path / "device"))
    assert response.status_code == 200, response.text
    assert response.json()["tenant_id"] == other_tenant.tenant_id


def test_a_revoked_device_is_refused_at_once(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tls: ServerTls,
    tmp_path: Path,
) -> None:
    device = certified(client, admin, clock)
    context = device_context(tls, device, tmp_path / "device")
    with (
        mtls_server(app, tls) as (url, _loaded),
        httpx.Client(base_url=url, verify=context, trust_env=False) as connection,
    ):
        assert connection.get(IDENTITY).status_code == 200
        revoked = client.post(
            f"/api/v1/devices/{device.device_id}/revoke", headers=admin.headers
        )
        assert revoked.status_code == 200, revoked.text
        after = connection.get(IDENTITY)  # same connection, same certificate
    assert_problem(after, 409, "device-revoked")


def test_serve_refuses_a_key_file_others_may_read(
    tls: ServerTls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: started.append(a))
    os.chmod(tls.key_file, 0o644)
    result = CliRunner().invoke(
        root,
        [
            "serve",
            "--data-dir",
            str(tmp_path / "data"),
            "--tls-cert",
            str(tls.certificate_file),
            "--tls-key",
            str(tls.key_file),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "readable by group or others (mode 0644)" in result.output
    assert not started


def test_serve_refuses_a_certificate_without_a_key(
    tls: ServerTls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: started.append(a))
    result = CliRunner().invoke(
        root,
        [
            "serve",
            "--data-dir",
            str(tmp_path / "data"),
            "--tls-cert",
            str(tls.certificate_file),
        ],
    )
    assert result.exit_code == 2, result.output
    assert "set both tls_certificate_file and tls_key_file" in result.output
    assert not started
