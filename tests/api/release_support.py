"""Images, releases and update statuses for the release and deployment tests.

Image rows are inserted through the app's session factory, exactly as an upload
stores them (``service/images``), so these tests exercise releases and deployments
without building packages.
"""

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from sevenfold.protocol.clock import Clock
from sevenfold.protocol.updates import ImageType, version_sort_key
from sevenfold.service.db.engine import make_session_factory
from sevenfold.service.images.models import Image
from sevenfold.service.updates.models import DeviceUpdateStatus
from tests.conftest import TenantAccess

API = "/api/v1"
OS_COMPONENT_ID = "00000000-0000-4000-8000-000000000001"


@dataclass(frozen=True, slots=True)
class ImageRow:
    """What a test needs to know of an inserted image."""

    id: str
    component_id: str
    sha256: str
    version: str


def insert_image(
    app: FastAPI,
    clock: Clock,
    *,
    tenant_id: str | None,
    kind: ImageType,
    version: str = "1.0.0",
    component_id: str | None = None,
    sha256: str | None = None,
) -> ImageRow:
    """Store an image row as an accepted upload would (``sha256``: the package
    digest, a device's measurement of it)."""
    image_id = str(uuid.uuid4())
    component = component_id or (
        OS_COMPONENT_ID if kind is ImageType.OS else str(uuid.uuid4())
    )
    sha256 = sha256 or hashlib.sha256(image_id.encode()).hexdigest()
    factory = make_session_factory(app.state.sevenfold.engine)
    with factory() as session:
        session.add(
            Image(
                id=image_id,
                tenant_id=tenant_id,
                component_id=component,
                kind=kind.value,
                name="Test OS" if kind is ImageType.OS else "Test app",
                version=version,
                version_key=version_sort_key(version),
                security_version=0,
                sha256=sha256,
                size_bytes=100,
                payload_sha256=hashlib.sha256(sha256.encode()).hexdigest(),
                payload_bytes=10,
                entry_point=None if kind is ImageType.OS else "bin/app",
                capabilities=[],
                signing_key_id="0" * 64,
                manifest_json=json.dumps({"image_id": image_id}),
                uploaded_at=clock.now(),
                uploaded_by=None,
            )
        )
        session.commit()
    return ImageRow(image_id, component, sha256, version)


def insert_update_status(
    app: FastAPI,
    clock: Clock,
    *,
    device_id: str,
    tenant_id: str,
    state: str,
    os_image_id: str | None,
) -> None:
    """Store a device's last update report."""
    factory = make_session_factory(app.state.sevenfold.engine)
    with factory() as session:
        session.add(
            DeviceUpdateStatus(
                device_id=device_id,
                tenant_id=tenant_id,
                state=state,
                os_version=None,
                os_image_id=os_image_id,
                installed=[],
                reported_targeted=[],
                detail=None,
                last_check_at=clock.now(),
                reported_at=clock.now(),
            )
        )
        session.commit()


def publish(
    client: TestClient,
    access: TenantAccess,
    image_id: str,
    *,
    eval_window_days: int | None = None,
) -> dict[str, Any]:
    """Publish an image; the release must be created."""
    body: dict[str, Any] = {"image_id": image_id}
    if eval_window_days is not None:
        body["eval_window_days"] = eval_window_days
    response = client.post(f"{API}/os-releases", json=body, headers=access.headers)
    assert response.status_code == 201, response.text
    release: dict[str, Any] = response.json()
    return release
