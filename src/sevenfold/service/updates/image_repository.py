"""A tenant's TUF image repository: every image its devices may be told to run.

Targets (docs/updates.md §4): the image of every OS release that is not cancelled
(platform images, the same for all tenants) and every app image of the tenant, at
``blobs/<sha256>`` with length, SHA-256 and ``custom`` = ``{kind, componentId,
imageId, name, version, securityVersion}``.

Delegation: the top-level ``targets`` lists no image. It delegates ``blobs/*``
(terminating) to the ``images`` role, whose key is online; the entries live in
``images`` metadata, signed by the service whenever they change. Top-level
``targets`` changes only with the delegation (rotating the ``images`` key) or when
it nears expiry, so its key can be kept offline: then the new version waits as
pending for the operator's signature (``offline_signing.py``) and the old one
stays in force. A repository signed before the delegation existed (targets listing
the images, no ``images`` role) is migrated on its next refresh: a new targets
version with the delegation, signed by its (then necessarily online) targets key.

When to re-sign ``images``: the content decides. The signed images metadata carry
``x-sevenfold-target-set-sha256``, the digest of their entries; a new version is
signed only when the digest of the current entries differs. Computing the entries
means reading every image, so a cheap fingerprint guards it: two aggregate queries
(the tenant's app images: count and newest upload; releases: count, cancelled
count, newest publication and cancellation). This process remembers the fingerprint
it last saw with the images version it checked against; while both are unchanged a
check reads no image rows and signs nothing. An upload, a deletion, a release or a
cancellation changes the fingerprint; an images version published by another
process changes the version. Either way the entries are recomputed and compared by
digest, so a stale memory can only cost a recomputation, never a missed change.
"""

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from securesystemslib.signer import Signer
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Signed,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)

from sevenfold.protocol.updates import (
    CUSTOM_COMPONENT_ID,
    CUSTOM_IMAGE_ID,
    CUSTOM_KIND,
    CUSTOM_NAME,
    CUSTOM_SECURITY_VERSION,
    CUSTOM_VERSION,
    ImageType,
    ReleaseState,
    target_path,
)
from sevenfold.service.ca.key_encryption_key import KeyEncryptionKey
from sevenfold.service.errors import ServiceError
from sevenfold.service.images.models import Image
from sevenfold.service.releases.models import OsRelease
from sevenfold.service.updates import metadata_store, signing_keys
from sevenfold.service.updates.metadata_store import (
    SNAPSHOT_LIFETIME,
    SNAPSHOT_REFRESH_BEFORE,
    TARGETS_LIFETIME,
    TARGETS_REFRESH_BEFORE,
    TIMESTAMP_LIFETIME,
    TIMESTAMP_REFRESH_BEFORE,
    NewestVersions,
    expiry,
)
from sevenfold.service.updates.models import TufSigningKey
from sevenfold.service.updates.signing_keys import Repository, TufRole

TARGET_SET_DIGEST_FIELD = "x-sevenfold-target-set-sha256"
IMAGES_ROLE = TufRole.IMAGES.value
IMAGES_PATHS = ["blobs/*"]
IMAGE = Repository.IMAGE
MAX_REMEMBERED_TENANTS = 4096

_remembered: OrderedDict[str, tuple[tuple[Any, ...], int]] = OrderedDict()
_remembered_lock = threading.Lock()


def image_custom(image: Image) -> dict[str, Any]:
    """The ``custom`` object of an image's target entry (shared with the director)."""
    return {
        CUSTOM_KIND: image.kind,
        CUSTOM_COMPONENT_ID: image.component_id,
        CUSTOM_IMAGE_ID: image.id,
        CUSTOM_NAME: image.name,
        CUSTOM_VERSION: image.version,
        CUSTOM_SECURITY_VERSION: image.security_version,
    }


def target_file(image: Image, custom: dict[str, Any]) -> TargetFile:
    """An image's TUF target entry."""
    return TargetFile(
        length=image.size_bytes,
        hashes={"sha256": image.sha256},
        path=target_path(image.sha256),
        unrecognized_fields={"custom": custom},
    )


