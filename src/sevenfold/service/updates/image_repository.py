"""A tenant's TUF image repository: every image its devices may be told to run.

Targets (docs/updates.md §4): the image of every OS release that is not cancelled
(platform images, the same for all tenants) and every app image of the tenant, at
``blobs/<sha256>`` with length, SHA-256 and ``custom`` = ``{kind, componentId,
imageId, name, version, securityVersion}``.

When to re-sign targets: the content decides. The signed targets carry
``x-sevenfold-target-set-sha256``, the digest of their entries; a new version is
signed only when the digest of the current entries differs. Computing the entries
means reading every image, so a cheap fingerprint guards it: two aggregate queries
(the tenant's app images: count and newest upload; releases: count, cancelled
count, newest publication and cancellation). This process remembers the fingerprint
it last saw with the targets version it checked against; while both are unchanged a
check reads no image rows and signs nothing. An upload, a deletion, a release or a
cancellation changes the fingerprint; a targets version published by another
process changes the version. Either way the entries are recomputed and compared by
digest, so a stale memory can only cost a recomputation, never a missed change.
"""

import hashlib
import json
import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from tuf.api.metadata import TargetFile, Targets

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
from sevenfold.service.images.models import Image
from sevenfold.service.releases.models import OsRelease
from sevenfold.service.updates import metadata_store
from sevenfold.service.updates.metadata_store import (
    NO_DEVICE,
    ChainRequest,
    ChainVersions,
)
from sevenfold.service.updates.signing_keys import Repository, TufRole

TARGET_SET_DIGEST_FIELD = "x-sevenfold-target-set-sha256"
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


def _published_digest(
    session: Session, tenant_id: str, versions: ChainVersions | None
) -> str | None:
    if versions is None:
        return None
    row = metadata_store.row_at(
        session,
        tenant_id=tenant_id,
        repository=Repository.IMAGE,
        role=TufRole.TARGETS,
        version=versions.targets_version,
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


def ensure_current(
    *,
    session: Session,
    kek: KeyEncryptionKey,
    tenant_id: str,
    now: datetime,
    request: ChainRequest | None = None,
) -> ChainVersions:
    """Bring the tenant's image repository up to date (root, targets, snapshot,
    timestamp) and return the published versions; signs only what changed or is
    about to expire. The caller commits."""
    newest = metadata_store.newest_versions(
        session, tenant_id=tenant_id, repository=Repository.IMAGE
    )
    metadata_store.keep_root_current(
        session=session,
        kek=kek,
        tenant_id=tenant_id,
        repository=Repository.IMAGE,
        now=now,
        newest=newest,
    )
    versions = metadata_store.chain_versions(
        session,
        tenant_id=tenant_id,
        repository=Repository.IMAGE,
        device_id=NO_DEVICE,
        newest=newest,
    )
    fingerprint = _fingerprint(session, tenant_id)
    with _remembered_lock:
        remembered = _remembered.get(tenant_id)
    request = request or ChainRequest()
    unchanged = versions is not None and remembered == (
        fingerprint,
        versions.targets_version,
    )
    if not unchanged and request.new_targets is None:
        entries = current_targets(session, tenant_id)
        digest = targets_digest(entries)
        if digest != _published_digest(session, tenant_id, versions):
            targets = Targets(
                targets=entries, unrecognized_fields={TARGET_SET_DIGEST_FIELD: digest}
            )
            request = ChainRequest(
                new_targets=targets,
                resign_snapshot=request.resign_snapshot,
                resign_timestamp=request.resign_timestamp,
            )
    published = metadata_store.publish_chain(
        session=session,
        kek=kek,
        tenant_id=tenant_id,
        repository=Repository.IMAGE,
        device_id=NO_DEVICE,
        now=now,
        versions=versions,
        request=request,
    )
    _remember(tenant_id, fingerprint, published.targets_version)
    return published
