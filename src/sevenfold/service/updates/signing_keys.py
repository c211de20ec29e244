"""TUF role keys of a tenant's image repository and director (docs/updates.md §4).

Each tenant has, per repository (``image``, ``director``), one active key per role
(root, targets, snapshot, timestamp), made the first time it is needed with
securesystemslib's ``CryptoSigner.generate_ecdsa()``. The private key's PEM is sealed
with the service KEK (AES-256-GCM, ``crypto.key_wrapping.seal``), the associated
data binding tenant, repository, role and key ID, so a wrapped key copied into
another row or tenant no longer opens.

Offline keys: the image repository's root and top-level targets keys sign rarely
(a root rotation, a change of the ``images`` delegation). ``update-key
take-offline`` moves such a role to a key the operator holds: the row keeps the
public key and no private key (``private_key_wrapped`` is ``None``), and metadata
needing it waits as pending for the operator's signature (``offline_signing.py``).
The snapshot, timestamp and ``images`` keys (and all director keys, Uptane) are
online keys: they re-sign metadata as time passes without anyone present.

A key that pending metadata introduces is stored with ``pending=True`` and is not
active until that metadata publishes.

Unwrapped signers are cached per process (bounded, least recently used first out),
keyed by the key row, so a routine check unwraps nothing.
"""

import json
import threading
from collections import OrderedDict
from datetime import datetime
from enum import StrEnum

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from securesystemslib.signer import CryptoSigner, Signer, SSlibKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from sevenfold.crypto.key_wrapping import seal, unseal
from sevenfold.service.ca.key_encryption_key import KeyEncryptionKey
from sevenfold.service.db.ids import new_id
from sevenfold.service.errors import CaUnavailableError
from sevenfold.service.updates.errors import RoleOfflineError
from sevenfold.service.updates.models import TufSigningKey

MAX_CACHED_SIGNERS = 512
_KEY_LABEL = b"sevenfold TUF role private key v1"


class Repository(StrEnum):
    """The two TUF repositories of a tenant."""

    IMAGE = "image"
    DIRECTOR = "director"


class TufRole(StrEnum):
    """The top-level TUF roles, and ``images``: the image repository's delegated
    targets role, which lists the images (docs/updates.md §4)."""

    ROOT = "root"
    TARGETS = "targets"
    SNAPSHOT = "snapshot"
    TIMESTAMP = "timestamp"
    IMAGES = "images"


TOP_LEVEL_ROLES = (TufRole.ROOT, TufRole.TARGETS, TufRole.SNAPSHOT, TufRole.TIMESTAMP)
OFFLINE_CAPABLE_ROLES = (TufRole.ROOT, TufRole.TARGETS)
"""Roles of the image repository whose key may be kept offline."""


def is_offline(row: TufSigningKey) -> bool:
    """Whether the service holds no private key for this key row."""
    return row.private_key_wrapped is None


_signer_cache: OrderedDict[str, Signer] = OrderedDict()
_signer_cache_lock = threading.Lock()


def require_kek(kek: KeyEncryptionKey | None) -> KeyEncryptionKey:
    """The KEK, or a 503 when the service has none (it then signs no metadata)."""
    if kek is None:
        raise CaUnavailableError(
            "the service has no key-encryption key configured, so it cannot sign "
            "update metadata"
        )
    return kek


def key_associated_data(
    *, tenant_id: str, repository: str, role: str, keyid: str
) -> bytes:
    """What a wrapped role key is bound to (each part length-prefixed)."""
    parts = [_KEY_LABEL, tenant_id.encode(), repository.encode(), role.encode()]
    parts.append(keyid.encode())
    return b"".join(len(part).to_bytes(4, "big") + part for part in parts)


def public_key(row: TufSigningKey) -> SSlibKey:
    """The row's public key as TUF metadata lists it."""
    data = json.loads(row.public_key_json)
    return SSlibKey.from_dict(row.keyid, data)


def active_key(
    *,
    session: Session,
    tenant_id: str,
    repository: Repository,
    role: TufRole,
) -> TufSigningKey | None:
    """The newest unrevoked key of a role, if one was made."""
    query = (
        select(TufSigningKey)
        .where(
            TufSigningKey.tenant_id == tenant_id,
            TufSigningKey.repository == repository.value,
            TufSigningKey.role == role.value,
            TufSigningKey.revoked_at.is_(None),
            TufSigningKey.pending.is_(False),
        )
        .order_by(TufSigningKey.created_at.desc(), TufSigningKey.id)
        .limit(1)
    )
    return session.scalars(query).first()


