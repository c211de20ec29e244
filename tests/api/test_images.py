"""Image-signing keys and image packages over the API (docs/updates.md §1-2)."""

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sevenfold.crypto import image_signing
from sevenfold.protocol.image_package import (
    encode_package_header,
    parse_package_header,
)
from sevenfold.protocol.updates import ImageType
from sevenfold.service.images import service as images_service
from sevenfold.service.settings import ServiceSettings
from tests.conftest import TenantAccess
from tests.support.images import (
    IMAGES_PATH,
    PLATFORM_KEYS_PATH,
    TENANT_KEYS_PATH,
    build_package,
    make_manifest,
    make_signing_key,
    package_manifest,
    package_sha256,
    register_signing_key,
    upload,
    upload_ok,
)

MAX_IMAGE_BYTES = 64 * 1024
MAX_BODY_BYTES = 4096


@pytest.fixture
def settings(settings: ServiceSettings) -> ServiceSettings:
    """Small caps: the oversized upload stays small, images pass the body limit."""
    return settings.model_copy(
        update={"max_image_bytes": MAX_IMAGE_BYTES, "max_body_bytes": MAX_BODY_BYTES}
    )


def _blobs(app: FastAPI) -> list[str]:
    """Everything in the artifact store (temp files included)."""
    blobs: Path = app.state.sevenfold.artifact_store.blobs
    return sorted(path.name for path in blobs.iterdir()) if blobs.exists() else []


