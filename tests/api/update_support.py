"""Builders for update-metadata tests: images with real bytes in the artifact store,
releases and deployments as rows, and a python-tuf ngclient ``Updater`` that reaches
the service through the TestClient with the device's certificate (as a trusted
proxy would send it).

ngclient checks expiry against its own ``reference_time``; the tests set it from
the ``ManualClock`` so that virtual time applies to both ends.
"""

import copy
import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from tuf.api.exceptions import DownloadHTTPError
from tuf.ngclient import FetcherInterface, Updater, UpdaterConfig

from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.updates import ImageType, ReleaseState, version_sort_key
from sevenfold.service.db.engine import make_session_factory
from sevenfold.service.deployments.models import Deployment, DeploymentImage
from sevenfold.service.images.models import Image
from sevenfold.service.products.models import DeviceGroup
from sevenfold.service.releases.models import OsRelease
from sevenfold.service.settings import ServiceSettings
from tests.api.device_auth_support import as_proxy, proxy_header

TUF = "/api/v1/device/tuf"
BASE = "http://testserver"
OS_COMPONENT = "00000000-0000-4000-8000-000000000001"


@pytest.fixture
def settings(settings: ServiceSettings) -> ServiceSettings:
    """The shared test settings, trusting 127.0.0.1 as the TLS-ending proxy."""
    return settings.model_copy(update={"trusted_proxy_addresses": ["127.0.0.1/32"]})


