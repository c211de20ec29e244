"""Verifying a device's attestation evidence (pure; the service supplies the inputs).

One chain, each link checked before the next is trusted:

1. the Alias certificate is signed by the registered DeviceID key and valid now;
2. the Alias key it certifies signed the evidence bytes;
3. the evidence answers this challenge (the nonce the service sent);
4. the measurements the Alias key signed are those the DeviceID certified.
"""

import hmac
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from sevenfold.crypto.dice_chain import AttestedTcb, verify_alias_chain
from sevenfold.crypto.errors import (
    EvidenceSignatureError,
    MeasurementsMismatchError,
    NonceMismatchError,
)
from sevenfold.protocol.attestation import Evidence


def verify_evidence(
    evidence: Evidence,
    *,
    registered_device_id: str,
    expected_nonce: bytes,
    now: datetime,
) -> AttestedTcb:
    """Return the attested TCB of a device whose evidence holds up.

    Raises:
        AttestationError: a subclass naming the first link of the chain that failed.
        InvalidDeviceIdError: ``registered_device_id`` is malformed.
    """
    attested = verify_alias_chain(evidence.alias_certificate, registered_device_id, now)
    try:
        signed = evidence.signed_bytes()
    except ValueError as err:
        raise NonceMismatchError("the evidence nonce is malformed") from err
    try:
        attested.alias_public_key.verify(
            evidence.signature, signed, ec.ECDSA(hashes.SHA256())
        )
    except InvalidSignature as err:
        raise EvidenceSignatureError(
            "the evidence is not signed by the Alias key"
        ) from err
    if not hmac.compare_digest(evidence.nonce, expected_nonce):
        raise NonceMismatchError("the evidence answers another challenge")
    if evidence.measurements != attested.measurements:
        raise MeasurementsMismatchError(
            "the signed measurements differ from the certified ones"
        )
    return attested
