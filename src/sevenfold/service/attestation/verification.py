"""Step 3 of attestation: verify either kind of evidence against the device ID.

A DICE device answers with ``Evidence`` (an Alias certificate signed by its DeviceID
key); a TPM device with ``TpmEvidence`` (a quote by an attestation key its identity
key vouched for). Both come down to the same ``Attested``: the device ID, the key the
certificate is issued for, and the measurements proven. Each verifier error becomes
one of the stable ``AttestationFailure`` reasons.
"""

from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import ec

from sevenfold.crypto.device_ids import public_key_of
from sevenfold.crypto.errors import (
    AttestationError,
    EvidenceSignatureError,
    MeasurementsMismatchError,
    NonceMismatchError,
    PcrMismatchError,
    QuoteSignatureError,
)
from sevenfold.crypto.evidence import verify_evidence
from sevenfold.crypto.tpm_quote import verify_tpm_evidence
from sevenfold.protocol.attestation import AttestationFailure, Evidence, Measurements
from sevenfold.protocol.tpm_evidence import TpmEvidence
from sevenfold.service.errors import AttestationCheckError

# Anything not listed (an untrusted Alias certificate, an AK the identity key did not
# vouch for, a malformed quote or one the TPM did not generate) is ``bad-chain``.
_REASON_OF_ERROR: tuple[tuple[type[AttestationError], AttestationFailure], ...] = (
    (EvidenceSignatureError, AttestationFailure.BAD_SIGNATURE),
    (QuoteSignatureError, AttestationFailure.BAD_SIGNATURE),
    (NonceMismatchError, AttestationFailure.UNKNOWN_NONCE),
    (MeasurementsMismatchError, AttestationFailure.MEASUREMENT_MISMATCH),
    (PcrMismatchError, AttestationFailure.MEASUREMENT_MISMATCH),
)


@dataclass(frozen=True, slots=True)
class Attested:
    """What verified evidence proves: the key to certify and the software it runs.

    For DICE the key is the Alias key (it changes with the software); for a TPM it is
    the identity key, the registered device key, which never leaves the TPM.
    """

    device_id: str
    public_key: ec.EllipticCurvePublicKey
    measurements: Measurements


def verified(
    evidence: Evidence | TpmEvidence, device_id: str, now: datetime
) -> Attested:
    """Verify ``evidence`` for a registered device whose nonce was just consumed.

    Raises:
        AttestationCheckError: the evidence does not verify; ``reason`` names the
            link that failed.
    """
    try:
        if isinstance(evidence, TpmEvidence):
            measurements = verify_tpm_evidence(
                evidence, registered_device_id=device_id, expected_nonce=evidence.nonce
            )
            return Attested(device_id, public_key_of(device_id), measurements)
        tcb = verify_evidence(
            evidence,
            registered_device_id=device_id,
            expected_nonce=evidence.nonce,
            now=now,
        )
        return Attested(tcb.device_id, tcb.alias_public_key, tcb.measurements)
    except AttestationError as err:
        reason = next(
            (r for kind, r in _REASON_OF_ERROR if isinstance(err, kind)),
            AttestationFailure.BAD_CHAIN,
        )
        raise AttestationCheckError(reason, str(err)) from err