def active_keyids(
    *, session: Session, tenant_id: str, repository: Repository
) -> dict[str, str]:
    """Role → key ID of every unrevoked key of a repository (one query)."""
    query = select(TufSigningKey.role, TufSigningKey.keyid).where(
        TufSigningKey.tenant_id == tenant_id,
        TufSigningKey.repository == repository.value,
        TufSigningKey.revoked_at.is_(None),
        TufSigningKey.pending.is_(False),
    )
    return {role: keyid for role, keyid in session.execute(query)}


def create_key(
    *,
    session: Session,
    kek: KeyEncryptionKey,
    tenant_id: str,
    repository: Repository,
    role: TufRole,
    now: datetime,
    pending: bool = False,
) -> TufSigningKey:
    """Make a new ECDSA P-256 role key; add its row (key wrapped) to the session."""
    signer = CryptoSigner.generate_ecdsa()
    key = signer.public_key
    wrapped = seal(
        kek.material,
        signer.private_bytes,
        key_associated_data(
            tenant_id=tenant_id,
            repository=repository.value,
            role=role.value,
            keyid=key.keyid,
        ),
    )
    row = _key_row(tenant_id, repository, role, key, wrapped, pending, now)
    session.add(row)
    _remember(row.id, signer)
    return row


def add_offline_key(
    *,
    session: Session,
    tenant_id: str,
    repository: Repository,
    role: TufRole,
    key: SSlibKey,
    now: datetime,
) -> TufSigningKey:
    """Record an operator-held key (public half only), pending until the metadata
    that introduces it publishes."""
    row = _key_row(tenant_id, repository, role, key, None, True, now)
    session.add(row)
    return row


def _key_row(
    tenant_id: str,
    repository: Repository,
    role: TufRole,
    key: SSlibKey,
    wrapped: bytes | None,
    pending: bool,
    now: datetime,
) -> TufSigningKey:
    return TufSigningKey(
        id=new_id(),
        tenant_id=tenant_id,
        repository=repository.value,
        role=role.value,
        keyid=key.keyid,
        public_key_json=json.dumps(key.to_dict(), sort_keys=True),
        private_key_wrapped=wrapped,
        pending=pending,
        created_at=now,
        revoked_at=None,
    )


def signer_for(row: TufSigningKey, kek: KeyEncryptionKey) -> Signer:
    """The signer of a key row, unwrapped once per process and then cached.

    Raises:
        RoleOfflineError: the key is offline (the service holds no private key).
    """
    if row.private_key_wrapped is None:
        raise RoleOfflineError(
            f"the {row.repository} repository's {row.role} key is offline: "
            "its signature comes from `sevenfold update-key sign`"
        )
    with _signer_cache_lock:
        cached = _signer_cache.get(row.id)
        if cached is not None:
            _signer_cache.move_to_end(row.id)
            return cached
    pem = unseal(
        kek.material,
        row.private_key_wrapped,
        key_associated_data(
            tenant_id=row.tenant_id,
            repository=row.repository,
            role=row.role,
            keyid=row.keyid,
        ),
    )
    private_key = load_pem_private_key(pem, password=None)
    signer = CryptoSigner(private_key, public_key(row))
    _remember(row.id, signer)
    return signer


def forget_private_key(row: TufSigningKey) -> None:
    """Delete the sealed private key of a row (and its cached signer)."""
    row.private_key_wrapped = None
    with _signer_cache_lock:
        _signer_cache.pop(row.id, None)


def _remember(row_id: str, signer: Signer) -> None:
    with _signer_cache_lock:
        _signer_cache[row_id] = signer
        _signer_cache.move_to_end(row_id)
        while len(_signer_cache) > MAX_CACHED_SIGNERS:
            _signer_cache.popitem(last=False)


def keys_of_tenant(session: Session, tenant_id: str) -> list[TufSigningKey]:
    """Every role key of a tenant (revoked ones too), oldest first."""
    query = (
        select(TufSigningKey)
        .where(TufSigningKey.tenant_id == tenant_id)
        .order_by(
            TufSigningKey.repository, TufSigningKey.role, TufSigningKey.created_at
        )
    )
    return list(session.scalars(query))
