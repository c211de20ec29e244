"""Rotating a TUF role key of a tenant's repository (recovery through the root), and
listing the keys (moving a role to an offline key: ``offline_keys.py``).

The new root (version + 1) lists the new key instead of the old one. A new root key
signs with the old AND the new root key, so devices holding the old root accept it
and the new one then verifies alone; any other rotation is signed by the current
root key. The old key is revoked, and the affected role is re-signed with the new
key at once (image repository) or on each device's next check (director: its
digest includes the online key IDs). Rotating ``images`` (the image repository's
delegated role) changes the delegation in top-level targets instead of the root.

When a signature the change needs is offline (the root key for a new root, the
targets key for a new delegation), the change is prepared as pending and published
once the operator signs it (``offline_signing.py``); until then nothing changes.

This is how a compromised online key is recovered from: after the timestamp key is
rotated, a timestamp an attacker fast-forwarded to a high version no longer verifies
under the new root, so ngclient stops using it as the rollback reference and
accepts the service's lower versions again.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from securesystemslib.signer import SSlibKey
from sqlalchemy import select
from sqlalchemy.orm import Session
from tuf.api.metadata import Metadata, Root

from sevenfold.protocol.clock import Clock
from sevenfold.service.access.principal import Principal
from sevenfold.service.audit import service as audit
from sevenfold.service.ca.key_encryption_key import KeyEncryptionKey
from sevenfold.service.errors import InvalidRequestError, ServiceError
from sevenfold.service.updates import (
    image_repository,
    metadata_store,
    offline_signing,
    signing_keys,
)
from sevenfold.service.updates.errors import RoleOfflineError
from sevenfold.service.updates.image_repository import ImageChainRequest
from sevenfold.service.updates.metadata_store import ROOT_LIFETIME
from sevenfold.service.updates.models import TufSigningKey
from sevenfold.service.updates.signing_keys import (
    OFFLINE_CAPABLE_ROLES,
    Repository,
    TufRole,
)

EXPIRY_WARNING = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Rotation:
    """What a rotation did: published at once, or prepared as pending."""

    repository: Repository
    role: TufRole
    old_keyid: str
    new_keyid: str
    root_version: int
    published: bool


def rotate_key(
    *,
    session: Session,
    clock: Clock,
    kek: KeyEncryptionKey | None,
    principal: Principal,
    repository: Repository,
    role: TufRole,
) -> Rotation:
    """Replace a role's key with a new online key; publish the new root (or
    delegation) and re-sign, or prepare it as pending when an offline key must
    sign. Commits, audited.

    Raises:
        RoleOfflineError: the role's own key is offline (take-offline moves it).
        InvalidRequestError: ``images`` of the director.
    """
    tenant_id = principal.require_tenant()
    wrapping_key = signing_keys.require_kek(kek)
    now = clock.now()
    if role is TufRole.IMAGES and repository is not Repository.IMAGE:
        raise InvalidRequestError("only the image repository has an images role")
    bring_up_to_date(session, wrapping_key, tenant_id, repository, now)
    old_row = active_role_key(session, tenant_id, repository, role)
    if signing_keys.is_offline(old_row):
        raise RoleOfflineError(
            f"the {repository.value} repository's {role.value} key is offline: move "
            f"it to a new offline key with `sevenfold update-key take-offline "
            f"--repository {repository.value} --role {role.value} --key-out FILE`"
        )
    if role is TufRole.IMAGES:
        rotation = _rotate_images(session, wrapping_key, tenant_id, old_row, now)
    else:
        rotation = _rotate_in_root(
            session, wrapping_key, tenant_id, repository, role, old_row, now
        )
    audit.record(
        session=session,
        clock=clock,
        principal=principal,
        tenant_id=tenant_id,
        action="update-key.rotate",
        target_type="update-key",
        target_id=rotation.new_keyid,
        details={
            "repository": repository.value,
            "role": role.value,
            "old_keyid": old_row.keyid,
            "root_version": rotation.root_version,
            "published": rotation.published,
        },
    )
    session.commit()
    return rotation


def bring_up_to_date(
    session: Session,
    kek: KeyEncryptionKey,
    tenant_id: str,
    repository: Repository,
    now: datetime,
) -> None:
    metadata_store.ensure_root(
        session=session, kek=kek, tenant_id=tenant_id, repository=repository, now=now
    )
    if repository is Repository.IMAGE:
        image_repository.ensure_current(
            session=session, kek=kek, tenant_id=tenant_id, now=now
        )


def active_role_key(
    session: Session, tenant_id: str, repository: Repository, role: TufRole
) -> TufSigningKey:
    row = signing_keys.active_key(
        session=session, tenant_id=tenant_id, repository=repository, role=role
    )
    if row is None:
        raise ServiceError(f"the {repository.value} repository has no {role} key")
    return row


def drop_stale_pending_keys(
    session: Session,
    tenant_id: str,
    repository: Repository,
    role: TufRole,
    now: datetime,
) -> None:
    """A new preparation replaces the pending one: the keys that one introduced
    will never be published."""
    query = select(TufSigningKey).where(
        TufSigningKey.tenant_id == tenant_id,
        TufSigningKey.repository == repository.value,
        TufSigningKey.role == role.value,
        TufSigningKey.pending.is_(True),
        TufSigningKey.revoked_at.is_(None),
    )
    for row in session.scalars(query):
        row.revoked_at = now


def _rotate_images(
    session: Session,
    kek: KeyEncryptionKey,
    tenant_id: str,
    old_row: TufSigningKey,
    now: datetime,
) -> Rotation:
    """A new ``images`` key: a new top-level targets delegates to it (signed at
    once by an online targets key, else pending for the offline one)."""
    repository = Repository.IMAGE
    targets_key = active_role_key(session, tenant_id, repository, TufRole.TARGETS)
    waiting = metadata_store.pending_row(
        session, tenant_id, repository, TufRole.TARGETS
    )
    direct = not signing_keys.is_offline(targets_key) and waiting is None
    drop_stale_pending_keys(session, tenant_id, repository, TufRole.IMAGES, now)
    new_row = signing_keys.create_key(
        session=session,
        kek=kek,
        tenant_id=tenant_id,
        repository=repository,
        role=TufRole.IMAGES,
        now=now,
        pending=not direct,
    )
    if direct:
        old_row.revoked_at = now
        image_repository.ensure_current(
            session=session,
            kek=kek,
            tenant_id=tenant_id,
            now=now,
            request=ImageChainRequest(
                redelegate=True,
                resign_images=True,
                resign_snapshot=True,
                resign_timestamp=True,
            ),
        )
    else:
        image_repository.prepare_pending_targets(
            session,
            tenant_id=tenant_id,
            targets=image_repository.delegating_targets(new_row),
            now=now,
        )
    root_version = _root_version(session, tenant_id, repository)
    return Rotation(
        repository, TufRole.IMAGES, old_row.keyid, new_row.keyid, root_version, direct
    )


def _root_version(session: Session, tenant_id: str, repository: Repository) -> int:
    row = metadata_store.latest_row(
        session, tenant_id=tenant_id, repository=repository, role=TufRole.ROOT
    )
    return row.version if row is not None else 0


def successor_with_key(
    session: Session,
    tenant_id: str,
    repository: Repository,
    role: TufRole,
    key: SSlibKey,
    now: datetime,
) -> Metadata[Root]:
    """The next root (built on a pending one) naming ``key`` alone for ``role``."""
    successor = metadata_store.successor_root(
        session, tenant_id=tenant_id, repository=repository, now=now
    )
    root = successor.signed
    for keyid in list(root.roles[role.value].keyids):
        root.revoke_key(keyid, role.value)
    root.add_key(key, role.value)
    return successor


def _rotate_in_root(
    session: Session,
    kek: KeyEncryptionKey,
    tenant_id: str,
    repository: Repository,
    role: TufRole,
    old_row: TufSigningKey,
    now: datetime,
) -> Rotation:
    root_row = active_role_key(session, tenant_id, repository, TufRole.ROOT)
    waiting = metadata_store.pending_row(session, tenant_id, repository, TufRole.ROOT)
    if signing_keys.is_offline(root_row) or waiting is not None:
        return _rotate_through_pending_root(
            session, kek, tenant_id, repository, role, old_row, now
        )
    current = metadata_store.ensure_root(
        session=session, kek=kek, tenant_id=tenant_id, repository=repository, now=now
    )
    old_signer = signing_keys.signer_for(old_row, kek)
    root_signer = signing_keys.signer_for(root_row, kek)
    new_row = signing_keys.create_key(
        session=session,
        kek=kek,
        tenant_id=tenant_id,
        repository=repository,
        role=role,
        now=now,
    )
    old_row.revoked_at = now
    root = current.signed
    root.revoke_key(old_row.keyid, role.value)
    root.add_key(signing_keys.public_key(new_row), role.value)
    root.version += 1
    root.expires = metadata_store.expiry(now, ROOT_LIFETIME)
    new_root = Metadata(root)
    if role is TufRole.ROOT:
        new_root.sign(old_signer)
        new_root.sign(signing_keys.signer_for(new_row, kek), append=True)
    else:
        new_root.sign(root_signer)
    metadata_store.store(
        session,
        tenant_id=tenant_id,
        repository=repository,
        role=TufRole.ROOT,
        metadata=new_root,
    )
    if repository is Repository.IMAGE and role is not TufRole.ROOT:
        image_repository.ensure_current(
            session=session,
            kek=kek,
            tenant_id=tenant_id,
            now=now,
            request=ImageChainRequest(
                redelegate=role is TufRole.TARGETS,
                resign_snapshot=role in (TufRole.TARGETS, TufRole.SNAPSHOT),
                resign_timestamp=True,
            ),
        )
    return Rotation(repository, role, old_row.keyid, new_row.keyid, root.version, True)


def _rotate_through_pending_root(
    session: Session,
    kek: KeyEncryptionKey,
    tenant_id: str,
    repository: Repository,
    role: TufRole,
    old_row: TufSigningKey,
    now: datetime,
) -> Rotation:
    """A new online key named by a root that waits for an offline signature (or
    joins a root already waiting)."""
    drop_stale_pending_keys(session, tenant_id, repository, role, now)
    new_row = signing_keys.create_key(
        session=session,
        kek=kek,
        tenant_id=tenant_id,
        repository=repository,
        role=role,
        now=now,
        pending=True,
    )
    successor = stage_pending_root(
        session, kek, tenant_id, repository, role, signing_keys.public_key(new_row), now
    )
    published = offline_signing.publish_if_complete(
        session=session, kek=kek, tenant_id=tenant_id, repository=repository, now=now
    )
    return Rotation(
        repository,
        role,
        old_row.keyid,
        new_row.keyid,
        successor.signed.version,
        published,
    )


def stage_pending_root(
    session: Session,
    kek: KeyEncryptionKey,
    tenant_id: str,
    repository: Repository,
    role: TufRole,
    key: SSlibKey,
    now: datetime,
) -> Metadata[Root]:
    """The root naming ``key`` for ``role``, signed by every online root key it
    needs and stored as pending until the offline keys sign it too."""
    successor = successor_with_key(session, tenant_id, repository, role, key, now)
    sign_with_online_root_keys(session, kek, tenant_id, repository, successor)
    metadata_store.store_pending(
        session,
        tenant_id=tenant_id,
        repository=repository,
        role=TufRole.ROOT,
        metadata=successor,
        now=now,
    )
    return successor


def sign_with_online_root_keys(
    session: Session,
    kek: KeyEncryptionKey,
    tenant_id: str,
    repository: Repository,
    root: Metadata[Root],
) -> None:
    """Add the signatures of every online root key a new root needs (the
    published root's and its own)."""
    published = metadata_store.latest_row(
        session, tenant_id=tenant_id, repository=repository, role=TufRole.ROOT
    )
    keyids = set(root.signed.roles[TufRole.ROOT.value].keyids)
    if published is not None:
        previous = metadata_store.parse_root(published).signed
        keyids |= set(previous.roles[TufRole.ROOT.value].keyids)
    query = select(TufSigningKey).where(
        TufSigningKey.tenant_id == tenant_id,
        TufSigningKey.repository == repository.value,
        TufSigningKey.role == TufRole.ROOT.value,
        TufSigningKey.keyid.in_(sorted(keyids)),
        TufSigningKey.revoked_at.is_(None),
    )
    for row in session.scalars(query):
        if not signing_keys.is_offline(row):
            root.sign(signing_keys.signer_for(row, kek), append=True)


@dataclass(frozen=True, slots=True)
class RepositoryKeys:
    """A repository's current root version, every key it ever had, and warnings
    about offline roles whose metadata expires soon."""

    repository: Repository
    root_version: int
    keys: list[TufSigningKey]
    warnings: list[str]


def list_update_keys(
    *,
    session: Session,
    clock: Clock,
    kek: KeyEncryptionKey | None,
    principal: Principal,
) -> list[RepositoryKeys]:
    """The tenant's TUF keys per repository (made on first use, like the CA)."""
    tenant_id = principal.require_tenant()
    wrapping_key = signing_keys.require_kek(kek)
    now = clock.now()
    for repository in Repository:
        bring_up_to_date(session, wrapping_key, tenant_id, repository, now)
    session.commit()
    rows = signing_keys.keys_of_tenant(session, tenant_id)
    return [
        RepositoryKeys(
            repository=repository,
            root_version=_root_version(session, tenant_id, repository),
            keys=[row for row in rows if row.repository == repository.value],
            warnings=_expiry_warnings(session, tenant_id, repository, now),
        )
        for repository in Repository
    ]


def _expiry_warnings(
    session: Session, tenant_id: str, repository: Repository, now: datetime
) -> list[str]:
    """An offline role's metadata expiring within 30 days: only its key holder can
    sign the successor (the service prepared it as pending)."""
    warnings: list[str] = []
    for role in OFFLINE_CAPABLE_ROLES:
        key = signing_keys.active_key(
            session=session, tenant_id=tenant_id, repository=repository, role=role
        )
        if key is None or not signing_keys.is_offline(key):
            continue
        row = metadata_store.latest_row(
            session, tenant_id=tenant_id, repository=repository, role=role
        )
        if row is not None and row.expires_at - now < EXPIRY_WARNING:
            warnings.append(
                f"the {repository.value} repository's {role.value} (offline key) "
                f"version {row.version} expires at {row.expires_at.isoformat()}: "
                "sign the pending version with `sevenfold update-key sign`"
            )
    return warnings
