"""Operator routes of updates: check-now, a device's update status, update keys
and offline signing (docs/updates.md §4)."""

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, status
from securesystemslib.signer import Signature

from sevenfold.crypto.device_ids import normalize_device_id
from sevenfold.crypto.errors import InvalidDeviceIdError
from sevenfold.service.api.deps import (
    CanManageAccess,
    CanRead,
    CanWrite,
    ClockDep,
    SessionDep,
    app_state,
)
from sevenfold.service.audit import service as audit
from sevenfold.service.ca.key_encryption_key import KeyEncryptionKey
from sevenfold.service.errors import InvalidRequestError
from sevenfold.service.updates import key_rotation, offline_keys, offline_signing
from sevenfold.service.updates import status as update_status
from sevenfold.service.updates.offline_signing import PendingView
from sevenfold.service.updates.schemas import (
    CheckRequestOut,
    ImageRef,
    KeyRotationIn,
    KeyRotationOut,
    MetadataSignatureIn,
    MetadataSignatureOut,
    PendingMetadataListOut,
    PendingMetadataOut,
    TakeOfflineIn,
    UpdateKeyOut,
    UpdateKeysOut,
    UpdateRepositoryOut,
    UpdateStatusOut,
)
from sevenfold.service.updates.signing_keys import (
    is_offline,
    public_key,
    require_kek,
)

router = APIRouter(tags=["updates"])

DeviceIdPath = Annotated[
    str, Path(min_length=128, max_length=128, pattern=r"^[0-9a-fA-F]+$")
]


async def _kek(request: Request) -> KeyEncryptionKey | None:
    return app_state(request).key_encryption_key


KekDep = Annotated[KeyEncryptionKey | None, Depends(_kek)]


def _canonical(device_id: str) -> str:
    try:
        return normalize_device_id(device_id)
    except InvalidDeviceIdError as err:
        raise InvalidRequestError(str(err)) from err


@router.post(
    "/devices/{device_id}/update-check-requests",
    response_model=CheckRequestOut,
    status_code=status.HTTP_202_ACCEPTED,
)
def request_update_check(
    device_id: DeviceIdPath, session: SessionDep, clock: ClockDep, principal: CanWrite
) -> CheckRequestOut:
    """Ask a device to check for updates now (told in its next status report)."""
    canonical = _canonical(device_id)
    requested_at = update_status.request_check(
        session=session, clock=clock, principal=principal, device_id=canonical
    )
    return CheckRequestOut(device_id=canonical, check_requested_at=requested_at)


@router.get("/devices/{device_id}/update-status", response_model=UpdateStatusOut)
def show_update_status(
    device_id: DeviceIdPath, session: SessionDep, principal: CanRead
) -> UpdateStatusOut:
    """What a device reports running and what the director targets it with."""
    view = update_status.update_status(
        session=session, principal=principal, device_id=_canonical(device_id)
    )
    report, targets = view.status, view.director
    return UpdateStatusOut(
        device_id=view.device_id,
        state=report.state if report else None,
        os_version=report.os_version if report else None,
        installed=[ImageRef(**image) for image in report.installed] if report else [],
        targeted=[ImageRef(**image) for image in targets.targeted] if targets else [],
        reported_targeted=(
            [ImageRef(**image) for image in report.reported_targeted] if report else []
        ),
        detail=report.detail if report else None,
        reported_at=report.reported_at if report else None,
        last_check_at=report.last_check_at if report else None,
        check_requested_at=report.check_requested_at if report else None,
        director_targets_version=targets.targets_version if targets else None,
    )


@router.get("/update-keys", response_model=UpdateKeysOut)
def list_update_keys(
    session: SessionDep, clock: ClockDep, kek: KekDep, principal: CanRead
) -> UpdateKeysOut:
    """The public TUF keys of the tenant's image repository and director."""
    repositories = key_rotation.list_update_keys(
        session=session, clock=clock, kek=kek, principal=principal
    )
    return UpdateKeysOut(
        repositories=[
            UpdateRepositoryOut(
                repository=repository.repository.value,
                root_version=repository.root_version,
                keys=[
                    UpdateKeyOut(
                        repository=row.repository,
                        role=row.role,
                        keyid=row.keyid,
                        public_key=public_key(row).to_dict(),
                        offline=is_offline(row),
                        pending=row.pending,
                        created_at=row.created_at,
                        revoked_at=row.revoked_at,
                    )
                    for row in repository.keys
                ],
                warnings=repository.warnings,
            )
            for repository in repositories
        ]
    )


