"""TPM attestation on the wire: a TPM quote over the measurement PCR, and what binds it.

The ``tpm`` key store makes ``TpmEvidence``; the service checks it with
``sevenfold.crypto.tpm_quote.verify_tpm_evidence``. What both sides must agree on
lives here: which PCR holds the measurements, how they are extended into it, and
the bytes the identity key signs to vouch for the attestation key (AK).

Measurement PCR: the measurements are extended, in order (OS image, agent, then each
app image), into SHA-256 PCR 23, starting from its reset value of 32 zero bytes.
PCR 23 is the PC Client "application support" PCR, resettable and extendable at
locality 0, so a simulated boot can start it from zero. On hardware the boot chain
measures the OS into PCRs a running OS cannot reset (8 and 9 with a measured
bootloader); PCR 23 proves what the agent reported, not what booted.
"""

import hashlib
import struct
from dataclasses import dataclass

from sevenfold.protocol.attestation import Measurements, check_nonce

MEASUREMENT_PCR = 23
PCR_RESET_VALUE = bytes(32)
ATTESTATION_KEY_DOMAIN = b"sevenfold/tpm-attestation-key/v1\x00"


def measurement_events(measurements: Measurements) -> tuple[bytes, ...]:
    """Return the digests extended into the measurement PCR, in order."""
    return (
        measurements.os_image_sha256,
        measurements.agent_sha256,
        *measurements.app_image_sha256s,
    )


def measurement_pcr_value(measurements: Measurements) -> bytes:
    """Return the measurement PCR's value after replaying the extends from reset.

    TPM2_PCR_Extend (Part 3, 22.4) sets ``PCR := H(PCR || digest)``.
    """
    value = PCR_RESET_VALUE
    for digest in measurement_events(measurements):
        value = hashlib.sha256(value + digest).digest()
    return value


def attestation_key_binding_bytes(nonce: bytes, attestation_public_key: bytes) -> bytes:
    """Return the bytes the identity key signs to vouch for an attestation key.

    ``domain || u16 len(nonce) || nonce || u16 len(ak) || ak`` where ``ak`` is the
    AK's DER SubjectPublicKeyInfo. Without an EK certificate chain, the identity key
    registered at the factory is the root of trust: its signature says "this AK is a
    restricted key in my TPM", and the nonce makes the statement fresh.

    Raises:
        ValueError: the nonce is not 16 to 64 bytes, or the key is over 64 KiB.
    """
    check_nonce(nonce)
    if len(attestation_public_key) > 0xFFFF:
        raise ValueError("an attestation public key is at most 65535 bytes")
    return b"".join(
        (
            ATTESTATION_KEY_DOMAIN,
            struct.pack(">H", len(nonce)),
            nonce,
            struct.pack(">H", len(attestation_public_key)),
            attestation_public_key,
        )
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class TpmEvidence:
    """A TPM-backed device's answer to an attestation challenge.

    ``quoted`` is the TPMS_ATTEST the TPM generated (TPM 2.0 Part 2, 10.12.12) and
    ``signature`` the AK's ECDSA P-256 SHA-256 signature (DER) over it.
    ``attestation_public_key`` is the AK's DER SubjectPublicKeyInfo and
    ``attestation_key_binding`` the identity key's signature (DER) over
    ``attestation_key_binding_bytes(nonce, attestation_public_key)``.
    ``pcr_indices`` and ``pcr_values`` are the SHA-256 PCRs the quote covers, as the
    TPM reported them; the verifier recomputes them from ``measurements``.
    """

    quoted: bytes
    signature: bytes
    attestation_public_key: bytes
    attestation_key_binding: bytes
    pcr_indices: tuple[int, ...]
    pcr_values: tuple[bytes, ...]
    measurements: Measurements
    nonce: bytes

    def binding_bytes(self) -> bytes:
        """Return the bytes ``attestation_key_binding`` covers."""
        return attestation_key_binding_bytes(self.nonce, self.attestation_public_key)
