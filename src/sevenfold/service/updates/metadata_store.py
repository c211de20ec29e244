"""Signed TUF metadata in the database: roots, and the targets → snapshot → timestamp
chain of a repository (per tenant; per device for the director).

Every version is a ``TufMetadata`` row and versions only go up (the unique key
``tenant, repository, role, device, version`` refuses a second writer of the same
version, which then retries). Root versions are never deleted: a device that was
offline for a year walks ``N.root.json`` one by one (docs/updates.md §4).

Lifetimes: root 365 days (re-signed, same keys, once 60 days remain); targets 90
days (30); snapshot 7 days (3); timestamp 24 hours, re-signed with version + 1 once
fewer than 12 hours remain. A later link is re-signed whenever an earlier one is.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from securesystemslib.signer import Signer
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Signed,
    Snapshot,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from sevenfold.service.ca.key_encryption_key import KeyEncryptionKey
from sevenfold.service.errors import ServiceError
from sevenfold.service.updates import signing_keys
from sevenfold.service.updates.models import (
    TufMetadata,
    TufPendingMetadata,
    TufSigningKey,
)
from sevenfold.service.updates.signing_keys import (
    TOP_LEVEL_ROLES,
    Repository,
    TufRole,
)

ROOT_LIFETIME = timedelta(days=365)
ROOT_REFRESH_BEFORE = timedelta(days=60)
TARGETS_LIFETIME = timedelta(days=90)
TARGETS_REFRESH_BEFORE = timedelta(days=30)
SNAPSHOT_LIFETIME = timedelta(days=7)
SNAPSHOT_REFRESH_BEFORE = timedelta(days=3)
TIMESTAMP_LIFETIME = timedelta(hours=24)
TIMESTAMP_REFRESH_BEFORE = timedelta(hours=12)
NO_DEVICE = ""
"""``device_id`` of a per-tenant row (roots, the image repository)."""

_SERIALIZER = JSONSerializer(compact=True)


def expiry(now: datetime, lifetime: timedelta) -> datetime:
    """``now + lifetime`` in whole seconds (TUF dates carry no microseconds)."""
    return (now + lifetime).replace(microsecond=0)


def latest_row(
    session: Session,
    *,
    tenant_id: str,
    repository: Repository,
    role: TufRole,
    device_id: str = NO_DEVICE,
) -> TufMetadata | None:
    """The newest stored version of a role."""
    query = (
        select(TufMetadata)
        .where(
            TufMetadata.tenant_id == tenant_id,
            TufMetadata.repository == repository.value,
            TufMetadata.role == role.value,
            TufMetadata.device_id == device_id,
        )
        .order_by(TufMetadata.version.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def row_at(
    session: Session,
    *,
    tenant_id: str,
    repository: Repository,
    role: TufRole,
    version: int,
    device_id: str = NO_DEVICE,
) -> TufMetadata | None:
    """One stored version of a role, if it exists."""
    query = select(TufMetadata).where(
        TufMetadata.tenant_id == tenant_id,
        TufMetadata.repository == repository.value,
        TufMetadata.role == role.value,
        TufMetadata.device_id == device_id,
        TufMetadata.version == version,
    )
    return session.scalars(query).first()


def store(
    session: Session,
    *,
    tenant_id: str,
    repository: Repository,
    role: TufRole,
    metadata: Metadata[Any],
    device_id: str = NO_DEVICE,
) -> TufMetadata:
    """Add a signed version to the session (committed by the caller)."""
    row = TufMetadata(
        tenant_id=tenant_id,
        repository=repository.value,
        role=role.value,
        device_id=device_id,
        version=metadata.signed.version,
        expires_at=metadata.signed.expires,
        content=metadata.to_bytes(_SERIALIZER),
    )
    session.add(row)
    return row


def serialized(metadata: Metadata[Any]) -> bytes:
    """Metadata as stored and served (compact JSON)."""
    return metadata.to_bytes(_SERIALIZER)


def parse_root(row: TufMetadata | TufPendingMetadata) -> Metadata[Root]:
    """A stored (or pending) root version, parsed (this module serialized it)."""
    metadata = Metadata[Root].from_bytes(row.content)
    if not isinstance(metadata.signed, Root):
        raise ServiceError("stored TUF metadata is not a root")
    return metadata


def parse_targets(row: TufMetadata | TufPendingMetadata) -> Metadata[Targets]:
    """A stored (or pending) targets version, parsed."""
    metadata = Metadata[Targets].from_bytes(row.content)
    if not isinstance(metadata.signed, Targets):
        raise ServiceError("stored TUF metadata is not targets")
    return metadata


def ensure_keys(
    *,
    session: Session,
    kek: KeyEncryptionKey,
    tenant_id: str,
    repository: Repository,
    now: datetime,
) -> dict[TufRole, TufSigningKey]:
    """The active key of every role of a repository, made where missing."""
    keys: dict[TufRole, TufSigningKey] = {}
    for role in TOP_LEVEL_ROLES:
        row = signing_keys.active_key(
            session=session, tenant_id=tenant_id, repository=repository, role=role
        )
        if row is None:
            row = signing_keys.create_key(
                session=session,
                kek=kek,
                tenant_id=tenant_id,
                repository=repository,
                role=role,
                now=now,
            )
        keys[role] = row
    return keys


def role_signer(
    *,
    session: Session,
    kek: KeyEncryptionKey,
    tenant_id: str,
    repository: Repository,
    role: TufRole,
) -> Signer:
    """The signer of a role's active key (the root made it, so it exists)."""
    row = signing_keys.active_key(
        session=session, tenant_id=tenant_id, repository=repository, role=role
    )
    if row is None:
        raise ServiceError(f"the {repository.value} repository has no {role} key")
    return signing_keys.signer_for(row, kek)