def _rotation_out(
    rotation: key_rotation.Rotation | offline_keys.OfflineMove,
) -> KeyRotationOut:
    return KeyRotationOut(
        repository=rotation.repository.value,
        role=rotation.role.value,
        old_keyid=rotation.old_keyid,
        new_keyid=rotation.new_keyid,
        root_version=rotation.root_version,
        published=rotation.published,
    )


@router.post("/update-keys/rotate", response_model=KeyRotationOut)
def rotate_update_key(
    body: KeyRotationIn,
    session: SessionDep,
    clock: ClockDep,
    kek: KekDep,
    principal: CanManageAccess,
) -> KeyRotationOut:
    """Replace one TUF role key (tenant administrators): a new root lists it, the old
    key is revoked and the role is re-signed."""
    rotation = key_rotation.rotate_key(
        session=session,
        clock=clock,
        kek=kek,
        principal=principal,
        repository=body.repository,
        role=body.role,
    )
    return _rotation_out(rotation)


@router.post("/update-keys/take-offline", response_model=KeyRotationOut)
def take_update_key_offline(
    body: TakeOfflineIn,
    session: SessionDep,
    clock: ClockDep,
    kek: KekDep,
    principal: CanManageAccess,
) -> KeyRotationOut:
    """Move the image repository's root or targets role to an operator-held key:
    prepares the new root (and targets) as pending until that key signs them."""
    moved = offline_keys.take_offline(
        session=session,
        clock=clock,
        kek=kek,
        principal=principal,
        repository=body.repository,
        role=body.role,
        public_key_pem=body.public_key_pem,
    )
    return _rotation_out(moved)


def _pending_out(view: PendingView) -> PendingMetadataOut:
    return PendingMetadataOut(
        repository=view.repository.value,
        role=view.role.value,
        version=view.version,
        expires=view.expires_at,
        metadata=view.metadata,
        signed_bytes=base64.b64encode(view.signed_bytes).decode(),
        current=view.current,
        signed_keyids=view.signed_keyids,
        missing_keyids=view.missing_keyids,
    )


@router.get("/update-keys/pending", response_model=PendingMetadataListOut)
def list_pending_metadata(
    session: SessionDep, principal: CanRead
) -> PendingMetadataListOut:
    """Metadata waiting for offline signatures, with the keys still needed."""
    views = offline_signing.list_pending(session, principal.require_tenant())
    return PendingMetadataListOut(pending=[_pending_out(view) for view in views])


@router.post("/update-keys/pending/signatures", response_model=MetadataSignatureOut)
def sign_pending_metadata(
    body: MetadataSignatureIn,
    session: SessionDep,
    clock: ClockDep,
    kek: KekDep,
    principal: CanManageAccess,
) -> MetadataSignatureOut:
    """Add an offline key's signature; publishes once every pending version of
    the repository is fully signed."""
    tenant_id = principal.require_tenant()
    published = offline_signing.add_signature(
        session=session,
        kek=require_kek(kek),
        tenant_id=tenant_id,
        repository=body.repository,
        role=body.role,
        version=body.version,
        signature=Signature(body.keyid, body.signature),
        now=clock.now(),
    )
    audit.record(
        session=session,
        clock=clock,
        principal=principal,
        tenant_id=tenant_id,
        action="update-key.sign",
        target_type="update-key",
        target_id=body.keyid,
        details={
            "repository": body.repository.value,
            "role": body.role.value,
            "version": body.version,
            "published": published,
        },
    )
    session.commit()
    views = offline_signing.list_pending(session, tenant_id)
    return MetadataSignatureOut(
        published=published, pending=[_pending_out(view) for view in views]
    )
