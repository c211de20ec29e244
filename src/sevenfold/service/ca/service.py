"""Tenant CAs: made lazily, rotated on use, read by the tenant's principals.

Decisions:

* A tenant's first CA is made the first time one is needed (listing, download, chain
  and, later, certificate issuance), not at tenant creation: tenants created before
  this table existed get one the same way, and creating a tenant needs no KEK.
* Rotation runs on use too (:func:`ensure_ca_rotation` before every read): once
  ``now >= not_after - 90 days`` of the newest CA, a successor is made that signs from
  45 days later (or at once, if the newest CA has already expired). A tenant whose CA
  nobody reads has no devices that need it; the daily attestations of a real fleet
  call it many times a day.
* ``generation`` is unique per tenant, so when two requests race to make the same CA
  one insert fails, rolls back and reads the winner's row.

Status of a CA at ``now``: ``active`` signs now (the newest one whose ``activates_at``
has passed and which has not expired); ``next`` is a successor waiting to activate;
``retired`` is superseded or expired. The chain is every CA valid at ``now`` (active,
next, and a superseded one until it expires, since certificates it issued still are).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sevenfold.crypto.certificate_authority import (
    certificate_pem,
    certificate_thumbprint,
    make_certificate_authority,
)
from sevenfold.crypto.key_wrapping import unwrap_private_key, wrap_private_key
from sevenfold.protocol.clock import Clock
from sevenfold.service.audit import service as audit
from sevenfold.service.ca.key_encryption_key import KeyEncryptionKey
from sevenfold.service.ca.models import TenantCa
from sevenfold.service.db.ids import new_id
from sevenfold.service.errors import CaUnavailableError, NotFoundError

ROTATE_BEFORE_EXPIRY = timedelta(days=90)
ACTIVATION_DELAY = timedelta(days=45)
ROTATION_ACTOR = "sevenfold service (CA rotation)"

CaCreated = Callable[[str], None]
"""Told the PEM of each CA certificate this service made, once it is committed (the
direct-TLS server adds it to the certificates it verifies clients against)."""


class CaStatus(StrEnum):
    """Where a CA is in its life at a given time."""

    ACTIVE = "active"
    NEXT = "next"
    RETIRED = "retired"


@dataclass(frozen=True, slots=True)
class CaView:
    """A CA row with its status at the time it was read."""

    ca: TenantCa
    status: CaStatus
    in_chain: bool


def _cas(session: Session, tenant_id: str) -> list[TenantCa]:
    query = (
        select(TenantCa)
        .where(TenantCa.tenant_id == tenant_id)
        .order_by(TenantCa.generation)
    )
    return list(session.scalars(query))


def _valid_at(ca: TenantCa, now: datetime) -> bool:
    return ca.not_before <= now < ca.not_after


def _active(cas: Sequence[TenantCa], now: datetime) -> TenantCa | None:
    signing = [ca for ca in cas if _valid_at(ca, now) and ca.activates_at <= now]
    return signing[-1] if signing else None


def _require_kek(kek: KeyEncryptionKey | None) -> KeyEncryptionKey:
    if kek is None:
        raise CaUnavailableError(
            "the service has no key-encryption key configured, so it has no CA"
        )
    return kek


def _create_ca(
    *,
    session: Session,
    kek: KeyEncryptionKey,
    tenant_id: str,
    generation: int,
    now: datetime,
    activates_at: datetime,
) -> TenantCa:
    made = make_certificate_authority(
        tenant_id=tenant_id, generation=generation, now=now
    )
    ca_id = new_id()
    ca = TenantCa(
        id=ca_id,
        tenant_id=tenant_id,
        generation=generation,
        subject=made.certificate.subject.rfc4514_string(),
        thumbprint_sha256=certificate_thumbprint(made.certificate),
        certificate_pem=certificate_pem(made.certificate),
        wrapped_private_key=wrap_private_key(
            kek.material, made.private_key, tenant_id=tenant_id, ca_id=ca_id
        ),
        not_before=made.certificate.not_valid_before_utc,
        not_after=made.certificate.not_valid_after_utc,
        activates_at=activates_at,
        created_at=now,
    )
    session.add(ca)
    return ca


def ensure_ca_rotation(
    *,
    session: Session,
    clock: Clock,
    kek: KeyEncryptionKey | None,
    tenant_id: str,
    on_created: CaCreated | None = None,
) -> list[TenantCa]:
    """Make the tenant's first CA or its successor when due; return all, oldest first.

    Commits (with an audit row) only when it made a CA, then tells ``on_created``.

    Raises:
        CaUnavailableError: a CA is due but the service has no KEK.
    """
    cas = _cas(session, tenant_id)
    now = clock.now()
    newest = cas[-1] if cas else None
    if newest is not None and now < newest.not_after - ROTATE_BEFORE_EXPIRY:
        return cas
    if newest is None or now >= newest.not_after:
        activates_at = now
    else:
        activates_at = min(now + ACTIVATION_DELAY, newest.not_after)
    generation = newest.generation + 1 if newest else 1
    ca = _create_ca(
        session=session,
        kek=_require_kek(kek),
        tenant_id=tenant_id,
        generation=generation,
        now=now,
        activates_at=activates_at,
    )
    audit.record(
        session=session,
        clock=clock,
        principal=None,
        tenant_id=tenant_id,
        action="ca.create",
        target_type="ca-certificate",
        target_id=ca.id,
        details={"generation": generation, "activates_at": activates_at.isoformat()},
        actor_name=ROTATION_ACTOR,
    )
    pem = ca.certificate_pem
    try:
        session.commit()
    except IntegrityError:
        session.rollback()  # another request made this generation first
    else:
        if on_created is not None:
            on_created(pem)
    return _cas(session, tenant_id)


def ca_views(*, cas: Sequence[TenantCa], now: datetime) -> list[CaView]:
    """Each CA with its status at ``now``, newest first."""
    active = _active(cas, now)
    views = []
    for ca in reversed(cas):
        if ca is active:
            status = CaStatus.ACTIVE
        elif _valid_at(ca, now) and ca.activates_at > now:
            status = CaStatus.NEXT
        else:
            status = CaStatus.RETIRED
        views.append(CaView(ca=ca, status=status, in_chain=_valid_at(ca, now)))
    return views


def list_cas(
    *,
    session: Session,
    clock: Clock,
    kek: KeyEncryptionKey | None,
    tenant_id: str,
    on_created: CaCreated | None = None,
) -> list[CaView]:
    """The tenant's CAs, newest first, rotated if due."""
    cas = ensure_ca_rotation(
        session=session,
        clock=clock,
        kek=kek,
        tenant_id=tenant_id,
        on_created=on_created,
    )
    return ca_views(cas=cas, now=clock.now())


