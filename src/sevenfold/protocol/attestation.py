"""Attestation on the wire: what a device measured and the evidence that proves it.

The agent's key store makes ``Evidence``; the service checks it with
``sevenfold.crypto.evidence.verify_evidence``. Both sides sign and verify the same
bytes, ``signed_evidence_bytes``, so the encoding lives here, in the shared vocabulary.
"""

import struct
from dataclasses import dataclass
from enum import StrEnum

SHA256_BYTES = 32
MIN_NONCE_BYTES = 16
MAX_NONCE_BYTES = 64
MAX_APP_IMAGES = 64
EVIDENCE_DOMAIN = b"sevenfold/evidence/v1\x00"


def _check_digest(name: str, value: bytes) -> None:
    if len(value) != SHA256_BYTES:
        raise ValueError(f"{name} is a SHA-256 digest of {SHA256_BYTES} bytes")


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurements:
    """The SHA-256 digests of the software a device runs.

    The OS image and the agent form the Alias key's layer (a change to either changes
    the key); app images are measured by the agent and reported alongside, in order.
    """

    os_image_sha256: bytes
    agent_sha256: bytes
    app_image_sha256s: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        _check_digest("os_image_sha256", self.os_image_sha256)
        _check_digest("agent_sha256", self.agent_sha256)
        if len(self.app_image_sha256s) > MAX_APP_IMAGES:
            raise ValueError(f"at most {MAX_APP_IMAGES} app images are measured")
        for digest in self.app_image_sha256s:
            _check_digest("app_image_sha256s", digest)

    def encode(self) -> bytes:
        """Return the fixed-width encoding: OS, agent, app count (u16), apps."""
        return b"".join(
            (
                self.os_image_sha256,
                self.agent_sha256,
                struct.pack(">H", len(self.app_image_sha256s)),
                *self.app_image_sha256s,
            )
        )


def check_nonce(nonce: bytes) -> None:
    """Refuse a nonce too short to be unpredictable or too long to be reasonable.

    Raises:
        ValueError: the nonce is not 16 to 64 bytes.
    """
    if not MIN_NONCE_BYTES <= len(nonce) <= MAX_NONCE_BYTES:
        raise ValueError(f"a nonce is {MIN_NONCE_BYTES} to {MAX_NONCE_BYTES} bytes")


def signed_evidence_bytes(nonce: bytes, measurements: Measurements) -> bytes:
    """Return the canonical bytes the Alias key signs for one piece of evidence.

    ``domain || u16 len(nonce) || nonce || measurements.encode()``: every field has a
    fixed width or a length prefix, so no two (nonce, measurements) pairs share an
    encoding, and the domain label keeps the signature from being valid for any other
    message the Alias key signs.
    """
    check_nonce(nonce)
    return b"".join(
        (EVIDENCE_DOMAIN, struct.pack(">H", len(nonce)), nonce, measurements.encode())
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """A device's answer to an attestation challenge.

    ``alias_certificate`` is the DER Alias certificate, signed by the DeviceID key and
    carrying the measurements in its tcg-dice-TcbInfo extension. The DeviceID key is
    vouched for by registration (its public key is the device ID), so the chain the
    verifier needs ends there. ``signature`` is an ECDSA P-256 SHA-256 signature (DER)
    by the Alias key over ``signed_evidence_bytes(nonce, measurements)``.
    """

    alias_certificate: bytes
    measurements: Measurements
    nonce: bytes
    signature: bytes

    def signed_bytes(self) -> bytes:
        """Return the bytes ``signature`` covers."""
        return signed_evidence_bytes(self.nonce, self.measurements)


ATTESTATION_NONCE_BYTES = 32
"""The service's challenges are 32 random bytes, sent base64url without padding."""

MAX_OS_VERSION_CHARS = 32

ATTESTED_OS_VERSION_OID = "2.25.307093328261897403215799350938491972165"
"""Private OID (a UUID arc, ITU-T X.667) of the device certificate extension that
names the OS version the device attested to. Non-critical; its value is a DER
UTF8String such as ``26.11.1`` (see :func:`encode_os_version`)."""


def encode_os_version(version: str) -> bytes:
    """Return the attested-OS-version extension value: a DER UTF8String.

    Raises:
        ValueError: the version is not 1 to 32 ASCII characters.
    """
    data = version.encode("ascii")
    if not 0 < len(data) <= MAX_OS_VERSION_CHARS:
        raise ValueError("an OS version is 1 to 32 ASCII characters")
    return bytes((0x0C, len(data))) + data


class MeasurementKind(StrEnum):
    """What an approved measurement is a digest of."""

    OS = "os"
    AGENT = "agent"
    APP = "app"


class AttestationFailure(StrEnum):
    """Why the service refused a device's attestation (the problem's ``reason``).

    Stable: devices and operators may rely on these values.
    """

    UNKNOWN_DEVICE = "unknown-device"
    UNKNOWN_NONCE = "unknown-nonce"
    NONCE_EXPIRED = "nonce-expired"
    NONCE_USED = "nonce-used"
    BAD_CHAIN = "bad-chain"
    BAD_SIGNATURE = "bad-signature"
    MEASUREMENT_MISMATCH = "measurement-mismatch"
    NOT_CLAIMED = "not-claimed"
    REVOKED = "revoked"
    UNAPPROVED_SOFTWARE = "unapproved-software"
    CA_UNAVAILABLE = "ca-unavailable"


class AttestationOutcome(StrEnum):
    """The result of one attestation attempt."""

    CERTIFIED = "certified"
    REFUSED = "refused"
