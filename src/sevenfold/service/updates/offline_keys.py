"""Moving the image repository's root or targets role to an operator-held key
(``sevenfold update-key take-offline``, docs/updates.md §4).

The operator's CLI makes an ECDSA P-256 key and sends its public half. The service
prepares root N+1 naming it for the role (signed by the current root key while that
is online) and, for targets, a targets version the new key must sign, both pending
(``offline_signing.py``). Once they publish, the new key is the role's key, the old
one is revoked and the sealed private keys of that role are deleted. Taking an
already offline role offline again is how an offline key is rotated: the old and
the new key then sign the new root.
"""

from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ec import (
    SECP256R1,
    EllipticCurvePublicKey,
)
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.signer import SSlibKey
from sqlalchemy.orm import Session
from tuf.api.metadata import Targets

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
from sevenfold.service.updates.key_rotation import (
    active_role_key,
    bring_up_to_date,
    drop_stale_pending_keys,
    stage_pending_root,
)
from sevenfold.service.updates.signing_keys import (
    OFFLINE_CAPABLE_ROLES,
    Repository,
    TufRole,
)

MAX_PUBLIC_KEY_PEM_CHARS = 1024


@dataclass(frozen=True, slots=True)
class OfflineMove:
    """What ``take-offline`` prepared (or, rarely, already published)."""

    repository: Repository
    role: TufRole
    old_keyid: str
    new_keyid: str
    root_version: int
    published: bool


def parse_offline_public_key(pem: str) -> SSlibKey:
    """An operator's ECDSA P-256 public key (PEM) as a TUF key.

    Raises:
        InvalidRequestError: not a PEM P-256 public key.
    """
    if len(pem) > MAX_PUBLIC_KEY_PEM_CHARS:
        raise InvalidRequestError("the public key PEM is too long")
    try:
        key = load_pem_public_key(pem.encode())
    except (ValueError, UnsupportedAlgorithm) as err:
        raise InvalidRequestError("the public key is not a PEM public key") from err
    if not isinstance(key, EllipticCurvePublicKey) or not isinstance(
        key.curve, SECP256R1
    ):
        raise InvalidRequestError("offline TUF keys must be ECDSA P-256 keys")
    return SSlibKey.from_crypto(key)


def take_offline(
    *,
    session: Session,
    clock: Clock,
    kek: KeyEncryptionKey | None,
    principal: Principal,
    repository: Repository,
    role: TufRole,
    public_key_pem: str,
) -> OfflineMove:
    """Move the image repository's root or targets role to an operator-held key:
    a pending root naming it (signed by the online root key where there is one),
    and for targets a pending targets; both wait for the new key's signature (and
    an offline root key's). Commits, audited.

    Raises:
        InvalidRequestError: not the image repository's root or targets, not a
            P-256 key, or the key the role already has.
    """
    tenant_id = principal.require_tenant()
    wrapping_key = signing_keys.require_kek(kek)
    now = clock.now()
    if repository is not Repository.IMAGE or role not in OFFLINE_CAPABLE_ROLES:
        raise InvalidRequestError(
            "only the image repository's root and targets keys can be offline "
            "(director keys are online by design, Uptane)"
        )
    key = parse_offline_public_key(public_key_pem)
    bring_up_to_date(session, wrapping_key, tenant_id, repository, now)
    old_row = active_role_key(session, tenant_id, repository, role)
    if old_row.keyid == key.keyid:
        raise InvalidRequestError(f"that key already is the {role.value} key")
    drop_stale_pending_keys(session, tenant_id, repository, role, now)
    new_row = signing_keys.add_offline_key(
        session=session,
        tenant_id=tenant_id,
        repository=repository,
        role=role,
        key=key,
        now=now,
    )
    successor = stage_pending_root(
        session, wrapping_key, tenant_id, repository, role, key, now
    )
    if role is TufRole.TARGETS:
        image_repository.prepare_pending_targets(
            session,
            tenant_id=tenant_id,
            targets=_targets_base(session, tenant_id),
            now=now,
        )
    published = offline_signing.publish_if_complete(
        session=session,
        kek=wrapping_key,
        tenant_id=tenant_id,
        repository=repository,
        now=now,
    )
    audit.record(
        session=session,
        clock=clock,
        principal=principal,
        tenant_id=tenant_id,
        action="update-key.take-offline",
        target_type="update-key",
        target_id=new_row.keyid,
        details={
            "repository": repository.value,
            "role": role.value,
            "old_keyid": old_row.keyid,
            "root_version": successor.signed.version,
        },
    )
    session.commit()
    return OfflineMove(
        repository,
        role,
        old_row.keyid,
        new_row.keyid,
        successor.signed.version,
        published,
    )


def _targets_base(session: Session, tenant_id: str) -> Targets:
    """The top-level targets to re-sign under a new targets key: the pending one
    (a delegation change waiting) or the published one."""
    repository = Repository.IMAGE
    row = metadata_store.pending_row(session, tenant_id, repository, TufRole.TARGETS)
    if row is not None:
        return metadata_store.parse_targets(row).signed
    published = metadata_store.latest_row(
        session, tenant_id=tenant_id, repository=repository, role=TufRole.TARGETS
    )
    if published is None:
        raise ServiceError("the image repository has no targets yet")
    return metadata_store.parse_targets(published).signed