def released_os_images_query() -> Select[Image]:
    """Images of OS releases that are not cancelled (withdrawn ones stay listed:
    devices already running them must still verify what they run)."""
    return (
        select(Image)
        .join(OsRelease, OsRelease.image_id == Image.id)
        .where(OsRelease.state != ReleaseState.CANCELLED.value)
    )


def tenant_app_images_query(tenant_id: str) -> Select[Image]:
    """A tenant's app images."""
    return select(Image).where(
        Image.tenant_id == tenant_id, Image.kind == ImageType.APP.value
    )


def visible_image_by_sha256(
    session: Session, *, tenant_id: str, sha256: str
) -> Image | None:
    """The image with this digest if the tenant's devices may download it."""
    app_image = session.scalars(
        tenant_app_images_query(tenant_id).where(Image.sha256 == sha256).limit(1)
    ).first()
    if app_image is not None:
        return app_image
    query = released_os_images_query().where(
        Image.sha256 == sha256, Image.tenant_id.is_(None)
    )
    os_image: Image | None = session.scalars(query.limit(1)).first()
    return os_image


def _fingerprint(session: Session, tenant_id: str) -> tuple[Any, ...]:
    apps = session.execute(
        select(func.count(Image.id), func.max(Image.uploaded_at)).where(
            Image.tenant_id == tenant_id, Image.kind == ImageType.APP.value
        )
    ).one()
    releases = session.execute(
        select(
            func.count(OsRelease.id),
            func.count(OsRelease.cancelled_at),
            func.max(OsRelease.published_at),
            func.max(OsRelease.cancelled_at),
        )
    ).one()
    return (*tuple(apps), *tuple(releases))


def current_targets(session: Session, tenant_id: str) -> dict[str, TargetFile]:
    """The entries the image repository should list now."""
    images = list(session.scalars(released_os_images_query()))
    images += list(session.scalars(tenant_app_images_query(tenant_id)))
    entries: dict[str, TargetFile] = {}
    for image in images:
        entry = target_file(image, image_custom(image))
        entries[entry.path] = entry
    return dict(sorted(entries.items()))


def targets_digest(entries: dict[str, TargetFile]) -> str:
    """The SHA-256 of a target set (canonical JSON of the entries)."""
    document = {path: entry.to_dict() for path, entry in entries.items()}
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def delegating_targets(images_key: TufSigningKey) -> Targets:
    """Top-level targets that list nothing and delegate ``blobs/*`` (terminating:
    no other role may answer for those paths) to ``images_key``."""
    role = DelegatedRole(
        name=IMAGES_ROLE,
        keyids=[images_key.keyid],
        threshold=1,
        terminating=True,
        paths=list(IMAGES_PATHS),
    )
    delegations = Delegations(
        keys={images_key.keyid: signing_keys.public_key(images_key)},
        roles={IMAGES_ROLE: role},
    )
    return Targets(targets={}, delegations=delegations)


def images_key(
    session: Session, *, kek: KeyEncryptionKey, tenant_id: str, now: datetime
) -> TufSigningKey:
    """The active ``images`` key, made on first use."""
    row = signing_keys.active_key(
        session=session, tenant_id=tenant_id, repository=IMAGE, role=TufRole.IMAGES
    )
    if row is None:
        row = signing_keys.create_key(
            session=session,
            kek=kek,
            tenant_id=tenant_id,
            repository=IMAGE,
            role=TufRole.IMAGES,
            now=now,
        )
    return row


