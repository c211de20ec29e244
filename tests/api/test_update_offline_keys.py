"""The image repository's ``images`` delegation and its offline root and targets
keys (docs/updates.md §4), verified by a real python-tuf ngclient ``Updater`` that
trusts root version 1."""

import base64
import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from fastapi.testclient import TestClient
from securesystemslib.signer import CryptoSigner
from sqlalchemy import select
from tuf.api.exceptions import UnsignedMetadataError
from tuf.api.metadata import Metadata, MetaFile, Snapshot, Targets, Timestamp

from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.updates import ImageType, target_path
from sevenfold.service.db.engine import make_session_factory
from sevenfold.service.updates import image_repository, metadata_store
from sevenfold.service.updates.metadata_store import NO_DEVICE, ChainRequest
from sevenfold.service.updates.models import TufSigningKey
from sevenfold.service.updates.signing_keys import Repository, TufRole
from tests.api.device_auth_support import certified
from tests.api.update_support import (
    TUF,
    DeviceUpdaters,
    add_image,
    add_release,
    settings,
    versions,
)
from tests.conftest import TenantAccess

__all__ = ["settings"]

KEYS = "/api/v1/update-keys"


def _device(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp: Path,
    uds: bytes = b"\x07" * 32,
) -> DeviceUpdaters:
    device = certified(client, admin, clock, uds=uds)
    return DeviceUpdaters(app, clock, device.certificate, tmp)


def _offline_key() -> CryptoSigner:
    return CryptoSigner(ec.generate_private_key(ec.SECP256R1()))


