"""Metadata that waits for offline keys: prepare, show, collect signatures, publish.

The image repository's root and top-level targets keys may be offline
(docs/updates.md §4). Whatever needs their signature is prepared here as *pending*
(``TufPendingMetadata``: one per repository and role, with the signatures the
service could add itself), shown by ``GET /update-keys/pending`` and signed by the
operator with ``sevenfold update-key sign``. A signature is accepted only from a
key the pending version needs and only if it verifies over the canonical signed
bytes; a root needs a threshold of the previous root's root keys and of its own
(TUF specification §5.3.4, ``Root.get_root_verification_result``), a top-level
targets a threshold of the targets keys of the root it will be published under
(the pending root if one waits, else the published one).

Pending root and targets of a repository are published together, once every one of
them is fully signed: a new root may name a new targets key, which only the pending
targets is signed with. Until then the published versions stay in force (a pending
version that is never signed changes nothing). On publication, the keys the new
metadata introduces become active, the ones it dropped are revoked (their sealed
private keys deleted when an offline key replaces them), and snapshot and timestamp
(and ``images``, if its key changed) are re-signed online.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from securesystemslib.exceptions import UnverifiedSignatureError
from securesystemslib.signer import Key, Signature
from sqlalchemy import select
from sqlalchemy.orm import Session
from tuf.api.metadata import Metadata, Root, Targets

from sevenfold.service.ca.key_encryption_key import KeyEncryptionKey
from sevenfold.service.updates import image_repository, metadata_store, signing_keys
from sevenfold.service.updates.errors import (
    InvalidMetadataSignatureError,
    NoPendingMetadataError,
    StalePendingMetadataError,
    UnexpectedSigningKeyError,
)
from sevenfold.service.updates.image_repository import ImageChainRequest
from sevenfold.service.updates.models import TufPendingMetadata, TufSigningKey
from sevenfold.service.updates.signing_keys import Repository, TufRole

PENDING_ORDER = (TufRole.ROOT, TufRole.TARGETS)


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingView:
    """A pending version as the operator sees it before signing."""

    repository: Repository
    role: TufRole
    version: int
    expires_at: datetime
    metadata: dict[str, Any]
    signed_bytes: bytes
    current: dict[str, Any] | None
    signed_keyids: list[str]
    missing_keyids: list[str]


def pending_rows(session: Session, tenant_id: str) -> list[TufPendingMetadata]:
    """Every pending version of a tenant (root before targets)."""
    query = select(TufPendingMetadata).where(TufPendingMetadata.tenant_id == tenant_id)
    rows = list(session.scalars(query))
    return sorted(
        rows, key=lambda row: (row.repository, PENDING_ORDER.index(TufRole(row.role)))
    )


def _published_root(
    session: Session, tenant_id: str, repository: Repository
) -> Metadata[Root]:
    row = metadata_store.latest_row(
        session, tenant_id=tenant_id, repository=repository, role=TufRole.ROOT
    )
    if row is None:
        raise NoPendingMetadataError(f"the {repository.value} repository has no root")
    return metadata_store.parse_root(row)


def _verifying_root(session: Session, tenant_id: str, repository: Repository) -> Root:
    """The root a pending targets will be published under."""
    pending = metadata_store.pending_row(session, tenant_id, repository, TufRole.ROOT)
    if pending is not None:
        return metadata_store.parse_root(pending).signed
    return _published_root(session, tenant_id, repository).signed


def _verification(
    session: Session, tenant_id: str, row: TufPendingMetadata
) -> tuple[dict[str, Key], dict[str, Key], bool]:
    """(keys that signed, keys that may still sign, threshold met) of a pending
    version, the signatures checked over its canonical bytes."""
    repository = Repository(row.repository)
    metadata = metadata_store.parse_pending(row)
    payload = metadata.signed_bytes
    if TufRole(row.role) is TufRole.ROOT:
        new_root = metadata_store.parse_root(row).signed
        previous = _published_root(session, tenant_id, repository).signed
        both = new_root.get_root_verification_result(
            previous, payload, metadata.signatures
        )
        unsigned: dict[str, Key] = {}
        for part in (both.first, both.second):
            if not part.verified:
                unsigned |= part.unsigned
        return both.signed, unsigned, both.verified
    root = _verifying_root(session, tenant_id, repository)
    result = root.get_verification_result(
        TufRole.TARGETS.value, payload, metadata.signatures
    )
    return result.signed, ({} if result else result.unsigned), result.verified


def _view(session: Session, tenant_id: str, row: TufPendingMetadata) -> PendingView:
    repository = Repository(row.repository)
    role = TufRole(row.role)
    metadata = metadata_store.parse_pending(row)
    signed, unsigned, _ = _verification(session, tenant_id, row)
    published = metadata_store.latest_row(
        session, tenant_id=tenant_id, repository=repository, role=role
    )
    current = (
        Metadata.from_bytes(published.content).signed.to_dict()
        if published is not None
        else None
    )
    return PendingView(
        repository=repository,
        role=role,
        version=row.version,
        expires_at=metadata.signed.expires,
        metadata=metadata.to_dict(),
        signed_bytes=metadata.signed_bytes,
        current=current,
        signed_keyids=sorted(signed),
        missing_keyids=sorted(unsigned),
    )


def list_pending(session: Session, tenant_id: str) -> list[PendingView]:
    """What waits for offline signatures, with who still has to sign."""
    return [_view(session, tenant_id, row) for row in pending_rows(session, tenant_id)]


def _signing_keys_of(
    session: Session, tenant_id: str, row: TufPendingMetadata
) -> dict[str, Key]:
    """Every key whose signature counts for a pending version."""
    repository = Repository(row.repository)
    if TufRole(row.role) is TufRole.ROOT:
        new_root = metadata_store.parse_root(row).signed
        previous = _published_root(session, tenant_id, repository).signed
        keys = {keyid: previous.keys[keyid] for keyid in previous.roles["root"].keyids}
        keys |= {keyid: new_root.keys[keyid] for keyid in new_root.roles["root"].keyids}
        return keys
    root = _verifying_root(session, tenant_id, repository)
    return {keyid: root.keys[keyid] for keyid in root.roles["targets"].keyids}


def add_signature(
    *,
    session: Session,
    kek: KeyEncryptionKey,
    tenant_id: str,
    repository: Repository,
    role: TufRole,
    version: int,
    signature: Signature,
    now: datetime,
) -> bool:
    """Add an operator's signature to a pending version; publish the repository's
    pending versions once all are fully signed. Returns whether it published. The
    caller commits.

    Raises:
        NoPendingMetadataError: nothing of that repository and role is pending.
        StalePendingMetadataError: the pending version is another one.
        UnexpectedSigningKeyError: the key is not one the version needs.
        InvalidMetadataSignatureError: the signature does not verify.
    """
    row = metadata_store.pending_row(session, tenant_id, repository, role)
    if row is None:
        raise NoPendingMetadataError(
            f"no {repository.value} {role.value} metadata waits for a signature"
        )
    if row.version != version:
        raise StalePendingMetadataError(
            f"the pending {repository.value} {role.value} is version {row.version}, "
            f"not {version}"
        )
    key = _signing_keys_of(session, tenant_id, row).get(signature.keyid)
    if key is None:
        raise UnexpectedSigningKeyError(
            f"key {signature.keyid[:16]} is not a {role.value} key of this version"
        )
    metadata = metadata_store.parse_pending(row)
    try:
        key.verify_signature(signature, metadata.signed_bytes)
    except UnverifiedSignatureError as err:
        raise InvalidMetadataSignatureError(
            f"the signature by key {signature.keyid[:16]} does not verify over "
            f"{repository.value} {role.value} version {version}"
        ) from err
    metadata.signatures[signature.keyid] = signature
    row.content = metadata_store.serialized(metadata)
    return publish_if_complete(
        session=session, kek=kek, tenant_id=tenant_id, repository=repository, now=now
    )


def publish_if_complete(
    *,
    session: Session,
    kek: KeyEncryptionKey,
    tenant_id: str,
    repository: Repository,
    now: datetime,
) -> bool:
    """Publish a repository's pending versions if every one is fully signed."""
    session.flush()
    rows = [
        row
        for row in pending_rows(session, tenant_id)
        if row.repository == repository.value
    ]
    if not rows or not all(_verification(session, tenant_id, row)[2] for row in rows):
        return False
    for row in rows:
        published = metadata_store.latest_row(
            session,
            tenant_id=tenant_id,
            repository=repository,
            role=TufRole(row.role),
        )
        if published is not None and published.version >= row.version:
            raise StalePendingMetadataError(
                f"{repository.value} {row.role} version {published.version} was "
                f"published meanwhile; prepare the change again"
            )
    for row in rows:
        metadata_store.store(
            session,
            tenant_id=tenant_id,
            repository=repository,
            role=TufRole(row.role),
            metadata=metadata_store.parse_pending(row),
        )
    for row in rows:
        session.delete(row)
    changed = _activate_published_keys(session, tenant_id, repository, now)
    if repository is Repository.IMAGE:
        image_repository.ensure_current(
            session=session,
            kek=kek,
            tenant_id=tenant_id,
            now=now,
            request=ImageChainRequest(
                redelegate=TufRole.TARGETS in changed
                and not _offline(session, tenant_id, repository, TufRole.TARGETS),
                resign_images=TufRole.IMAGES in changed,
                resign_snapshot=True,
                resign_timestamp=True,
            ),
        )
    return True


