"""The one interface the rest of the agent has to its device keys.

Backends (the software DICE emulation today) implement ``KeyStore``; none of its
members returns private key material.
"""

from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from sevenfold.protocol.attestation import Evidence, Measurements


class KeyStore(Protocol):
    """Signs with the device's keys without handing them out."""

    @property
    def device_id(self) -> str:
        """The device ID: hex X||Y of the long-lived identity (DeviceID) public key."""
        ...

    def public_key(self) -> ec.EllipticCurvePublicKey:
        """Return the public key that verifies ``sign`` (the DICE Alias key)."""
        ...

    def sign(self, data: bytes) -> bytes:
        """Return an ECDSA P-256 SHA-256 signature (DER) over ``data``."""
        ...

    def evidence(self, nonce: bytes, measurements: Measurements) -> Evidence:
        """Return signed evidence that this device runs ``measurements``."""
        ...