def _tenant_reader(client: TestClient, tenant: TenantAccess, role: str) -> str:
    response = client.post(
        "/api/v1/tokens", json={"name": role, "role": role}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def _audit_actions(client: TestClient, tenant: TenantAccess) -> list[str]:
    response = client.get("/api/v1/audit-events?limit=1000", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return [event["action"] for event in response.json()["items"]]


def test_upload_of_a_signed_app_image_is_recorded_and_audited(
    app: FastAPI, client: TestClient, admin: TenantAccess
) -> None:
    key = make_signing_key()
    key_id = register_signing_key(client, admin.token, key)
    assert key_id == image_signing.key_id(key.public_key())
    package = build_package(key, payload=b"app payload" * 100, capabilities=("net",))
    response = upload(client, admin.token, package)
    assert response.status_code == 201, response.text
    body = response.json()
    manifest = package_manifest(package)
    assert body["id"] == manifest.image_id
    assert body["tenant_id"] == admin.tenant_id
    assert body["kind"] == "app"
    assert body["sha256"] == package_sha256(package)
    assert body["size_bytes"] == len(package)
    assert body["capabilities"] == ["net"]
    assert body["entry_point"] == "bin/app"
    assert _blobs(app) == [package_sha256(package)]
    shown = client.get(f"{IMAGES_PATH}/{manifest.image_id}", headers=admin.headers)
    assert shown.json() == body
    assert {"image-signing-key.add", "image.upload"} <= set(
        _audit_actions(client, admin)
    )


def test_contributor_uploads_but_reader_cannot(
    app: FastAPI, client: TestClient, admin: TenantAccess
) -> None:
    key = make_signing_key()
    register_signing_key(client, admin.token, key)
    contributor = _tenant_reader(client, admin, "contributor")
    reader = _tenant_reader(client, admin, "reader")
    assert upload(client, reader, build_package(key)).status_code == 403
    assert upload(client, contributor, build_package(key)).status_code == 201
    refused = client.post(
        TENANT_KEYS_PATH,
        json={
            "name": "by contributor",
            "public_key_pem": image_signing.public_key_pem(
                make_signing_key().public_key()
            ),
        },
        headers={"Authorization": f"Bearer {contributor}"},
    )
    assert refused.status_code == 403
    listed = client.get(TENANT_KEYS_PATH, headers={"Authorization": f"Bearer {reader}"})
    assert listed.status_code == 200
    assert len(listed.json()) == 1


def test_upload_signed_by_an_unregistered_key_is_refused_and_not_stored(
    app: FastAPI, client: TestClient, admin: TenantAccess
) -> None:
    response = upload(client, admin.token, build_package(make_signing_key()))
    assert response.status_code == 403
    assert response.json()["code"] == "untrusted-image-signature"
    assert _blobs(app) == []


def test_upload_with_a_forged_signature_is_refused(
    app: FastAPI, client: TestClient, admin: TenantAccess
) -> None:
    registered = make_signing_key()
    register_signing_key(client, admin.token, registered)
    payload = b"evil payload"
    # The manifest names the registered key, but another key signs it.
    manifest = make_manifest(registered, payload)
    forger = make_signing_key()
    manifest_bytes = manifest.encode()
    package = (
        encode_package_header(
            manifest_bytes, image_signing.sign_manifest(forger, manifest_bytes)
        )
        + payload
    )
    response = upload(client, admin.token, package)
    assert response.status_code == 403
    assert response.json()["code"] == "untrusted-image-signature"
    assert _blobs(app) == []


def test_upload_with_a_tampered_payload_is_refused(
    app: FastAPI, client: TestClient, admin: TenantAccess
) -> None:
    key = make_signing_key()
    register_signing_key(client, admin.token, key)
    package = bytearray(build_package(key, payload=b"A" * 1000))
    package[-1] ^= 0x01
    response = upload(client, admin.token, bytes(package))
    assert response.status_code == 422
    assert response.json()["code"] == "invalid-image-package"
    assert _blobs(app) == []


@pytest.mark.parametrize("cut", [5, 100, 1])
def test_truncated_package_is_refused(
    app: FastAPI, client: TestClient, admin: TenantAccess, cut: int
) -> None:
    key = make_signing_key()
    register_signing_key(client, admin.token, key)
    package = build_package(key, payload=b"B" * 500)
    response = upload(client, admin.token, package[: len(package) - cut])
    assert response.status_code == 422
    assert response.json()["code"] == "invalid-image-package"
    assert _blobs(app) == []


def test_garbage_and_empty_uploads_are_refused(
    app: FastAPI, client: TestClient, admin: TenantAccess
) -> None:
    for body in (b"", b"not a package at all", b"SFPKG\x00\x01\x00" + b"\xff" * 8):
        response = upload(client, admin.token, body)
        assert response.status_code == 422, body
    assert _blobs(app) == []


def test_oversized_upload_is_413_and_stores_nothing(
    app: FastAPI, client: TestClient, admin: TenantAccess
) -> None:
    key = make_signing_key()
    register_signing_key(client, admin.token, key)
    package = build_package(key, payload=b"C" * (MAX_IMAGE_BYTES + 1))
    response = upload(client, admin.token, package)
    assert response.status_code == 413
    assert response.json()["code"] == "body-too-large"
    assert _blobs(app) == []

    def chunks() -> Iterator[bytes]:
        yield package[:1000]
        yield package[1000:]

    streamed = client.post(
        IMAGES_PATH,
        content=chunks(),
        headers={**admin.headers, "Content-Type": "application/octet-stream"},
    )
    assert streamed.status_code == 413
    assert _blobs(app) == []


def test_upload_bigger_than_the_generic_body_limit_is_accepted(
    app: FastAPI, client: TestClient, admin: TenantAccess, settings: ServiceSettings
) -> None:
    """Only the image route is exempt from max_body_bytes, and it streams."""
    key = make_signing_key()
    register_signing_key(client, admin.token, key)
    package = build_package(key, payload=b"D" * (MAX_IMAGE_BYTES - 1000))
    assert len(package) > settings.max_body_bytes
    assert upload(client, admin.token, package).status_code == 201
    other_route = client.post(
        "/api/v1/products",
        json={"name": "x", "description": "y" * MAX_BODY_BYTES},
        headers=admin.headers,
    )
    assert other_route.status_code == 413


def test_tenant_uploading_an_os_image_is_forbidden(
    app: FastAPI, client: TestClient, admin: TenantAccess, other_tenant: TenantAccess
) -> None:
    key = make_signing_key()
    register_signing_key(client, other_tenant.token, key)
    package = build_package(key, kind=ImageType.OS, version="26.11")
    response = upload(client, other_tenant.token, package)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert _blobs(app) == []
    refused = client.post(
        PLATFORM_KEYS_PATH,
        json={
            "name": "tenant tries",
            "public_key_pem": image_signing.public_key_pem(key.public_key()),
        },
        headers=other_tenant.headers,
    )
    assert refused.status_code == 403


def test_platform_os_image_needs_a_platform_key_and_is_visible_to_every_tenant(
    client: TestClient, admin: TenantAccess, other_tenant: TenantAccess
) -> None:
    key = make_signing_key()
    register_signing_key(client, admin.token, key)  # a tenant key: not enough
    os_package = build_package(key, kind=ImageType.OS, version="26.11.1")
    refused = upload(client, admin.token, os_package)
    assert refused.status_code == 403
    assert refused.json()["code"] == "untrusted-image-signature"
    register_signing_key(client, admin.token, key, platform=True)
    image_id = upload_ok(client, admin.token, os_package)
    seen = client.get(f"{IMAGES_PATH}/{image_id}", headers=other_tenant.headers)
    assert seen.status_code == 200
    assert seen.json()["tenant_id"] is None
    listed = client.get(
        IMAGES_PATH, params={"kind": "os"}, headers=other_tenant.headers
    )
    assert [item["id"] for item in listed.json()["items"]] == [image_id]
    content = client.get(
        f"{IMAGES_PATH}/{image_id}/content", headers=other_tenant.headers
    )
    assert content.content == os_package
    keys = client.get(PLATFORM_KEYS_PATH, headers=admin.headers)
    assert [row["id"] for row in keys.json()] == [
        image_signing.key_id(key.public_key())
    ]


def test_same_image_id_twice_is_409_and_keeps_the_first(
    app: FastAPI, client: TestClient, admin: TenantAccess
) -> None:
    key = make_signing_key()
    register_signing_key(client, admin.token, key)
    package = build_package(key)
    upload_ok(client, admin.token, package)
    assert upload(client, admin.token, package).status_code == 409
    image_id = package_manifest(package).image_id
    other = build_package(key, payload=b"different", image_id=image_id)
    assert upload(client, admin.token, other).status_code == 409
    assert _blobs(app) == [package_sha256(package)]


def test_download_honours_a_single_range(
    client: TestClient, admin: TenantAccess
) -> None:
    key = make_signing_key()
    register_signing_key(client, admin.token, key)
    package = build_package(key, payload=bytes(range(256)) * 40)
    image_id = upload_ok(client, admin.token, package)
    url = f"{IMAGES_PATH}/{image_id}/content"
    full = client.get(url, headers=admin.headers)
    assert full.status_code == 200
    assert full.content == package
    assert full.headers["accept-ranges"] == "bytes"
    assert full.headers["etag"] == f'"{package_sha256(package)}"'
    assert full.headers["content-length"] == str(len(package))
    for header, expected in (
        ("bytes=10-19", package[10:20]),
        ("bytes=100-", package[100:]),
        ("bytes=-7", package[-7:]),
        (f"bytes=5-{len(package) + 100}", package[5:]),
    ):
        part = client.get(url, headers={**admin.headers, "Range": header})
        assert part.status_code == 206, header
        assert part.content == expected
        start = len(package) - len(expected)
        assert part.headers["content-range"] in {
            f"bytes 10-19/{len(package)}",
            f"bytes {start}-{len(package) - 1}/{len(package)}",
        }
    past = client.get(url, headers={**admin.headers, "Range": f"bytes={len(package)}-"})
    assert past.status_code == 416
    assert past.headers["content-range"] == f"bytes */{len(package)}"
    assert past.json()["code"] == "range-not-satisfiable"
    ignored = client.get(url, headers={**admin.headers, "Range": "bytes=0-1,5-6"})
    assert ignored.status_code == 200
    assert ignored.content == package


def test_other_tenant_cannot_see_or_download_an_app_image(
    client: TestClient, admin: TenantAccess, other_tenant: TenantAccess
) -> None:
    key = make_signing_key()
    register_signing_key(client, admin.token, key)
    package = build_package(key)
    image_id = upload_ok(client, admin.token, package)
    for path in (f"{IMAGES_PATH}/{image_id}", f"{IMAGES_PATH}/{image_id}/content"):
        response = client.get(path, headers=other_tenant.headers)
        assert response.status_code == 404, path
    listed = client.get(IMAGES_PATH, headers=other_tenant.headers)
    assert listed.json()["items"] == []
    keys = client.get(TENANT_KEYS_PATH, headers=other_tenant.headers)
    assert keys.json() == []
    # B registering the same public key does not let B use A's upload.
    register_signing_key(client, other_tenant.token, key)
    assert upload(client, other_tenant.token, package).status_code == 409


def test_removed_key_signs_nothing_new(client: TestClient, admin: TenantAccess) -> None:
    key = make_signing_key()
    key_id = register_signing_key(client, admin.token, key)
    kept = upload_ok(client, admin.token, build_package(key))
    removed = client.delete(f"{TENANT_KEYS_PATH}/{key_id}", headers=admin.headers)
    assert removed.status_code == 204
    assert upload(client, admin.token, build_package(key)).status_code == 403
    assert client.get(f"{IMAGES_PATH}/{kept}", headers=admin.headers).status_code == 200
    assert "image-signing-key.remove" in _audit_actions(client, admin)


def test_list_pages_and_filters_by_kind(
    client: TestClient, admin: TenantAccess
) -> None:
    key = make_signing_key()
    register_signing_key(client, admin.token, key)
    register_signing_key(client, admin.token, key, platform=True)
    apps = [upload_ok(client, admin.token, build_package(key)) for _ in range(3)]
    os_image = upload_ok(
        client, admin.token, build_package(key, kind=ImageType.OS, version="26.11")
    )
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get(IMAGES_PATH, params=params, headers=admin.headers).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted([*apps, os_image])
    only_apps = client.get(IMAGES_PATH, params={"kind": "app"}, headers=admin.headers)
    assert sorted(item["id"] for item in only_apps.json()["items"]) == sorted(apps)


def test_uploaded_manifest_round_trips(client: TestClient, admin: TenantAccess) -> None:
    key = make_signing_key()
    register_signing_key(client, admin.token, key)
    package = build_package(key, payload=b"x")
    image_id = upload_ok(client, admin.token, package)
    content = client.get(f"{IMAGES_PATH}/{image_id}/content", headers=admin.headers)
    header = parse_package_header(content.content)
    assert header.manifest == package_manifest(package)
    assert hashlib.sha256(content.content).hexdigest() == package_sha256(package)


def test_other_domains_find_images_only_within_the_tenant(
    app: FastAPI, client: TestClient, admin: TenantAccess, other_tenant: TenantAccess
) -> None:
    """``get_visible_image`` and ``get_image_by_sha256`` keep tenants apart."""
    key = make_signing_key()
    register_signing_key(client, admin.token, key)
    register_signing_key(client, admin.token, key, platform=True)
    app_package = build_package(key)
    os_package = build_package(key, kind=ImageType.OS, version="26.11")
    app_id = upload_ok(client, admin.token, app_package)
    os_id = upload_ok(client, admin.token, os_package)
    factory = app.state.sevenfold.session_factory
    with factory() as session:
        find = images_service.get_image_by_sha256
        mine = find(
            session=session,
            tenant_id=admin.tenant_id,
            sha256=package_sha256(app_package),
        )
        assert mine is not None
        assert mine.id == app_id
        theirs = find(
            session=session,
            tenant_id=other_tenant.tenant_id,
            sha256=package_sha256(app_package),
        )
        assert theirs is None
        shared = find(
            session=session,
            tenant_id=other_tenant.tenant_id,
            sha256=package_sha256(os_package),
        )
        assert shared is not None
        assert shared.id == os_id
        platform_only = find(
            session=session, tenant_id=None, sha256=package_sha256(app_package)
        )
        assert platform_only is None