def _offline(
    session: Session, tenant_id: str, repository: Repository, role: TufRole
) -> bool:
    row = signing_keys.active_key(
        session=session, tenant_id=tenant_id, repository=repository, role=role
    )
    return row is not None and signing_keys.is_offline(row)


def _listed_keyids(
    session: Session, tenant_id: str, repository: Repository
) -> dict[TufRole, set[str]]:
    """The key IDs the published root (and the ``images`` delegation) name."""
    root = _published_root(session, tenant_id, repository).signed
    listed = {
        TufRole(name): set(role.keyids)
        for name, role in root.roles.items()
        if name in {role.value for role in signing_keys.TOP_LEVEL_ROLES}
    }
    targets_row = metadata_store.latest_row(
        session, tenant_id=tenant_id, repository=repository, role=TufRole.TARGETS
    )
    if targets_row is not None:
        targets: Targets = metadata_store.parse_targets(targets_row).signed
        delegations = targets.delegations
        if delegations is not None and delegations.roles is not None:
            images = delegations.roles.get(TufRole.IMAGES.value)
            if images is not None:
                listed[TufRole.IMAGES] = set(images.keyids)
    return listed


def _activate_published_keys(
    session: Session, tenant_id: str, repository: Repository, now: datetime
) -> set[TufRole]:
    """Make the keys the published metadata names active and revoke the ones it
    dropped; an offline key's predecessors lose their sealed private key. Returns
    the roles whose key changed."""
    session.flush()
    listed = _listed_keyids(session, tenant_id, repository)
    query = select(TufSigningKey).where(
        TufSigningKey.tenant_id == tenant_id,
        TufSigningKey.repository == repository.value,
        TufSigningKey.revoked_at.is_(None),
    )
    rows = list(session.scalars(query))
    changed: set[TufRole] = set()
    for row in rows:
        role = TufRole(row.role)
        if role not in listed:
            continue
        if row.keyid in listed[role]:
            if row.pending:
                row.pending = False
                changed.add(role)
        elif not row.pending:
            row.revoked_at = now
            changed.add(role)
    for row in rows:
        role = TufRole(row.role)
        replaced = row.revoked_at is not None and role in changed
        if replaced and _offline(session, tenant_id, repository, role):
            signing_keys.forget_private_key(row)
    return changed
