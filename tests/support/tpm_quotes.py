"""TPM evidence built in software: TPMS_ATTEST bytes laid out as Part 2, 10.12.12
specifies, signed by software keys, to test the pure verifier without a TPM."""

import hashlib
import struct
from dataclasses import dataclass, replace

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sevenfold.crypto.device_ids import device_id_of
from sevenfold.crypto.tpm_quote import (
    TPM_ALG_SHA256,
    TPM_GENERATED_VALUE,
    TPM_ST_ATTEST_QUOTE,
)
from sevenfold.protocol.attestation import Measurements
from sevenfold.protocol.tpm_evidence import (
    MEASUREMENT_PCR,
    TpmEvidence,
    attestation_key_binding_bytes,
    measurement_pcr_value,
)
from tests.support.dice import NONCE, measurements

ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def tpm2b(data: bytes) -> bytes:
    """Return a TPM2B: u16 size, then the bytes."""
    return struct.pack(">H", len(data)) + data


def pcr_select(*indices: int) -> bytes:
    """Return a 3-byte TPMS_PCR_SELECTION bitmap selecting ``indices``."""
    bitmap = bytearray(3)
    for index in indices:
        bitmap[index // 8] |= 1 << (index % 8)
    return bytes(bitmap)


def attest(
    *,
    nonce: bytes,
    pcr_digest: bytes,
    magic: int = TPM_GENERATED_VALUE,
    kind: int = TPM_ST_ATTEST_QUOTE,
    bitmap: bytes = pcr_select(MEASUREMENT_PCR),
) -> bytes:
    """Return a TPMS_ATTEST quote with one SHA-256 PCR selection."""
    return b"".join(
        (
            struct.pack(">IH", magic, kind),
            tpm2b(b"\x00\x0b" + bytes(32)),  # qualifiedSigner: a SHA-256 Name
            tpm2b(nonce),
            struct.pack(">QIIB", 1234, 1, 0, 1),  # clockInfo
            struct.pack(">Q", 0x2019_0826),  # firmwareVersion
            struct.pack(">IHB", 1, TPM_ALG_SHA256, len(bitmap)),
            bitmap,
            tpm2b(pcr_digest),
        )
    )


@dataclass(frozen=True, slots=True)
class SoftwareTpm:
    """An identity key and an AK held in software, standing in for a TPM's."""

    identity: ec.EllipticCurvePrivateKey
    attestation: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls) -> "SoftwareTpm":
        """Return a device with fresh keys."""
        return cls(
            identity=ec.generate_private_key(ec.SECP256R1()),
            attestation=ec.generate_private_key(ec.SECP256R1()),
        )

    @property
    def device_id(self) -> str:
        """The device ID of the identity key."""
        return device_id_of(self.identity.public_key())

    def evidence(
        self, nonce: bytes = NONCE, software: Measurements | None = None
    ) -> TpmEvidence:
        """Return evidence as the ``tpm`` key store would make it."""
        software = software or measurements()
        value = measurement_pcr_value(software)
        quoted = attest(nonce=nonce, pcr_digest=hashlib.sha256(value).digest())
        return self.signed(
            TpmEvidence(
                quoted=quoted,
                signature=b"",
                attestation_public_key=self.attestation.public_key().public_bytes(
                    serialization.Encoding.DER,
                    serialization.PublicFormat.SubjectPublicKeyInfo,
                ),
                attestation_key_binding=b"",
                pcr_indices=(MEASUREMENT_PCR,),
                pcr_values=(value,),
                measurements=software,
                nonce=nonce,
            )
        )

    def signed(self, evidence: TpmEvidence) -> TpmEvidence:
        """Return ``evidence`` with the quote and the AK binding (re)signed."""
        binding = attestation_key_binding_bytes(
            evidence.nonce, evidence.attestation_public_key
        )
        return replace(
            evidence,
            signature=self.attestation.sign(evidence.quoted, ECDSA_SHA256),
            attestation_key_binding=self.identity.sign(binding, ECDSA_SHA256),
        )