def ensure_root(
    *,
    session: Session,
    kek: KeyEncryptionKey,
    tenant_id: str,
    repository: Repository,
    now: datetime,
) -> Metadata[Root]:
    """The repository's current root: version 1 made on first use, and a re-signed
    successor (same keys, version + 1) once fewer than 60 days remain. With an
    offline root key the successor is prepared as pending instead (once) and the
    current root stays in force until the operator signs it."""
    row = latest_row(
        session, tenant_id=tenant_id, repository=repository, role=TufRole.ROOT
    )
    if row is None:
        keys = ensure_keys(
            session=session,
            kek=kek,
            tenant_id=tenant_id,
            repository=repository,
            now=now,
        )
        root = Root(
            version=1, expires=expiry(now, ROOT_LIFETIME), consistent_snapshot=True
        )
        for role, key_row in keys.items():
            root.add_key(signing_keys.public_key(key_row), role.value)
        metadata = Metadata(root)
        metadata.sign(signing_keys.signer_for(keys[TufRole.ROOT], kek))
        store(
            session,
            tenant_id=tenant_id,
            repository=repository,
            role=TufRole.ROOT,
            metadata=metadata,
        )
        return metadata
    current = parse_root(row)
    if row.expires_at - now >= ROOT_REFRESH_BEFORE:
        return current
    root_key = signing_keys.active_key(
        session=session, tenant_id=tenant_id, repository=repository, role=TufRole.ROOT
    )
    if root_key is not None and signing_keys.is_offline(root_key):
        if pending_row(session, tenant_id, repository, TufRole.ROOT) is None:
            successor = successor_root(
                session, tenant_id=tenant_id, repository=repository, now=now
            )
            store_pending(
                session,
                tenant_id=tenant_id,
                repository=repository,
                role=TufRole.ROOT,
                metadata=successor,
                now=now,
            )
        return current
    current.signed.version += 1
    current.signed.expires = expiry(now, ROOT_LIFETIME)
    current.signatures.clear()
    current.sign(
        role_signer(
            session=session,
            kek=kek,
            tenant_id=tenant_id,
            repository=repository,
            role=TufRole.ROOT,
        )
    )
    store(
        session,
        tenant_id=tenant_id,
        repository=repository,
        role=TufRole.ROOT,
        metadata=current,
    )
    return current


NewestVersions = dict[TufRole, tuple[int, datetime]]
"""Each role's newest stored version and its expiry."""


