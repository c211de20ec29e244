"""The service under the update benchmark: HTTPS with client certificates, an OS
release, and attested devices that already run it.

Set-up is the foundation benchmark's (``bench.target``: the tenant bootstrapped as
``sevenfold init`` does, a product, devices registered and bulk-claimed over HTTP),
over HTTPS: the server is ``bench.serve_tls``. Then, over HTTP like an operator:
a platform image-signing key, a signed OS image package of ``image_bytes`` random
payload uploaded to ``/images`` and published with no evaluation window (so the
director targets it at once), the devices' software approved, and every device
attested (nonce + signed evidence) for its device certificate. Each device's
certificate and Alias key are written as PEM files (for ``curl``) and loaded into
one client context per device.
"""

import asyncio
import contextlib
import os
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from tests.support.images import build_package, make_signing_key, register_signing_key
from tests.support.tls_files import ServerTls, key_pem, server_tls, write_private

from bench.dice_devices import BenchDevice, approvals, new_devices
from bench.serve_tls import tls_server_process
from bench.target import ServiceTarget, claim, register_ids
from sevenfold.agent.update_setup import package_target
from sevenfold.protocol.clock import SystemClock
from sevenfold.protocol.updates import ImageType, TargetDescription
from sevenfold.service.ca.key_encryption_key import create_key_encryption_key_file
from sevenfold.service.db.engine import make_engine, make_session_factory
from sevenfold.service.db.migrate import upgrade
from sevenfold.service.tenants import service as tenant_service
from sevenfold.sim.client import OperatorClient

OS_RELEASE_VERSION = "26.12.0"
SETUP_TIMEOUT_S = 120.0
NONCES = "/api/v1/device/attestation/nonces"
EVIDENCE = "/api/v1/device/attestation/evidence"


@dataclass(frozen=True, slots=True)
class TlsServiceTarget(ServiceTarget):
    """A service served over HTTPS; operator requests trust its server CA."""

    tls: ServerTls

    def client(self) -> OperatorClient:
        """An operator client over HTTPS."""
        transport = httpx.AsyncHTTPTransport(verify=self.tls.client_context())
        return OperatorClient(self.base_url, self.token, transport=transport)


@dataclass(frozen=True, slots=True, kw_only=True)
class CertifiedDevice:
    """A device with its device certificate, as files and as a client context."""

    device_id: str
    certificate_file: Path
    key_file: Path
    context: ssl.SSLContext


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateTarget:
    """Everything the update scenarios need."""

    service: TlsServiceTarget
    release: TargetDescription
    package_file: Path
    artifact_dir: Path
    devices: list[CertifiedDevice]

    @property
    def base_url(self) -> str:
        """The service's ``https://`` base URL."""
        return self.service.base_url


def _bootstrap(database_url: str, *, migrate: bool) -> str:
    if migrate:
        upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            _, token = tenant_service.bootstrap(
                session=session, clock=SystemClock(), tenant_name="Bench"
            )
    finally:
        engine.dispose()
    return token


@contextlib.contextmanager
def sevenfold_tls_server(
    database_url: str, workdir: Path, *, migrate: bool
) -> Iterator[TlsServiceTarget]:
    """Initialize the database, serve it over HTTPS, create a product."""
    token = _bootstrap(database_url, migrate=migrate)
    create_key_encryption_key_file(workdir / "key-encryption-key")
    tls = server_tls(workdir / "tls")
    arguments = [
        "sevenfold",
        *("--database-url", database_url, "--data-dir", str(workdir)),
        *("--tls-cert", str(tls.certificate_file), "--tls-key", str(tls.key_file)),
    ]
    with tls_server_process(
        arguments,
        client_context=tls.client_context(),
        ready_path="/readyz",
        log_file=workdir / "server.log",
    ) as base_url:
        transport = httpx.AsyncHTTPTransport(verify=tls.client_context())

        async def make_product() -> tuple[str, str]:
            async with OperatorClient(base_url, token, transport=transport) as client:
                product = await client.create_product("Bench Gateway")
                groups = await client.list_device_groups(product.id)
            return product.id, next(g.id for g in groups if g.name == "Production")

        product_id, group_id = asyncio.run(make_product())
        yield TlsServiceTarget(
            base_url=base_url,
            token=token,
            product_id=product_id,
            group_id=group_id,
            tls=tls,
        )


