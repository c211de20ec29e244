"""TUF role keys of a tenant's image repository and director (docs/updates.md §4).

Each tenant has, per repository (``image``, ``director``), one active key per role
(root, targets, snapshot, timestamp), made the first time it is needed with
securesystemslib's ``CryptoSigner.generate_ecdsa()``. The private key's PEM is sealed
with the service KEK (AES-256-GCM, ``crypto.key_wrapping.seal``), the associated
data binding tenant, repository, role and key ID, so a wrapped key copied into
another row or tenant no longer opens.

Offline-capable keys: the root key and the image repository's targets key sign
rarely (a root rotation, a new image). Nothing here needs their private half except
:func:`signer_for`; any securesystemslib ``Signer`` (``HSMSigner``, a KMS signer from
``Signer.from_priv_key_uri``) can stand in for them, as long as the service keeps
their public keys and receives their signatures when they rotate or sign. The
snapshot and timestamp keys (and the director's targets key) are online keys: they
re-sign metadata as time passes without anyone present.

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
from sevenfold.service.updates.models import TufSigningKey

MAX_CACHED_SIGNERS = 512
_KEY_LABEL = b"sevenfold TUF role private key v1"


class Repository(StrEnum):
    """The two TUF repositories of a tenant."""

    IMAGE = "image"
    DIRECTOR = "director"


class TufRole(StrEnum):
    """The top-level TUF roles."""

    ROOT = "root"
    TARGETS = "targets"
    SNAPSHOT = "snapshot"
    TIMESTAMP = "timestamp"


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
    row = TufSigningKey(
        id=new_id(),
        tenant_id=tenant_id,
        repository=repository.value,
        role=role.value,
        keyid=key.keyid,
        public_key_json=json.dumps(key.to_dict(), sort_keys=True),
        private_key_wrapped=wrapped,
        created_at=now,
        revoked_at=None,
    )
    session.add(row)
    _remember(row.id, signer)
    return row


def signer_for(row: TufSigningKey, kek: KeyEncryptionKey) -> Signer:
    """The signer of a key row, unwrapped once per process and then cached."""
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