def add_image(
    app: FastAPI,
    clock: ManualClock,
    *,
    tenant_id: str | None,
    kind: ImageType,
    version: str,
    component_id: str | None = None,
) -> Image:
    """An accepted image: its bytes in the artifact store, its row in the database."""
    image_id = str(uuid.uuid4())
    content = f"package {image_id} {version}".encode() * 50
    state = app.state.sevenfold
    stored = state.artifact_store.put_stream([content], max_bytes=1 << 20)
    image = Image(
        id=image_id,
        tenant_id=tenant_id,
        component_id=component_id
        or (OS_COMPONENT if kind is ImageType.OS else str(uuid.uuid4())),
        kind=kind.value,
        name="Sevenfold OS" if kind is ImageType.OS else "Telemetry",
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


def add_release(
    app: FastAPI,
    clock: ManualClock,
    version: str,
    *,
    state: ReleaseState = ReleaseState.RETAIL,
    promote_in: timedelta = timedelta(days=7),
) -> Image:
    """An OS release of a new platform image, in ``state``."""
    image = add_image(app, clock, tenant_id=None, kind=ImageType.OS, version=version)
    now = clock.now()
    with make_session_factory(app.state.sevenfold.engine)() as session:
        session.add(
            OsRelease(
                id=str(uuid.uuid4()),
                version=version,
                version_key=version_sort_key(version),
                image_id=image.id,
                state=state.value,
                eval_window_s=int(promote_in.total_seconds()),
                published_at=now,
                promote_at=now + promote_in,
                cancelled_at=now if state is ReleaseState.CANCELLED else None,
                withdrawn_at=now if state is ReleaseState.WITHDRAWN else None,
            )
        )
        session.commit()
    return image


def deploy(
    app: FastAPI, clock: ManualClock, tenant_id: str, group_id: str, images: list[Image]
) -> None:
    """Make ``images`` the group's current deployment (superseding the last one)."""
    now = clock.now()
    with make_session_factory(app.state.sevenfold.engine)() as session:
        for old in session.query(Deployment).filter_by(
            device_group_id=group_id, superseded_at=None
        ):
            old.superseded_at = now
        deployment_id = str(uuid.uuid4())
        session.add(
            Deployment(
                id=deployment_id,
                tenant_id=tenant_id,
                device_group_id=group_id,
                created_at=now,
            )
        )
        session.flush()
        for position, image in enumerate(images):
            session.add(
                DeploymentImage(
                    deployment_id=deployment_id, image_id=image.id, position=position
                )
            )
        session.commit()


def set_group(app: FastAPI, group_id: str, **fields: Any) -> None:
    """Change a device group's feed, policy or app updates."""
    with make_session_factory(app.state.sevenfold.engine)() as session:
        group = session.get(DeviceGroup, group_id)
        assert group is not None
        for name, value in fields.items():
            setattr(group, name, value)
        session.commit()


class ServiceFetcher(FetcherInterface):
    """ngclient's transport: the TestClient, with the device certificate header.

    ``recorded`` keeps every answer by path; ``replay`` serves those instead (a
    frozen mirror); ``overrides`` serves chosen bytes for chosen paths (an attacker).
    """

    def __init__(self, client: TestClient, certificate: str) -> None:
        self.client = client
        self.headers = proxy_header(certificate)
        self.recorded: dict[str, bytes] = {}
        self.replay: dict[str, bytes] | None = None
        self.overrides: dict[str, bytes] = {}

    def _fetch(self, url: str) -> Iterator[bytes]:
        path = urlsplit(url).path
        if path in self.overrides:
            return iter([self.overrides[path]])
        if self.replay is not None:
            if path not in self.replay:
                raise DownloadHTTPError(f"not mirrored: {path}", 404)
            return iter([self.replay[path]])
        response = self.client.get(path, headers=self.headers)
        if response.status_code != 200:
            raise DownloadHTTPError(response.text[:200], response.status_code)
        self.recorded[path] = response.content
        return iter([response.content])


class DeviceUpdaters:
    """A device's two ngclient updaters (image repository and director)."""

    def __init__(
        self, app: FastAPI, clock: ManualClock, certificate: str, workdir: Path
    ) -> None:
        self.client = as_proxy(app)
        self.clock = clock
        self.fetcher = ServiceFetcher(self.client, certificate)
        self.workdir = workdir
        self.roots = {
            repository: self.get(f"{TUF}/{repository}/1.root.json").content
            for repository in ("image", "director")
        }

    def elsewhere(self, workdir: Path) -> "DeviceUpdaters":
        """The same device and transport with an empty metadata cache."""
        other = copy.copy(self)
        other.workdir = workdir
        return other

    def device_id(self) -> str:
        """The device ID the director's targets name (each device gets its own)."""
        director = self.refresh("director")
        device_id = director._trusted_set.targets.unrecognized_fields[
            "x-sevenfold-device-id"
        ]
        assert isinstance(device_id, str)
        return device_id

    def get(self, path: str, **headers: str) -> Any:
        """A GET as the device; asserts success."""
        response = self.client.get(path, headers={**self.fetcher.headers, **headers})
        assert response.status_code in {200, 206}, response.text
        return response

    def updater(self, repository: str, at: datetime | None = None) -> Updater:
        """A fresh ``Updater`` over the persistent cache (one refresh per instance)."""
        metadata_dir = self.workdir / repository / "metadata"
        target_dir = self.workdir / repository / "targets"
        metadata_dir.mkdir(parents=True, exist_ok=True)
        target_dir.mkdir(parents=True, exist_ok=True)
        updater = Updater(
            metadata_dir=str(metadata_dir),
            metadata_base_url=f"{BASE}{TUF}/{repository}/",
            target_dir=str(target_dir),
            target_base_url=f"{BASE}{TUF}/targets/",
            fetcher=self.fetcher,
            config=UpdaterConfig(prefix_targets_with_hash=False),
            bootstrap=self.roots[repository],
        )
        updater._trusted_set.reference_time = at or self.clock.now()
        return updater

    def refresh(self, repository: str, at: datetime | None = None) -> Updater:
        """Refresh one repository; return the updater (trusted metadata loaded)."""
        updater = self.updater(repository, at)
        updater.refresh()
        return updater


def versions(updater: Updater) -> dict[str, int]:
    """The trusted versions of root, timestamp, snapshot and targets."""
    trusted = updater._trusted_set
    return {
        "root": trusted.root.version,
        "timestamp": trusted.timestamp.version,
        "snapshot": trusted.snapshot.version,
        "targets": trusted.targets.version,
    }