def get_ca(
    *,
    session: Session,
    clock: Clock,
    kek: KeyEncryptionKey | None,
    tenant_id: str,
    ca_id: str | None,
    on_created: CaCreated | None = None,
) -> TenantCa:
    """One of the tenant's CAs by ID, or the active one when ``ca_id`` is None.

    Raises:
        NotFoundError: no such CA in this tenant.
    """
    cas = ensure_ca_rotation(
        session=session,
        clock=clock,
        kek=kek,
        tenant_id=tenant_id,
        on_created=on_created,
    )
    if ca_id is None:
        active = _active(cas, clock.now())
        if active is not None:
            return active
    for ca in cas:
        if ca.id == ca_id:
            return ca
    raise NotFoundError(f"no CA certificate '{ca_id}'")


def chain(
    *,
    session: Session,
    clock: Clock,
    kek: KeyEncryptionKey | None,
    tenant_id: str,
    on_created: CaCreated | None = None,
) -> list[TenantCa]:
    """Every CA certificate valid now, newest first (what a relying party trusts)."""
    cas = ensure_ca_rotation(
        session=session,
        clock=clock,
        kek=kek,
        tenant_id=tenant_id,
        on_created=on_created,
    )
    now = clock.now()
    return [ca for ca in reversed(cas) if _valid_at(ca, now)]


@dataclass(frozen=True, slots=True)
class ActiveCa:
    """The CA that signs now: its row, certificate and unwrapped private key."""

    ca: TenantCa
    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)


def active_ca(
    *,
    session: Session,
    clock: Clock,
    kek: KeyEncryptionKey | None,
    tenant_id: str,
    on_created: CaCreated | None = None,
) -> ActiveCa:
    """The tenant's signing CA (rotated if due), its key unwrapped with the KEK.

    Raises:
        CaUnavailableError: the service has no KEK.
        KeyUnwrapError: the stored key does not open (wrong KEK, or altered row).
    """
    ca = get_ca(
        session=session,
        clock=clock,
        kek=kek,
        tenant_id=tenant_id,
        ca_id=None,
        on_created=on_created,
    )
    private_key = unwrap_private_key(
        _require_kek(kek).material,
        ca.wrapped_private_key,
        tenant_id=ca.tenant_id,
        ca_id=ca.id,
    )
    certificate = x509.load_pem_x509_certificate(ca.certificate_pem.encode("ascii"))
    return ActiveCa(ca=ca, certificate=certificate, private_key=private_key)


def valid_ca_certificates(*, session: Session, now: datetime) -> list[str]:
    """The PEM of every tenant's CA certificate valid at ``now`` (for TLS)."""
    query = select(TenantCa).where(TenantCa.not_before <= now, TenantCa.not_after > now)
    return [ca.certificate_pem for ca in session.scalars(query)]