def _take_offline(
    client: TestClient, admin: TenantAccess, role: str, key: CryptoSigner
) -> dict[str, Any]:
    answer = client.post(
        f"{KEYS}/take-offline",
        json={
            "repository": "image",
            "role": role,
            "public_key_pem": key.public_key.keyval["public"],
        },
        headers=admin.headers,
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _pending(client: TestClient, admin: TenantAccess) -> dict[str, dict[str, Any]]:
    answer = client.get(f"{KEYS}/pending", headers=admin.headers)
    assert answer.status_code == 200, answer.text
    return {item["role"]: item for item in answer.json()["pending"]}


def _signature_body(item: dict[str, Any], key: CryptoSigner) -> dict[str, Any]:
    # from_dict consumes the dict it is given: parse a copy.
    metadata = Metadata[Any].from_dict(copy.deepcopy(item["metadata"]))
    assert base64.b64decode(item["signed_bytes"]) == metadata.signed_bytes
    signature = key.sign(metadata.signed_bytes)
    return {
        "repository": item["repository"],
        "role": item["role"],
        "version": item["version"],
        "keyid": signature.keyid,
        "signature": signature.signature,
    }


def _sign(
    client: TestClient, admin: TenantAccess, item: dict[str, Any], key: CryptoSigner
) -> Any:
    return client.post(
        f"{KEYS}/pending/signatures",
        json=_signature_body(item, key),
        headers=admin.headers,
    )


def _images_role(device: DeviceUpdaters) -> Targets:
    updater = device.refresh("image")
    # Loading the delegated role is what get_targetinfo does on the way.
    updater.get_targetinfo("blobs/" + "0" * 64)
    images = updater._trusted_set["images"]
    assert isinstance(images, Targets)
    return images


def test_image_targets_delegate_blobs_to_the_online_images_role(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    os_image = add_release(app, clock, "26.11")
    device = _device(app, client, admin, clock, tmp_path)
    updater = device.refresh("image")
    top = updater._trusted_set.targets
    assert top.targets == {}
    assert top.delegations is not None
    assert top.delegations.roles is not None
    role = top.delegations.roles["images"]
    assert (role.paths, role.terminating, role.threshold) == (["blobs/*"], True, 1)
    assert updater.get_targetinfo(target_path(os_image.sha256)) is not None
    images_version = updater._trusted_set["images"].version

    app_image = add_image(
        app, clock, tenant_id=admin.tenant_id, kind=ImageType.APP, version="1.0"
    )
    after = device.refresh("image")
    info = after.get_targetinfo(target_path(app_image.sha256))
    assert info is not None
    assert info.custom["imageId"] == app_image.id
    assert after._trusted_set["images"].version == images_version + 1
    assert versions(after)["targets"] == versions(updater)["targets"]


def test_attacker_with_the_online_snapshot_and_timestamp_keys_cannot_add_a_target(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    """The snapshot and timestamp keys are online; whoever steals them can serve
    any ``images`` metadata they like, but only the delegated key's signature
    makes the device believe it."""
    add_release(app, clock, "26.11")
    device = _device(app, client, admin, clock, tmp_path)
    honest = device.refresh("image")
    state = app.state.sevenfold
    with make_session_factory(state.engine)() as session:
        stolen = {
            role: metadata_store.role_signer(
                session=session,
                kek=state.key_encryption_key,
                tenant_id=admin.tenant_id,
                repository=Repository.IMAGE,
                role=role,
            )
            for role in (TufRole.SNAPSHOT, TufRole.TIMESTAMP)
        }
    rogue = add_image(app, clock, tenant_id=None, kind=ImageType.OS, version="99.0")
    published = device.get(f"{TUF}/image/{versions(honest)['snapshot']}.snapshot.json")
    snapshot = Metadata[Snapshot].from_bytes(published.content)
    images_version = snapshot.signed.meta["images.json"].version
    current = device.get(f"{TUF}/image/{images_version}.images.json").content
    forged_images = Metadata[Targets].from_bytes(current)
    entry = image_repository.target_file(rogue, image_repository.image_custom(rogue))
    forged_images.signed.targets[entry.path] = entry
    forged_images.signed.version = images_version + 1
    forged_images.signatures.clear()
    forged_images.sign(stolen[TufRole.SNAPSHOT])  # a key, but not the delegated one
    snapshot.signed.version += 1
    snapshot.signed.meta["images.json"] = MetaFile(version=images_version + 1)
    snapshot.signatures.clear()
    snapshot.sign(stolen[TufRole.SNAPSHOT])
    timestamp = Metadata(
        Timestamp(
            version=versions(honest)["timestamp"] + 1,
            expires=(clock.now() + timedelta(hours=20)).replace(microsecond=0),
            snapshot_meta=MetaFile(version=snapshot.signed.version),
        )
    )
    timestamp.sign(stolen[TufRole.TIMESTAMP])
    overrides = device.fetcher.overrides
    overrides[f"{TUF}/image/timestamp.json"] = timestamp.to_bytes()
    overrides[f"{TUF}/image/{snapshot.signed.version}.snapshot.json"] = (
        snapshot.to_bytes()
    )
    overrides[f"{TUF}/image/{images_version + 1}.images.json"] = (
        forged_images.to_bytes()
    )

    attacked = device.refresh("image")  # timestamp and snapshot verify: online keys
    assert versions(attacked)["snapshot"] == snapshot.signed.version
    with pytest.raises(UnsignedMetadataError):
        attacked.get_targetinfo(target_path(rogue.sha256))


def _publish_pre_delegation_repository(
    app: FastAPI, clock: ManualClock, tenant_id: str
) -> None:
    """The image repository as the service signed it before the delegation: the
    top-level targets list the images, no ``images`` role exists."""
    state = app.state.sevenfold
    now = clock.now()
    with make_session_factory(state.engine)() as session:
        kek = state.key_encryption_key
        metadata_store.ensure_root(
            session=session,
            kek=kek,
            tenant_id=tenant_id,
            repository=Repository.IMAGE,
            now=now,
        )
        entries = image_repository.current_targets(session, tenant_id)
        metadata_store.publish_chain(
            session=session,
            kek=kek,
            tenant_id=tenant_id,
            repository=Repository.IMAGE,
            device_id=NO_DEVICE,
            now=now,
            versions=None,
            request=ChainRequest(new_targets=Targets(targets=entries)),
        )
        session.commit()


def test_a_repository_signed_before_the_delegation_migrates_on_its_next_refresh(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    os_image = add_release(app, clock, "26.11")
    _publish_pre_delegation_repository(app, clock, admin.tenant_id)
    device = _device(app, client, admin, clock, tmp_path)
    with make_session_factory(app.state.sevenfold.engine)() as session:
        old_timestamp = metadata_store.latest_row(
            session,
            tenant_id=admin.tenant_id,
            repository=Repository.IMAGE,
            role=TufRole.TIMESTAMP,
        )
        assert old_timestamp is not None
        old_timestamp_bytes = old_timestamp.content
    # The device verifies and caches the old metadata (served as stored, before
    # the service's next refresh migrates it).
    device.fetcher.overrides[f"{TUF}/image/timestamp.json"] = old_timestamp_bytes
    old_style = device.refresh("image")
    assert old_style._trusted_set.targets.delegations is None
    assert old_style.get_targetinfo(target_path(os_image.sha256)) is not None
    device.fetcher.overrides.clear()

    migrated = device.refresh("image")

    assert versions(migrated)["targets"] == 2
    top = migrated._trusted_set.targets
    assert top.targets == {}
    assert top.delegations is not None
    info = migrated.get_targetinfo(target_path(os_image.sha256))
    assert info is not None
    assert info.custom["imageId"] == os_image.id
    keys = client.get(KEYS, headers=admin.headers).json()
    image_keys = next(r for r in keys["repositories"] if r["repository"] == "image")
    assert {key["role"] for key in image_keys["keys"]} >= {"images", "targets"}


def _key_rows(app: FastAPI, tenant_id: str, role: str) -> list[TufSigningKey]:
    with make_session_factory(app.state.sevenfold.engine)() as session:
        query = select(TufSigningKey).where(
            TufSigningKey.tenant_id == tenant_id,
            TufSigningKey.repository == "image",
            TufSigningKey.role == role,
        )
        rows = list(session.scalars(query.order_by(TufSigningKey.created_at)))
        for row in rows:
            session.expunge(row)
        return rows


def test_take_targets_offline_then_rotating_images_waits_for_the_offline_key(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    add_release(app, clock, "26.11")
    device = _device(app, client, admin, clock, tmp_path)
    before = versions(device.refresh("image"))
    targets_key = _offline_key()

    moved = _take_offline(client, admin, "targets", targets_key)

    assert moved["published"] is False
    assert moved["new_keyid"] == targets_key.public_key.keyid
    pending = _pending(client, admin)
    assert pending["root"]["missing_keyids"] == []  # the online root key signed
    assert pending["targets"]["missing_keyids"] == [targets_key.public_key.keyid]
    assert versions(device.refresh("image")) == before  # nothing published yet
    signed = _sign(client, admin, pending["targets"], targets_key)
    assert signed.status_code == 200, signed.text
    assert signed.json() == {"published": True, "pending": []}
    after = versions(device.refresh("image"))
    assert after["root"] == before["root"] + 1
    assert after["targets"] == before["targets"] + 1
    rows = _key_rows(app, admin.tenant_id, "targets")
    assert [row.private_key_wrapped is None for row in rows] == [True, True]
    active = [row.keyid for row in rows if row.revoked_at is None]
    assert active == [targets_key.public_key.keyid]

    # Images keep flowing with the targets key offline: images is online.
    newer = add_release(app, clock, "26.12")
    assert device.refresh("image").get_targetinfo(target_path(newer.sha256))

    rotated = client.post(
        f"{KEYS}/rotate",
        json={"repository": "image", "role": "images"},
        headers=admin.headers,
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["published"] is False
    unchanged = device.refresh("image")
    assert versions(unchanged)["targets"] == after["targets"]
    assert unchanged.get_targetinfo(target_path(newer.sha256)) is not None
    pending = _pending(client, admin)
    assert set(pending) == {"targets"}
    delegation = pending["targets"]["metadata"]["signed"]["delegations"]
    assert delegation["roles"][0]["keyids"] == [rotated.json()["new_keyid"]]
    assert _sign(client, admin, pending["targets"], targets_key).json()["published"]
    rotated_device = device.refresh("image")
    assert versions(rotated_device)["targets"] == after["targets"] + 1
    assert rotated_device.get_targetinfo(target_path(newer.sha256)) is not None
    images = rotated_device._trusted_set["images"]
    assert images.version > 0
    offline_rotation = client.post(
        f"{KEYS}/rotate",
        json={"repository": "image", "role": "targets"},
        headers=admin.headers,
    )
    assert offline_rotation.status_code == 409
    assert offline_rotation.json()["type"].endswith(":update-role-offline")


def test_rotating_an_offline_root_end_to_end_a_device_on_root_v1_follows(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    add_release(app, clock, "26.11")
    device = _device(app, client, admin, clock, tmp_path)
    assert versions(device.refresh("image"))["root"] == 1
    first_root_key = _offline_key()
    assert _take_offline(client, admin, "root", first_root_key)["published"] is False
    pending = _pending(client, admin)["root"]
    assert pending["missing_keyids"] == [first_root_key.public_key.keyid]
    assert _sign(client, admin, pending, first_root_key).json()["published"] is True
    assert versions(device.refresh("image"))["root"] == 2
    assert all(
        row.private_key_wrapped is None
        for row in _key_rows(app, admin.tenant_id, "root")
    )

    # Rotating the offline root: nothing online can sign; old and new keys must.
    second_root_key = _offline_key()
    moved = _take_offline(client, admin, "root", second_root_key)
    assert (moved["published"], moved["root_version"]) == (False, 3)
    pending = _pending(client, admin)["root"]
    assert set(pending["missing_keyids"]) == {
        first_root_key.public_key.keyid,
        second_root_key.public_key.keyid,
    }
    signed_new = _sign(client, admin, pending, second_root_key).json()
    assert signed_new["published"] is False
    assert signed_new["pending"][0]["missing_keyids"] == [
        first_root_key.public_key.keyid
    ]
    assert versions(device.refresh("image"))["root"] == 2
    assert _sign(client, admin, pending, first_root_key).json()["published"] is True

    newer = add_release(app, clock, "26.12")
    walked = device.refresh("image")  # bootstrapped from root v1 again: walks 2, 3
    assert versions(walked)["root"] == 3
    assert walked.get_targetinfo(target_path(newer.sha256)) is not None
    fresh = device.elsewhere(tmp_path / "fresh").refresh("image")
    assert versions(fresh)["root"] == 3

    # With the root offline, rotating an online key waits for the root's signature.
    rotated = client.post(
        f"{KEYS}/rotate",
        json={"repository": "image", "role": "timestamp"},
        headers=admin.headers,
    )
    assert rotated.json()["published"] is False
    pending = _pending(client, admin)["root"]
    assert pending["missing_keyids"] == [second_root_key.public_key.keyid]
    assert _sign(client, admin, pending, second_root_key).json()["published"]
    rotated_device = device.refresh("image")
    assert versions(rotated_device)["root"] == 4
    assert rotated_device.get_targetinfo(target_path(newer.sha256)) is not None


def test_pending_root_signed_by_a_wrong_key_is_refused_and_nothing_changes(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    add_release(app, clock, "26.11")
    device = _device(app, client, admin, clock, tmp_path)
    before = versions(device.refresh("image"))
    root_key = _offline_key()
    _take_offline(client, admin, "root", root_key)
    pending = _pending(client, admin)["root"]

    wrong_key = _signature_body(pending, _offline_key())
    refused = client.post(
        f"{KEYS}/pending/signatures", json=wrong_key, headers=admin.headers
    )
    assert refused.status_code == 403
    assert refused.json()["type"].endswith(":unexpected-signing-key")

    forged = _signature_body(pending, root_key)
    other = root_key.sign(b"something else")
    forged["signature"] = other.signature
    refused = client.post(
        f"{KEYS}/pending/signatures", json=forged, headers=admin.headers
    )
    assert refused.status_code == 422
    assert refused.json()["type"].endswith(":invalid-metadata-signature")

    stale = _signature_body(pending, root_key) | {"version": pending["version"] - 1}
    refused = client.post(
        f"{KEYS}/pending/signatures", json=stale, headers=admin.headers
    )
    assert refused.status_code == 409
    assert refused.json()["type"].endswith(":stale-pending-metadata")

    assert _pending(client, admin)["root"]["missing_keyids"] == [
        root_key.public_key.keyid
    ]
    assert versions(device.refresh("image")) == before
    nothing = client.post(
        f"{KEYS}/pending/signatures",
        json=_signature_body(pending, root_key) | {"role": "targets"},
        headers=admin.headers,
    )
    assert nothing.status_code == 404
    assert nothing.json()["type"].endswith(":no-pending-metadata")
    director = client.post(
        f"{KEYS}/take-offline",
        json={
            "repository": "director",
            "role": "root",
            "public_key_pem": root_key.public_key.keyval["public"],
        },
        headers=admin.headers,
    )
    assert director.status_code == 422


def test_offline_targets_near_expiry_is_prepared_and_warned_old_stays_in_force(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    add_release(app, clock, "26.11")
    device = _device(app, client, admin, clock, tmp_path)
    targets_key = _offline_key()
    _take_offline(client, admin, "targets", targets_key)
    _sign(client, admin, _pending(client, admin)["targets"], targets_key)
    published = versions(device.refresh("image"))
    listed = client.get(KEYS, headers=admin.headers).json()
    assert all(repo["warnings"] == [] for repo in listed["repositories"])

    clock.advance(int(timedelta(days=65).total_seconds()))
    # Device certificates are short-lived: a device certified now checks.
    device = _device(app, client, admin, clock, tmp_path / "later", b"\x08" * 32)
    refreshed = device.refresh("image")
    assert versions(refreshed)["targets"] == published["targets"]  # still in force
    pending = _pending(client, admin)
    assert pending["targets"]["version"] == published["targets"] + 1
    listed = client.get(KEYS, headers=admin.headers).json()
    image = next(r for r in listed["repositories"] if r["repository"] == "image")
    assert len(image["warnings"]) == 1
    assert "targets" in image["warnings"][0]
    assert _sign(client, admin, pending["targets"], targets_key).json()["published"]
    assert versions(device.refresh("image"))["targets"] == published["targets"] + 1
