"""Image-signing keys: tenant keys sign app images, platform keys sign OS images.

A key's ID is the SHA-256 of its raw public key, computed here; registering and
removing a key is audited (docs/updates.md §1).
"""

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from sevenfold.crypto import image_signing
from sevenfold.crypto.errors import InvalidImageSigningKeyError
from sevenfold.protocol.clock import Clock
from sevenfold.service.access.principal import Principal
from sevenfold.service.audit import service as audit
from sevenfold.service.errors import ConflictError, InvalidRequestError, NotFoundError
from sevenfold.service.images.models import ImageSigningKey


def add_signing_key(
    *,
    session: Session,
    clock: Clock,
    principal: Principal,
    name: str,
    pem: str,
    platform: bool,
) -> ImageSigningKey:
    """Register a tenant key (apps) or, with ``platform``, a platform key (OS)."""
    tenant_id = None if platform else principal.require_tenant()
    try:
        public_key = image_signing.load_public_key_pem(pem)
    except InvalidImageSigningKeyError as err:
        raise InvalidRequestError(str(err)) from err
    key_id = image_signing.key_id(public_key)
    if find_key(session, tenant_id, key_id) is not None:
        raise ConflictError("this image-signing key is already registered")
    key = ImageSigningKey(
        row_id=str(uuid.uuid4()),
        id=key_id,
        tenant_id=tenant_id,
        name=name,
        public_key_pem=image_signing.public_key_pem(public_key),
        created_at=clock.now(),
        created_by=principal.token_id,
    )
    session.add(key)
    _audit_key(session, clock, principal, "image-signing-key.add", key)
    session.commit()
    return key


def list_signing_keys(
    *, session: Session, principal: Principal, platform: bool
) -> Sequence[ImageSigningKey]:
    """The tenant's keys, or the platform's, oldest first."""
    tenant_id = None if platform else principal.require_tenant()
    condition = (
        ImageSigningKey.tenant_id.is_(None)
        if tenant_id is None
        else ImageSigningKey.tenant_id == tenant_id
    )
    return session.scalars(
        select(ImageSigningKey)
        .where(condition)
        .order_by(ImageSigningKey.created_at, ImageSigningKey.id)
    ).all()


def remove_signing_key(
    *, session: Session, clock: Clock, principal: Principal, key_id: str, platform: bool
) -> None:
    """Stop accepting packages signed by a key; images it signed stay."""
    tenant_id = None if platform else principal.require_tenant()
    key = find_key(session, tenant_id, key_id)
    if key is None:
        raise NotFoundError("no image-signing key has this ID")
    _audit_key(session, clock, principal, "image-signing-key.remove", key)
    session.delete(key)
    session.commit()


def find_key(
    session: Session, tenant_id: str | None, key_id: str
) -> ImageSigningKey | None:
    owner = (
        ImageSigningKey.tenant_id.is_(None)
        if tenant_id is None
        else ImageSigningKey.tenant_id == tenant_id
    )
    return session.scalars(
        select(ImageSigningKey).where(owner, ImageSigningKey.id == key_id)
    ).first()


def _audit_key(
    session: Session,
    clock: Clock,
    principal: Principal,
    action: str,
    key: ImageSigningKey,
) -> None:
    audit.record(
        session=session,
        clock=clock,
        principal=principal,
        tenant_id=key.tenant_id,
        action=action,
        target_type="image-signing-key",
        target_id=key.id,
        details={"name": key.name, "platform": key.tenant_id is None},
    )