def newest_versions(
    session: Session,
    *,
    tenant_id: str,
    repository: Repository,
    device_id: str = NO_DEVICE,
) -> NewestVersions:
    """The newest version (and expiry) of every role stored for ``device_id``, in one
    statement (a check's hot path: one round trip instead of one per role)."""
    scope = (
        TufMetadata.tenant_id == tenant_id,
        TufMetadata.repository == repository.value,
        TufMetadata.device_id == device_id,
    )
    newest = (
        select(TufMetadata.role, func.max(TufMetadata.version).label("version"))
        .where(*scope)
        .group_by(TufMetadata.role)
        .subquery()
    )
    query = (
        select(TufMetadata.role, TufMetadata.version, TufMetadata.expires_at)
        .join(
            newest,
            and_(
                TufMetadata.role == newest.c.role,
                TufMetadata.version == newest.c.version,
            ),
        )
        .where(*scope)
    )
    return {
        TufRole(role): (version, expires_at)
        for role, version, expires_at in session.execute(query)
    }


def keep_root_current(
    *,
    session: Session,
    kek: KeyEncryptionKey,
    tenant_id: str,
    repository: Repository,
    now: datetime,
    newest: NewestVersions | None = None,
) -> None:
    """``ensure_root`` for a check: looks at the newest root's version and expiry
    only (``newest`` when the caller read them already), and parses or signs nothing
    while that root has 60 days or more left."""
    if newest is None:
        newest = newest_versions(session, tenant_id=tenant_id, repository=repository)
    root = newest.get(TufRole.ROOT)
    if root is not None and root[1] - now >= ROOT_REFRESH_BEFORE:
        return
    ensure_root(
        session=session, kek=kek, tenant_id=tenant_id, repository=repository, now=now
    )


@dataclass(frozen=True, slots=True)
class ChainVersions:
    """The newest versions (and expiries) of targets, snapshot and timestamp."""

    targets_version: int
    targets_expires_at: datetime
    snapshot_version: int
    snapshot_expires_at: datetime
    timestamp_version: int
    timestamp_expires_at: datetime