def _operator(service: TlsServiceTarget) -> httpx.Client:
    return httpx.Client(
        base_url=service.base_url,
        headers=service.headers,
        verify=service.tls.client_context(),
        trust_env=False,
        timeout=SETUP_TIMEOUT_S,
    )


def publish_os_release(
    service: TlsServiceTarget, workdir: Path, image_bytes: int
) -> tuple[TargetDescription, Path]:
    """Upload a signed OS image package and publish it to retail at once."""
    key = make_signing_key()
    package = build_package(
        key,
        payload=os.urandom(image_bytes),
        kind=ImageType.OS,
        version=OS_RELEASE_VERSION,
        security_version=1,
    )
    package_file = workdir / "os-image.pkg"
    package_file.write_bytes(package)
    with _operator(service) as operator:
        register_signing_key(operator, service.token, key, platform=True)
        uploaded = operator.post(
            "/api/v1/images",
            content=package,
            headers={"Content-Type": "application/octet-stream"},
        )
        uploaded.raise_for_status()
        published = operator.post(
            "/api/v1/os-releases",
            json={"image_id": uploaded.json()["id"], "eval_window_days": 0},
        )
        published.raise_for_status()
    return package_target(package_file), package_file


def certify_devices(
    service: TlsServiceTarget, count: int, workdir: Path
) -> list[CertifiedDevice]:
    """Register, claim, approve and attest ``count`` software-DICE devices."""
    devices = new_devices(count)
    register_ids(service, [device.device_id for device in devices])
    claim(service, [device.device_id for device in devices])
    with _operator(service) as operator:
        for body in approvals():
            operator.post(
                f"/api/v1/products/{service.product_id}/approved-measurements",
                json=body,
            ).raise_for_status()
    certificates = asyncio.run(_attest_all(service, devices))
    directory = workdir / "devices"
    directory.mkdir(exist_ok=True)
    certified = []
    for device, certificate in zip(devices, certificates, strict=True):
        certificate_file = directory / f"{device.device_id[:16]}.pem"
        certificate_file.write_text(certificate)
        key_file = write_private(
            directory / f"{device.device_id[:16]}-key.pem", key_pem(device.alias)
        )
        certified.append(
            CertifiedDevice(
                device_id=device.device_id,
                certificate_file=certificate_file,
                key_file=key_file,
                context=service.tls.client_context(certificate_file, key_file),
            )
        )
    return certified


async def _attest_all(
    service: TlsServiceTarget, devices: list[BenchDevice]
) -> list[str]:
    async with httpx.AsyncClient(
        base_url=service.base_url,
        verify=service.tls.client_context(),
        trust_env=False,
        timeout=SETUP_TIMEOUT_S,
    ) as client:
        certificates = []
        for device in devices:
            nonce = await client.post(NONCES, json=device.nonce_body())
            nonce.raise_for_status()
            answer = await client.post(
                EVIDENCE, json=device.evidence_body(nonce.json()["nonce"])
            )
            answer.raise_for_status()
            certificates.append(str(answer.json()["certificate"]))
    return certificates


def set_up(
    service: TlsServiceTarget, workdir: Path, *, devices: int, image_bytes: int
) -> UpdateTarget:
    """Publish the OS release, then certify the devices that run it."""
    release, package_file = publish_os_release(service, workdir, image_bytes)
    return UpdateTarget(
        service=service,
        release=release,
        package_file=package_file,
        artifact_dir=workdir / "artifacts" / "blobs",
        devices=certify_devices(service, devices, workdir),
    )
