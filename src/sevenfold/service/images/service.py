"""Image packages: verifying uploads, recording and finding images.

App images belong to a tenant; OS images (``tenant_id`` None, signed by a platform
key) are visible to every tenant. An upload is stored first (streamed, capped) and
then verified here from the stored file: header, signature by a registered key,
length and payload SHA-256. A refused upload leaves no blob behind unless another
image row holds the same bytes (docs/updates.md §1-2).
"""

import hashlib
from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sevenfold.crypto import image_signing
from sevenfold.crypto.errors import ImageSignatureError
from sevenfold.protocol.clock import Clock
from sevenfold.protocol.errors import PackageFormatError
from sevenfold.protocol.image_package import (
    MAX_HEADER_BYTES,
    PackageHeader,
    parse_package_header,
)
from sevenfold.protocol.updates import ImageType, version_sort_key
from sevenfold.service.access.permissions import Permission
from sevenfold.service.access.principal import Principal
from sevenfold.service.audit import service as audit
from sevenfold.service.errors import (
    ConflictError,
    InvalidImagePackageError,
    NotFoundError,
    PermissionDeniedError,
    UntrustedImageSignatureError,
)
from sevenfold.service.images import signing_keys
from sevenfold.service.images.artifact_store import ArtifactStore, StoredArtifact
from sevenfold.service.images.models import Image


def require_platform_administrator(principal: Principal) -> None:
    """Refuse anyone but the platform administrator (platform keys, OS images)."""
    if not principal.is_platform_administrator:
        raise PermissionDeniedError("only the platform administrator may do this")


def require_upload_permission(principal: Principal) -> None:
    """Refuse, before any byte is stored, a caller who may upload nothing."""
    if Permission.WRITE not in principal.permissions and not (
        principal.is_platform_administrator
    ):
        raise PermissionDeniedError("this token's role does not allow uploading images")


def register_upload(
    *,
    session: Session,
    clock: Clock,
    principal: Principal,
    store: ArtifactStore,
    stored: StoredArtifact,
) -> Image:
    """Verify a stored upload and record it; a refused upload's blob is deleted.

    Raises:
        InvalidImagePackageError: malformed, truncated, or the payload differs.
        PermissionDeniedError: an OS image from a tenant, or an app without a tenant.
        UntrustedImageSignatureError: no registered key, or the signature fails.
        ConflictError: an image with this ``image_id`` exists.
    """
    try:
        header = _verified_header(session, principal, store, stored)
        image = _record_image(session, clock, principal, header, stored)
    except BaseException:
        session.rollback()
        _delete_unreferenced(session, store, stored.sha256)
        raise
    return image


def _verified_header(
    session: Session, principal: Principal, store: ArtifactStore, stored: StoredArtifact
) -> PackageHeader:
    try:
        header = parse_package_header(store.read_head(stored.sha256, MAX_HEADER_BYTES))
    except PackageFormatError as err:
        raise InvalidImagePackageError(f"not a valid image package: {err}") from err
    manifest = header.manifest
    if manifest.type is ImageType.OS:
        if not principal.is_platform_administrator:
            raise PermissionDeniedError(
                "only the platform administrator uploads OS images"
            )
        tenant_id = None
    else:
        if Permission.WRITE not in principal.permissions:
            raise PermissionDeniedError(
                "this token's role does not allow uploading apps"
            )
        tenant_id = principal.require_tenant()
    key = signing_keys.find_key(session, tenant_id, manifest.signing_key_id)
    if key is None:
        owner = "the platform" if tenant_id is None else "this tenant"
        raise UntrustedImageSignatureError(
            f"the package is signed by a key not registered for {owner}"
        )
    try:
        image_signing.verify_manifest(
            image_signing.load_public_key_pem(key.public_key_pem),
            header.manifest_bytes,
            header.signature,
        )
    except ImageSignatureError as err:
        raise UntrustedImageSignatureError(str(err)) from err
    if stored.size_bytes != header.package_bytes:
        raise InvalidImagePackageError(
            f"the package is {stored.size_bytes} bytes; its manifest says "
            f"{header.package_bytes}"
        )
    digest = hashlib.sha256()
    for chunk in store.open_range(
        stored.sha256, header.payload_offset, stored.size_bytes
    ):
        digest.update(chunk)
    if digest.hexdigest() != manifest.payload_sha256:
        raise InvalidImagePackageError(
            "the payload's SHA-256 differs from the manifest"
        )
    return header


