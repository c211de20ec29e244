"""Rotating a TUF role key of a tenant's repository (recovery through the root).

The new root (version + 1) lists the new key instead of the old one. A new root key
signs with the old AND the new root key, so devices holding the old root accept it
and the new one then verifies alone; any other rotation is signed by the current
root key. The old key is revoked, and the affected role is re-signed with the new
key at once (image repository) or on each device's next check (director: its
digest includes the online key IDs).

This is how a compromised online key is recovered from: after the timestamp key is
rotated, a timestamp an attacker fast-forwarded to a high version no longer verifies
under the new root, so ngclient stops using it as the rollback reference and
accepts the service's lower versions again.
"""

from dataclasses import dataclass

from sqlalchemy.orm import Session
from tuf.api.metadata import Metadata

from sevenfold.protocol.clock import Clock
from sevenfold.service.access.principal import Principal
from sevenfold.service.audit import service as audit
from sevenfold.service.ca.key_encryption_key import KeyEncryptionKey
from sevenfold.service.errors import ServiceError
from sevenfold.service.updates import image_repository, metadata_store, signing_keys
from sevenfold.service.updates.metadata_store import ROOT_LIFETIME, ChainRequest
from sevenfold.service.updates.models import TufSigningKey
from sevenfold.service.updates.signing_keys import Repository, TufRole


@dataclass(frozen=True, slots=True)
class Rotation:
    """What a rotation published."""

    repository: Repository
    role: TufRole
    old_keyid: str
    new_keyid: str
    root_version: int


def rotate_key(
    *,
    session: Session,
    clock: Clock,
    kek: KeyEncryptionKey | None,
    principal: Principal,
    repository: Repository,
    role: TufRole,
) -> Rotation:
    """Replace a role's key, publish the new root and re-sign; commits, audited."""
    tenant_id = principal.require_tenant()
    wrapping_key = signing_keys.require_kek(kek)
    now = clock.now()
    current = metadata_store.ensure_root(
        session=session,
        kek=wrapping_key,
        tenant_id=tenant_id,
        repository=repository,
        now=now,
    )
    old_row = signing_keys.active_key(
        session=session, tenant_id=tenant_id, repository=repository, role=role
    )
    if old_row is None:
        raise ServiceError(f"the {repository.value} repository has no {role} key")
    old_signer = signing_keys.signer_for(old_row, wrapping_key)
    root_signer = metadata_store.role_signer(
        session=session,
        kek=wrapping_key,
        tenant_id=tenant_id,
        repository=repository,
        role=TufRole.ROOT,
    )
    new_row = signing_keys.create_key(
        session=session,
        kek=wrapping_key,
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
        new_root.sign(signing_keys.signer_for(new_row, wrapping_key), append=True)
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
            kek=wrapping_key,
            tenant_id=tenant_id,
            now=now,
            request=ChainRequest(
                resign_targets=role is TufRole.TARGETS,
                resign_snapshot=role in (TufRole.TARGETS, TufRole.SNAPSHOT),
                resign_timestamp=True,
            ),
        )
    audit.record(
        session=session,
        clock=clock,
        principal=principal,
        tenant_id=tenant_id,
        action="update-key.rotate",
        target_type="update-key",
        target_id=new_row.keyid,
        details={
            "repository": repository.value,
            "role": role.value,
            "old_keyid": old_row.keyid,
            "root_version": root.version,
        },
    )
    session.commit()
    return Rotation(
        repository=repository,
        role=role,
        old_keyid=old_row.keyid,
        new_keyid=new_row.keyid,
        root_version=root.version,
    )


@dataclass(frozen=True, slots=True)
class RepositoryKeys:
    """A repository's current root version and every key it ever had."""

    repository: Repository
    root_version: int
    keys: list[TufSigningKey]


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
    roots = {
        repository: metadata_store.ensure_root(
            session=session,
            kek=wrapping_key,
            tenant_id=tenant_id,
            repository=repository,
            now=now,
        )
        for repository in Repository
    }
    session.commit()
    rows = signing_keys.keys_of_tenant(session, tenant_id)
    return [
        RepositoryKeys(
            repository=repository,
            root_version=root.signed.version,
            keys=[row for row in rows if row.repository == repository.value],
        )
        for repository, root in roots.items()
    ]