def prepare_pending_targets(
    session: Session, *, tenant_id: str, targets: Targets, now: datetime
) -> None:
    """Keep ``targets`` as the pending top-level targets (published version + 1),
    waiting for the offline targets key."""
    published = metadata_store.latest_row(
        session, tenant_id=tenant_id, repository=IMAGE, role=TufRole.TARGETS
    )
    targets.version = (published.version if published else 0) + 1
    targets.expires = expiry(now, TARGETS_LIFETIME)
    metadata_store.store_pending(
        session,
        tenant_id=tenant_id,
        repository=IMAGE,
        role=TufRole.TARGETS,
        metadata=Metadata(targets),
        now=now,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageChainRequest:
    """What to re-sign beyond what content and expiry demand."""

    redelegate: bool = False
    resign_images: bool = False
    resign_snapshot: bool = False
    resign_timestamp: bool = False


@dataclass(frozen=True, slots=True)
class ImageChainVersions:
    """The versions published after a refresh."""

    targets_version: int
    images_version: int
    snapshot_version: int
    timestamp_version: int


def _published_digest(
    session: Session, tenant_id: str, images_version: int | None
) -> str | None:
    if images_version is None:
        return None
    row = metadata_store.row_at(
        session,
        tenant_id=tenant_id,
        repository=IMAGE,
        role=TufRole.IMAGES,
        version=images_version,
    )
    if row is None:
        return None
    signed = metadata_store.parse_targets(row).signed
    digest = signed.unrecognized_fields.get(TARGET_SET_DIGEST_FIELD)
    return digest if isinstance(digest, str) else None


def _remember(tenant_id: str, fingerprint: tuple[Any, ...], version: int) -> None:
    with _remembered_lock:
        _remembered[tenant_id] = (fingerprint, version)
        _remembered.move_to_end(tenant_id)
        while len(_remembered) > MAX_REMEMBERED_TENANTS:
            _remembered.popitem(last=False)


def _published_signed(
    session: Session, tenant_id: str, role: TufRole, version: int
) -> Targets:
    row = metadata_store.row_at(
        session, tenant_id=tenant_id, repository=IMAGE, role=role, version=version
    )
    if row is None:
        raise ServiceError(f"published {role} metadata is missing")
    return metadata_store.parse_targets(row).signed


def _new_top_level_targets(
    session: Session,
    *,
    kek: KeyEncryptionKey,
    tenant_id: str,
    now: datetime,
    newest: NewestVersions,
    request: ImageChainRequest,
) -> Targets | None:
    """The top-level targets to sign now, if any: a new delegation on first use,
    on migration or when asked (``images`` key rotated); the same content when it
    nears expiry. With an offline targets key it is prepared as pending instead
    (once for a mere refresh) and ``None`` is returned."""
    published = newest.get(TufRole.TARGETS)
    migrate = published is None or TufRole.IMAGES not in newest
    targets: Targets | None = None
    replace_pending = True
    if migrate or request.redelegate:
        targets = delegating_targets(
            images_key(session, kek=kek, tenant_id=tenant_id, now=now)
        )
    elif published is not None and published[1] - now < TARGETS_REFRESH_BEFORE:
        targets = _published_signed(session, tenant_id, TufRole.TARGETS, published[0])
        replace_pending = False
    if targets is None:
        return None
    targets_key = signing_keys.active_key(
        session=session, tenant_id=tenant_id, repository=IMAGE, role=TufRole.TARGETS
    )
    if targets_key is not None and signing_keys.is_offline(targets_key):
        pending = metadata_store.pending_row(session, tenant_id, IMAGE, TufRole.TARGETS)
        if replace_pending or pending is None:
            prepare_pending_targets(
                session, tenant_id=tenant_id, targets=targets, now=now
            )
        return None
    return targets


def ensure_current(
    *,
    session: Session,
    kek: KeyEncryptionKey,
    tenant_id: str,
    now: datetime,
    request: ImageChainRequest | None = None,
) -> ImageChainVersions:
    """Bring the tenant's image repository up to date (root, targets, images,
    snapshot, timestamp) and return the published versions; signs only what
    changed or is about to expire. The caller commits."""
    request = request or ImageChainRequest()
    newest = metadata_store.newest_versions(
        session, tenant_id=tenant_id, repository=IMAGE
    )
    metadata_store.keep_root_current(
        session=session,
        kek=kek,
        tenant_id=tenant_id,
        repository=IMAGE,
        now=now,
        newest=newest,
    )

    def sign_and_store(role: TufRole, signed: Signed, *, version: int) -> None:
        signed.version = version
        metadata: Metadata[Any] = Metadata(signed)
        metadata.sign(_signer(session, kek, tenant_id, role))
        metadata_store.store(
            session,
            tenant_id=tenant_id,
            repository=IMAGE,
            role=role,
            metadata=metadata,
        )

    targets = _new_top_level_targets(
        session, kek=kek, tenant_id=tenant_id, now=now, newest=newest, request=request
    )
    targets_version = newest[TufRole.TARGETS][0] if TufRole.TARGETS in newest else 0
    if targets is not None:
        targets.expires = expiry(now, TARGETS_LIFETIME)
        targets_version += 1
        sign_and_store(TufRole.TARGETS, targets, version=targets_version)

    images, fingerprint = _new_images(session, tenant_id, now, newest, request)
    published_images = newest.get(TufRole.IMAGES)
    images_version = published_images[0] if published_images else 0
    if images is not None:
        images.expires = expiry(now, TARGETS_LIFETIME)
        images_version += 1
        sign_and_store(TufRole.IMAGES, images, version=images_version)
    _remember(tenant_id, fingerprint, images_version)

    snapshot = newest.get(TufRole.SNAPSHOT)
    snapshot_version = snapshot[0] if snapshot else 0
    if (
        snapshot is None
        or targets is not None
        or images is not None
        or request.resign_snapshot
        or snapshot[1] - now < SNAPSHOT_REFRESH_BEFORE
    ):
        snapshot_version += 1
        meta = {
            "targets.json": MetaFile(version=targets_version),
            f"{IMAGES_ROLE}.json": MetaFile(version=images_version),
        }
        new_snapshot = Snapshot(expires=expiry(now, SNAPSHOT_LIFETIME), meta=meta)
        sign_and_store(TufRole.SNAPSHOT, new_snapshot, version=snapshot_version)

    timestamp = newest.get(TufRole.TIMESTAMP)
    timestamp_version = timestamp[0] if timestamp else 0
    if (
        timestamp is None
        or snapshot is None
        or snapshot_version != snapshot[0]
        or request.resign_timestamp
        or timestamp[1] - now < TIMESTAMP_REFRESH_BEFORE
    ):
        timestamp_version += 1
        new_timestamp = Timestamp(
            expires=expiry(now, TIMESTAMP_LIFETIME),
            snapshot_meta=MetaFile(version=snapshot_version),
        )
        sign_and_store(TufRole.TIMESTAMP, new_timestamp, version=timestamp_version)
    return ImageChainVersions(
        targets_version=targets_version,
        images_version=images_version,
        snapshot_version=snapshot_version,
        timestamp_version=timestamp_version,
    )


def _new_images(
    session: Session,
    tenant_id: str,
    now: datetime,
    newest: NewestVersions,
    request: ImageChainRequest,
) -> tuple[Targets | None, tuple[Any, ...]]:
    """The ``images`` metadata to sign now, if the entries changed (module doc),
    it nears expiry or a re-sign was asked for (its key rotated); and the
    fingerprint seen."""
    published = newest.get(TufRole.IMAGES)
    fingerprint = _fingerprint(session, tenant_id)
    due = published is not None and published[1] - now < TARGETS_REFRESH_BEFORE
    if published is not None and not (due or request.resign_images):
        with _remembered_lock:
            remembered = _remembered.get(tenant_id)
        if remembered == (fingerprint, published[0]):
            return None, fingerprint
    entries = current_targets(session, tenant_id)
    digest = targets_digest(entries)
    version = published[0] if published else None
    changed = digest != _published_digest(session, tenant_id, version)
    if not (changed or due or request.resign_images):
        return None, fingerprint
    images = Targets(
        targets=entries, unrecognized_fields={TARGET_SET_DIGEST_FIELD: digest}
    )
    return images, fingerprint


def _signer(
    session: Session, kek: KeyEncryptionKey, tenant_id: str, role: TufRole
) -> Signer:
    return metadata_store.role_signer(
        session=session, kek=kek, tenant_id=tenant_id, repository=IMAGE, role=role
    )
