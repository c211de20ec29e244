"""One real service for end-to-end update tests, shared by a module's cases: SQLite,
served over HTTPS asking for client certificates (as ``sevenfold serve --tls-cert``
runs it), with a tenant, a product whose ``Production`` group takes app updates,
OS 26.11 released and an app deployment. Each case enrolls its own fresh device.

ngclient checks expiry against the real clock, so the service's clock starts at the
real time (the certificates and metadata it signs are valid now).
"""

import contextlib
import hashlib
import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sevenfold.agent.install.backend import DirInstallBackend
from sevenfold.entry.main import root
from sevenfold.protocol.attestation import Measurements
from sevenfold.protocol.clock import ManualClock, SystemClock
from sevenfold.protocol.updates import ImageType, ReleaseState, version_sort_key
from sevenfold.service.app import create_app
from sevenfold.service.ca.key_encryption_key import create_key_encryption_key_file
from sevenfold.service.db.engine import make_engine, make_session_factory
from sevenfold.service.images.models import Image
from sevenfold.service.releases.models import OsRelease
from sevenfold.service.settings import ServiceSettings
from sevenfold.service.tenants import service as tenant_service
from sevenfold.service.tls.context import server_context, trust_tenant_cas
from tests.agent.update_support import make_image
from tests.api.attestation_support import approve_software, digest
from tests.api.update_support import OS_COMPONENT, deploy, set_group
from tests.conftest import TenantAccess
from tests.support.fleet import claim, create_product, groups_by_name, register
from tests.support.images import make_signing_key
from tests.support.live_server import live_server
from tests.support.manufacturer import trust_test_manufacturer_key
from tests.support.tls_files import ServerTls, server_tls

AGENT_SHA256 = digest("agent 1.0")
FACTORY_OS_VERSION = "26.10"
RELEASED_OS_VERSION = "26.11"


