"""The one interface the rest of the agent has to its device keys.

Backends (``dice``, software-emulated DICE, and ``tpm``, a TPM 2.0) implement
``KeyStore``; none of its members returns private key material. Each backend returns
its own kind of evidence, ``Evidence`` (an Alias certificate) or ``TpmEvidence`` (a
TPM quote), so ``KeyStore`` is generic in it: ``KeyStore[Evidence]`` for the
``dice`` backend, ``KeyStore[TpmEvidence]`` for ``tpm``, and
``KeyStore[Evidence | TpmEvidence]`` for code that takes either.
"""

from typing import Protocol, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec

from sevenfold.protocol.attestation import Evidence, Measurements
from sevenfold.protocol.tpm_evidence import TpmEvidence

EvidenceT_co = TypeVar("EvidenceT_co", bound=Evidence | TpmEvidence, covariant=True)


class KeyStore(Protocol[EvidenceT_co]):
    """Signs with the device's keys without handing them out."""

    @property
    def device_id(self) -> str:
        """The device ID: hex X||Y of the long-lived identity (DeviceID) public key."""
        ...

    def public_key(self) -> ec.EllipticCurvePublicKey:
        """Return the public key that verifies ``sign`` (DICE Alias or TPM identity)."""
        ...

    def sign(self, data: bytes) -> bytes:
        """Return an ECDSA P-256 SHA-256 signature (DER) over ``data``."""
        ...

    def evidence(self, nonce: bytes, measurements: Measurements) -> EvidenceT_co:
        """Return signed evidence that this device runs ``measurements``."""
        ...