def _record_image(
    session: Session,
    clock: Clock,
    principal: Principal,
    header: PackageHeader,
    stored: StoredArtifact,
) -> Image:
    manifest = header.manifest
    if session.get(Image, manifest.image_id) is not None:
        raise ConflictError("an image with this image_id was already uploaded")
    tenant_id = None if manifest.type is ImageType.OS else principal.require_tenant()
    image = Image(
        id=manifest.image_id,
        tenant_id=tenant_id,
        component_id=manifest.component_id,
        kind=manifest.type.value,
        name=manifest.name,
        version=manifest.version,
        version_key=version_sort_key(manifest.version),
        security_version=manifest.security_version,
        sha256=stored.sha256,
        size_bytes=stored.size_bytes,
        payload_sha256=manifest.payload_sha256,
        payload_bytes=manifest.payload_bytes,
        entry_point=manifest.entry_point,
        capabilities=list(manifest.capabilities or ()),
        signing_key_id=manifest.signing_key_id,
        manifest_json=header.manifest_bytes.decode("utf-8"),
        uploaded_at=clock.now(),
        uploaded_by=principal.token_id,
        downloads=0,
    )
    session.add(image)
    audit.record(
        session=session,
        clock=clock,
        principal=principal,
        tenant_id=tenant_id,
        action="image.upload",
        target_type="image",
        target_id=image.id,
        details={
            "kind": image.kind,
            "name": image.name,
            "version": image.version,
            "sha256": image.sha256,
            "signing_key_id": image.signing_key_id,
        },
    )
    try:
        session.commit()
    except IntegrityError as err:
        raise ConflictError("an image with this image_id was already uploaded") from err
    return image


def _delete_unreferenced(session: Session, store: ArtifactStore, sha256: str) -> None:
    referenced = session.scalars(
        select(Image.id).where(Image.sha256 == sha256).limit(1)
    ).first()
    if referenced is None:
        store.delete(sha256)


def _visible_to(principal: Principal) -> ColumnElement[bool]:
    tenant_id = principal.require_tenant()
    return or_(
        Image.tenant_id == tenant_id,
        and_(Image.tenant_id.is_(None), Image.kind == ImageType.OS.value),
    )


def list_images(
    *,
    session: Session,
    principal: Principal,
    kind: ImageType | None,
    after_id: str | None,
    limit: int,
) -> Sequence[Image]:
    """The tenant's app images and every platform OS image, in ID order."""
    query = select(Image).where(_visible_to(principal))
    if kind is not None:
        query = query.where(Image.kind == kind.value)
    if after_id is not None:
        query = query.where(Image.id > after_id)
    return session.scalars(query.order_by(Image.id).limit(limit)).all()


def get_visible_image(
    *, session: Session, principal: Principal, image_id: str
) -> Image:
    """An image the caller's tenant may use (its own app image, or an OS image).

    Raises:
        NotFoundError: no such image, or another tenant's.
    """
    image = session.scalars(
        select(Image).where(Image.id == image_id, _visible_to(principal))
    ).first()
    if image is None:
        raise NotFoundError("no image has this ID")
    return image


def get_image_by_sha256(
    *, session: Session, tenant_id: str | None, sha256: str
) -> Image | None:
    """An image with these package bytes that ``tenant_id`` may use (or None).

    With ``tenant_id`` None only platform OS images are searched.
    """
    owner = (
        Image.tenant_id.is_(None)
        if tenant_id is None
        else or_(Image.tenant_id == tenant_id, Image.tenant_id.is_(None))
    )
    return session.scalars(
        select(Image).where(Image.sha256 == sha256, owner).order_by(Image.id).limit(1)
    ).first()
