"""Device IDs: the hex P-256 identity public key X||Y, 128 characters (Azure Sphere).

A device ID is validated as a real curve point, not only as hex, so that a typo or a
forged value cannot be registered as an identity that no key could ever prove.
"""

import re

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sevenfold.crypto.errors import InvalidDeviceIdError

DEVICE_ID_HEX_CHARS = 128
_HEX = re.compile(r"[0-9a-fA-F]{128}")


def normalize_device_id(text: str) -> str:
    """Return the canonical (lower-case) form of a device ID.

    Raises:
        InvalidDeviceIdError: not 128 hex characters, or not a point on P-256.
    """
    candidate = text.strip()
    if not _HEX.fullmatch(candidate):
        raise InvalidDeviceIdError("a device ID is 128 hexadecimal characters")
    point = b"\x04" + bytes.fromhex(candidate)
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as err:
        raise InvalidDeviceIdError("the device ID is not a P-256 public key") from err
    return candidate.lower()


def device_id_of(public_key: ec.EllipticCurvePublicKey) -> str:
    """Return the device ID of a P-256 public key."""
    if not isinstance(public_key.curve, ec.SECP256R1):
        raise InvalidDeviceIdError("device identity keys are P-256")
    point = public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return point[1:].hex()


def public_key_of(device_id: str) -> ec.EllipticCurvePublicKey:
    """Return the public key a device ID names.

    Raises:
        InvalidDeviceIdError: the ID is malformed.
    """
    canonical = normalize_device_id(device_id)
    return ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), b"\x04" + bytes.fromhex(canonical)
    )
