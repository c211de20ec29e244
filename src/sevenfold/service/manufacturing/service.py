"""Trusted manufacturer keys, and checking registration records against them.

Only a platform administrator changes the set (audited). A registration request is
all-or-nothing: ``verify_records`` refuses the whole batch at its first record that a
trusted key did not sign.
"""

from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sevenfold.crypto.errors import InvalidManufacturerKeyError, RegistrationRecordError
from sevenfold.crypto.registration import (
    load_public_key_pem,
    manufacturer_key_id,
    public_key_pem,
    verify_registration_record,
)
from sevenfold.protocol.clock import Clock
from sevenfold.protocol.registration import RegistrationRecord
from sevenfold.service.access.principal import Principal
from sevenfold.service.audit import service as audit
from sevenfold.service.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    UntrustedRegistrationError,
)
from sevenfold.service.manufacturing.models import TrustedManufacturerKey


def trust_key(
    *, session: Session, clock: Clock, principal: Principal, name: str, pem: str
) -> TrustedManufacturerKey:
    """Trust a manufacturer's Ed25519 public key; its ID is computed here."""
    try:
        public_key = load_public_key_pem(pem)
    except InvalidManufacturerKeyError as err:
        raise InvalidRequestError(str(err)) from err
    key = TrustedManufacturerKey(
        id=manufacturer_key_id(public_key),
        name=name,
        public_key_pem=public_key_pem(public_key),
        created_at=clock.now(),
        created_by=principal.token_id,
    )
    if session.get(TrustedManufacturerKey, key.id) is not None:
        raise ConflictError("this manufacturer key is already trusted")
    session.add(key)
    try:
        session.flush()
    except IntegrityError as err:
        session.rollback()
        raise ConflictError("this manufacturer key is already trusted") from err
    _audit(session, clock, principal, "manufacturer-key.trust", key)
    session.commit()
    return key


def list_keys(*, session: Session) -> Sequence[TrustedManufacturerKey]:
    """Every trusted manufacturer key, oldest first."""
    return session.scalars(
        select(TrustedManufacturerKey).order_by(
            TrustedManufacturerKey.created_at, TrustedManufacturerKey.id
        )
    ).all()


def get_key(*, session: Session, key_id: str) -> TrustedManufacturerKey:
    """One trusted key by its ID."""
    key = session.get(TrustedManufacturerKey, key_id.lower())
    if key is None:
        raise NotFoundError("no trusted manufacturer key has this ID")
    return key


def remove_key(
    *, session: Session, clock: Clock, principal: Principal, key_id: str
) -> None:
    """Stop trusting a key: its records register nothing from now on.

    Devices it already vouched for stay registered.
    """
    key = get_key(session=session, key_id=key_id)
    _audit(session, clock, principal, "manufacturer-key.remove", key)
    session.delete(key)
    session.commit()


def verify_records(*, session: Session, records: Sequence[RegistrationRecord]) -> None:
    """Check every record against the trusted keys; refuse at the first bad one.

    Raises:
        UntrustedRegistrationError: names the record's index and the reason.
    """
    wanted = sorted({record.manufacturer_key_id for record in records})
    rows = session.scalars(
        select(TrustedManufacturerKey).where(TrustedManufacturerKey.id.in_(wanted))
    ).all()
    trusted: dict[str, Ed25519PublicKey] = {
        row.id: load_public_key_pem(row.public_key_pem) for row in rows
    }
    for index, record in enumerate(records):
        try:
            verify_registration_record(record, trusted)
        except RegistrationRecordError as err:
            raise UntrustedRegistrationError(
                f"record {index} is refused: {err}; nothing was registered",
                index=index,
                reason=err.reason,
            ) from err


def _audit(
    session: Session,
    clock: Clock,
    principal: Principal,
    action: str,
    key: TrustedManufacturerKey,
) -> None:
    audit.record(
        session=session,
        clock=clock,
        principal=principal,
        tenant_id=None,
        action=action,
        target_type="manufacturer-key",
        target_id=key.id,
        details={"name": key.name},
    )
