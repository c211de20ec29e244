"""Image packages for tests: signing keys, signed packages, registering and uploading.

A test makes a key, registers its public half (tenant key for apps, platform key for
OS images), builds a signed package and uploads it::

    key = make_signing_key()
    register_signing_key(client, admin.token, key)
    package = build_package(key, payload=b"app bytes")
    response = upload(client, admin.token, package)
    assert response.status_code == 201
"""

import hashlib
import uuid

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from sevenfold.crypto import image_signing
from sevenfold.protocol.image_package import ImageManifest, parse_package_header
from sevenfold.protocol.updates import ImageType

TENANT_KEYS_PATH = "/api/v1/image-signing-keys"
PLATFORM_KEYS_PATH = "/api/v1/platform/image-signing-keys"
IMAGES_PATH = "/api/v1/images"
OS_COMPONENT_ID = "00000000-0000-4000-8000-000000000001"


def make_signing_key() -> Ed25519PrivateKey:
    """A fresh Ed25519 image-signing key."""
    return Ed25519PrivateKey.generate()


def make_manifest(
    key: Ed25519PrivateKey,
    payload: bytes,
    *,
    kind: ImageType = ImageType.APP,
    name: str | None = None,
    version: str = "1.0.0",
    security_version: int = 0,
    component_id: str | None = None,
    image_id: str | None = None,
    entry_point: str = "bin/app",
    capabilities: tuple[str, ...] = (),
) -> ImageManifest:
    """A manifest describing ``payload`` honestly, naming ``key``."""
    is_app = kind is ImageType.APP
    return ImageManifest(
        type=kind,
        component_id=component_id or (str(uuid.uuid4()) if is_app else OS_COMPONENT_ID),
        image_id=image_id or str(uuid.uuid4()),
        name=name or ("Test app" if is_app else "Test OS"),
        version=version,
        security_version=security_version,
        payload_bytes=len(payload),
        payload_sha256=hashlib.sha256(payload).hexdigest(),
        signing_key_id=image_signing.key_id(key.public_key()),
        entry_point=entry_point if is_app else None,
        capabilities=tuple(sorted(capabilities)) if is_app else None,
    )


def build_package(
    key: Ed25519PrivateKey,
    *,
    payload: bytes = b"image payload bytes\n",
    kind: ImageType = ImageType.APP,
    name: str | None = None,
    version: str = "1.0.0",
    security_version: int = 0,
    component_id: str | None = None,
    image_id: str | None = None,
    entry_point: str = "bin/app",
    capabilities: tuple[str, ...] = (),
) -> bytes:
    """A whole signed package holding ``payload`` (the manifest matches it)."""
    manifest = make_manifest(
        key,
        payload,
        kind=kind,
        name=name,
        version=version,
        security_version=security_version,
        component_id=component_id,
        image_id=image_id,
        entry_point=entry_point,
        capabilities=capabilities,
    )
    return image_signing.build_package(manifest, payload, key)


def package_manifest(package: bytes) -> ImageManifest:
    """The manifest of a package (its ``image_id``, ``component_id``, ...)."""
    return parse_package_header(package).manifest


def package_sha256(package: bytes) -> str:
    """The SHA-256 of the whole package: the image's ``sha256`` and TUF target name."""
    return hashlib.sha256(package).hexdigest()


def register_signing_key(
    client: TestClient | httpx.Client,
    token: str,
    key: Ed25519PrivateKey,
    *,
    platform: bool = False,
    name: str = "Test image key",
) -> str:
    """Register the key's public half (tenant key, or platform key for OS images).

    Returns the key ID.
    """
    response = client.post(
        PLATFORM_KEYS_PATH if platform else TENANT_KEYS_PATH,
        json={
            "name": name,
            "public_key_pem": image_signing.public_key_pem(key.public_key()),
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
    key_id: str = response.json()["id"]
    return key_id


def upload(
    client: TestClient | httpx.Client, token: str, package: bytes
) -> httpx.Response:
    """POST a package to ``/api/v1/images``; the caller checks the answer."""
    return client.post(
        IMAGES_PATH,
        content=package,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/octet-stream",
        },
    )


def upload_ok(client: TestClient | httpx.Client, token: str, package: bytes) -> str:
    """Upload a package that must be accepted; returns its image ID."""
    response = upload(client, token, package)
    assert response.status_code == 201, response.text
    image_id: str = response.json()["id"]
    return image_id