def chain_versions(
    session: Session,
    *,
    tenant_id: str,
    repository: Repository,
    device_id: str,
    newest: NewestVersions | None = None,
) -> ChainVersions | None:
    """What is published now (``newest`` when the caller read it already), or None
    before the first publication."""
    if newest is None:
        newest = newest_versions(
            session, tenant_id=tenant_id, repository=repository, device_id=device_id
        )
    targets, snapshot, timestamp = (
        newest.get(role)
        for role in (TufRole.TARGETS, TufRole.SNAPSHOT, TufRole.TIMESTAMP)
    )
    if targets is None or snapshot is None or timestamp is None:
        return None
    return ChainVersions(
        targets_version=targets[0],
        targets_expires_at=targets[1],
        snapshot_version=snapshot[0],
        snapshot_expires_at=snapshot[1],
        timestamp_version=timestamp[0],
        timestamp_expires_at=timestamp[1],
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainRequest:
    """Which links to re-sign beyond what expiry demands."""

    new_targets: Targets | None = None
    resign_targets: bool = False
    resign_snapshot: bool = False
    resign_timestamp: bool = False


def publish_chain(
    *,
    session: Session,
    kek: KeyEncryptionKey,
    tenant_id: str,
    repository: Repository,
    device_id: str,
    now: datetime,
    versions: ChainVersions | None,
    request: ChainRequest,
) -> ChainVersions:
    """Sign and store what has to change, each link with version + 1; return the
    versions published afterwards. Signs nothing when nothing is due."""

    def signer(role: TufRole) -> Signer:
        return role_signer(
            session=session,
            kek=kek,
            tenant_id=tenant_id,
            repository=repository,
            role=role,
        )

    def sign_and_store(role: TufRole, signed: Signed) -> None:
        metadata: Metadata[Any] = Metadata(signed)
        metadata.sign(signer(role))
        store(
            session,
            tenant_id=tenant_id,
            repository=repository,
            role=role,
            metadata=metadata,
            device_id=device_id,
        )

    targets = request.new_targets
    if targets is None and versions is not None:
        due = versions.targets_expires_at - now < TARGETS_REFRESH_BEFORE
        if request.resign_targets or due:
            row = row_at(
                session,
                tenant_id=tenant_id,
                repository=repository,
                role=TufRole.TARGETS,
                version=versions.targets_version,
                device_id=device_id,
            )
            if row is None:
                raise ServiceError("published targets metadata is missing")
            targets = parse_targets(row).signed
    if targets is None and versions is None:
        targets = Targets()
    targets_version = versions.targets_version if versions else 0
    targets_expires_at = versions.targets_expires_at if versions else now
    if targets is not None:
        targets_version += 1
        targets.version = targets_version
        targets.expires = targets_expires_at = expiry(now, TARGETS_LIFETIME)
        sign_and_store(TufRole.TARGETS, targets)

    snapshot_version = versions.snapshot_version if versions else 0
    snapshot_expires_at = versions.snapshot_expires_at if versions else now
    if (
        targets is not None
        or request.resign_snapshot
        or snapshot_expires_at - now < SNAPSHOT_REFRESH_BEFORE
    ):
        snapshot_version += 1
        snapshot_expires_at = expiry(now, SNAPSHOT_LIFETIME)
        snapshot = Snapshot(
            version=snapshot_version,
            expires=snapshot_expires_at,
            meta={"targets.json": MetaFile(version=targets_version)},
        )
        sign_and_store(TufRole.SNAPSHOT, snapshot)

    timestamp_version = versions.timestamp_version if versions else 0
    timestamp_expires_at = versions.timestamp_expires_at if versions else now
    if (
        versions is None
        or snapshot_version != versions.snapshot_version
        or request.resign_timestamp
        or timestamp_expires_at - now < TIMESTAMP_REFRESH_BEFORE
    ):
        timestamp_version += 1
        timestamp_expires_at = expiry(now, TIMESTAMP_LIFETIME)
        timestamp = Timestamp(
            version=timestamp_version,
            expires=timestamp_expires_at,
            snapshot_meta=MetaFile(version=snapshot_version),
        )
        sign_and_store(TufRole.TIMESTAMP, timestamp)
    return ChainVersions(
        targets_version=targets_version,
        targets_expires_at=targets_expires_at,
        snapshot_version=snapshot_version,
        snapshot_expires_at=snapshot_expires_at,
        timestamp_version=timestamp_version,
        timestamp_expires_at=timestamp_expires_at,
    )


def pending_row(
    session: Session, tenant_id: str, repository: Repository, role: TufRole
) -> TufPendingMetadata | None:
    """The metadata of a role waiting for offline signatures, if any."""
    query = select(TufPendingMetadata).where(
        TufPendingMetadata.tenant_id == tenant_id,
        TufPendingMetadata.repository == repository.value,
        TufPendingMetadata.role == role.value,
    )
    return session.scalars(query).first()


def store_pending(
    session: Session,
    *,
    tenant_id: str,
    repository: Repository,
    role: TufRole,
    metadata: Metadata[Any],
    now: datetime,
) -> TufPendingMetadata:
    """Keep ``metadata`` as the role's pending version (replacing an older one)."""
    old = pending_row(session, tenant_id, repository, role)
    if old is not None:
        session.delete(old)
        session.flush()
    row = TufPendingMetadata(
        tenant_id=tenant_id,
        repository=repository.value,
        role=role.value,
        version=metadata.signed.version,
        content=metadata.to_bytes(_SERIALIZER),
        created_at=now,
    )
    session.add(row)
    return row


def parse_pending(row: TufPendingMetadata) -> Metadata[Any]:
    """A pending version, parsed."""
    return Metadata.from_bytes(row.content)


def successor_root(
    session: Session, *, tenant_id: str, repository: Repository, now: datetime
) -> Metadata[Root]:
    """The next root to prepare: the pending one if there is one (so changes made
    while it waits accumulate), else the published one; version published + 1, a
    fresh expiry, no signatures."""
    published = latest_row(
        session, tenant_id=tenant_id, repository=repository, role=TufRole.ROOT
    )
    if published is None:
        raise ServiceError(f"the {repository.value} repository has no root yet")
    pending = pending_row(session, tenant_id, repository, TufRole.ROOT)
    base = parse_root(published if pending is None else pending)
    base.signed.version = published.version + 1
    base.signed.expires = expiry(now, ROOT_LIFETIME)
    base.signatures.clear()
    return base