@dataclass
class LiveUpdateService:
    """The running service and what the cases need to enroll and inspect devices."""

    app: FastAPI
    client: TestClient
    admin: TenantAccess
    clock: ManualClock
    tls: ServerTls
    url: str
    group_id: str
    factory_package: Path
    release: Image
    apps: tuple[Image, ...]

    def enroll(self, directory: Path) -> "EnrolledDevice":
        """``agent init --install-root --os-image`` (factory 26.10 in slot a), then
        register and claim the device into the deployment's group."""
        state_dir, install_root = directory / "state", directory / "install"
        init = CliRunner().invoke(
            root,
            ["agent", "init", "--state-dir", str(state_dir), "--install-root",
             str(install_root), "--os-image", str(self.factory_package),
             "--output", "json"],
        )  # fmt: skip
        assert init.exit_code == 0, init.output
        initialised = json.loads(init.output)
        assert initialised["os_version"] == FACTORY_OS_VERSION
        device_id = initialised["device_id"]
        register(self.client, self.admin.headers, [device_id])
        claim(self.client, self.admin.headers, device_id, self.group_id)
        return EnrolledDevice(device_id, state_dir, install_root)

    def update_status(self, device_id: str) -> dict[str, Any]:
        """``GET /api/v1/devices/{id}/update-status`` as the tenant's operator."""
        response = self.client.get(
            f"/api/v1/devices/{device_id}/update-status", headers=self.admin.headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    @contextlib.contextmanager
    def operator_session(self) -> Iterator[httpx.Client]:
        """An operator's HTTPS client to the live server (one per thread)."""
        with httpx.Client(
            base_url=self.url,
            headers=self.admin.headers,
            verify=self.tls.client_context(),
            timeout=10.0,
        ) as session:
            yield session

    def update_status_with(
        self, session: httpx.Client, device_id: str
    ) -> dict[str, Any]:
        """``update-status`` over the live HTTPS server through ``session``."""
        response = session.get(f"/api/v1/devices/{device_id}/update-status")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def device_event_kinds(self, device_id: str) -> list[str]:
        """The kinds of the device's events (attestation failures, update failures)."""
        response = self.client.get(
            f"/api/v1/devices/{device_id}/attestations", headers=self.admin.headers
        )
        assert response.status_code == 200, response.text
        return [event["kind"] for event in response.json()["events"]]


@dataclass(frozen=True)
class EnrolledDevice:
    """A device's identity and its directories."""

    device_id: str
    state_dir: Path
    install_root: Path

    def backend(self) -> DirInstallBackend:
        """A backend over the device's install root (not booted)."""
        return DirInstallBackend(self.install_root)


def add_sized_image(
    app: FastAPI,
    clock: ManualClock,
    *,
    tenant_id: str | None,
    kind: ImageType,
    version: str,
    size_bytes: int,
) -> Image:
    """An accepted image of ``size_bytes`` (not a signed package: the ``dir``
    backend checks length and SHA-256, and the TUF metadata binds them)."""
    image_id = str(uuid.uuid4())
    seed = f"{kind.value} {version} {image_id}\n".encode()
    content = (seed * (size_bytes // len(seed) + 1))[:size_bytes]
    state = app.state.sevenfold
    stored = state.artifact_store.put_stream([content], max_bytes=size_bytes)
    image = Image(
        id=image_id,
        tenant_id=tenant_id,
        component_id=OS_COMPONENT if kind is ImageType.OS else str(uuid.uuid4()),
        kind=kind.value,
        name="Sevenfold OS" if kind is ImageType.OS else f"App {image_id[:8]}",
        version=version,
        version_key=version_sort_key(version),
        security_version=1,
        sha256=stored.sha256,
        size_bytes=stored.size_bytes,
        payload_sha256=hashlib.sha256(content).hexdigest(),
        payload_bytes=len(content),
        entry_point=None if kind is ImageType.OS else "bin/app",
        capabilities=[],
        signing_key_id="0" * 64,
        manifest_json=json.dumps({"image_id": image_id}),
        uploaded_at=clock.now(),
        uploaded_by=None,
    )
    with make_session_factory(state.engine)() as session:
        session.add(image)
        session.commit()
        session.refresh(image)
        session.expunge(image)
    return image


@contextlib.contextmanager
def live_update_service(
    directory: Path,
    sqlite_template: Path,
    *,
    os_image_bytes: int = 8192,
    rollout_evaluation_interval_s: float | None = None,
) -> Iterator[LiveUpdateService]:
    """Start the service (see the module docstring); stop it afterwards.

    26.11 is an image of ``os_image_bytes``; the rollout evaluator ticks every
    ``rollout_evaluation_interval_s`` (the service's default when None).
    """
    database = directory / "sevenfold.db"
    shutil.copy(sqlite_template, database)
    kek_file = directory / "kek" / "key-encryption-key"
    create_key_encryption_key_file(kek_file)
    settings = ServiceSettings(
        data_dir=directory / "data",
        database_url=f"sqlite:///{database}",
        job_poll_interval_s=0.02,
        key_encryption_key_file=kek_file,
    )
    if rollout_evaluation_interval_s is not None:
        settings = settings.model_copy(
            update={"rollout_evaluation_interval_s": rollout_evaluation_interval_s}
        )
    clock = ManualClock(SystemClock().now().replace(microsecond=0))
    engine = make_engine(settings.effective_database_url)
    app = create_app(settings, clock=clock, engine=engine)
    with make_session_factory(engine)() as session:
        tenant, token = tenant_service.bootstrap(
            session=session, clock=clock, tenant_name="Contoso"
        )
        trust_test_manufacturer_key(session)
    admin = TenantAccess(tenant_id=tenant.id, token=token)
    try:
        with TestClient(app) as client:
            service = _populate(app, client, admin, clock, directory, os_image_bytes)
            context = server_context(service.tls.certificate_file, service.tls.key_file)
            trust_tenant_cas(app.state.sevenfold, context)
            with live_server(app, context, service.tls.client_context()) as url:
                service.url = url
                yield service
    finally:
        engine.dispose()


def _populate(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    directory: Path,
    os_image_bytes: int,
) -> LiveUpdateService:
    package, factory = make_image(
        make_signing_key(), kind=ImageType.OS, version=FACTORY_OS_VERSION
    )
    factory_package = directory / "factory.pkg"
    factory_package.write_bytes(package)
    release = _release(app, clock, os_image_bytes)
    apps = tuple(
        add_sized_image(
            app,
            clock,
            tenant_id=admin.tenant_id,
            kind=ImageType.APP,
            version=v,
            size_bytes=3000,
        )
        for v in ("1.0", "2.4")
    )
    product = create_product(client, admin.headers, "Gateway")
    group = groups_by_name(client, admin.headers, product["id"])["Production"]
    set_group(app, group["id"], app_updates=True)
    deploy(app, clock, admin.tenant_id, group["id"], list(apps))
    software = Measurements(
        os_image_sha256=bytes.fromhex(factory.sha256),
        agent_sha256=AGENT_SHA256,
        app_image_sha256s=tuple(bytes.fromhex(image.sha256) for image in apps),
    )
    approve_software(client, admin, product["id"], software)
    return LiveUpdateService(
        app=app,
        client=client,
        admin=admin,
        clock=clock,
        tls=server_tls(directory / "tls"),
        url="",
        group_id=group["id"],
        factory_package=factory_package,
        release=release,
        apps=apps,
    )


def _release(app: FastAPI, clock: ManualClock, size_bytes: int) -> Image:
    """26.11 released (retail) as a platform OS image of ``size_bytes``."""
    image = add_sized_image(
        app, clock, tenant_id=None, kind=ImageType.OS,
        version=RELEASED_OS_VERSION, size_bytes=size_bytes,
    )  # fmt: skip
    now = clock.now()
    with make_session_factory(app.state.sevenfold.engine)() as session:
        session.add(
            OsRelease(
                id=str(uuid.uuid4()),
                version=RELEASED_OS_VERSION,
                version_key=version_sort_key(RELEASED_OS_VERSION),
                image_id=image.id,
                state=ReleaseState.RETAIL.value,
                eval_window_s=int(timedelta(days=7).total_seconds()),
                published_at=now,
                promote_at=now + timedelta(days=7),
                cancelled_at=None,
                withdrawn_at=None,
            )
        )
        session.commit()
    return image
