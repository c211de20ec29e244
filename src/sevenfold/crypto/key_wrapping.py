"""Private keys encrypted at rest: AES-256-GCM under a key-encryption key (KEK).

A wrapped key is ``version (1 byte) || nonce (12 bytes) || ciphertext || tag``. The
associated data names the row the key belongs to (tenant ID and CA ID, each
length-prefixed so no two pairs encode alike), so a wrapped key copied into another
row, or another tenant's row, no longer opens. Pure: no I/O.
"""

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sevenfold.crypto.errors import CryptoError

KEK_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
FORMAT_VERSION = b"\x01"
_CA_KEY_LABEL = b"sevenfold tenant CA private key v1"


class KeyUnwrapError(CryptoError, ValueError):
    """The wrapped key is malformed, was altered, or belongs to another KEK or row."""


def _check_kek(kek: bytes) -> None:
    if len(kek) != KEK_BYTES:
        raise ValueError(f"a key-encryption key is {KEK_BYTES} bytes, not {len(kek)}")


def seal(kek: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    """Encrypt and authenticate ``plaintext`` under ``kek``, bound to the data."""
    _check_kek(kek)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(kek).encrypt(nonce, plaintext, associated_data)
    return FORMAT_VERSION + nonce + ciphertext


def unseal(kek: bytes, wrapped: bytes, associated_data: bytes) -> bytes:
    """Return the plaintext of :func:`seal`.

    Raises:
        KeyUnwrapError: unknown format, tampered bytes, wrong KEK or wrong data.
    """
    _check_kek(kek)
    header = len(FORMAT_VERSION) + NONCE_BYTES
    if len(wrapped) < header + TAG_BYTES or not wrapped.startswith(FORMAT_VERSION):
        raise KeyUnwrapError("not a wrapped key of a known format")
    nonce = wrapped[len(FORMAT_VERSION) : header]
    try:
        return AESGCM(kek).decrypt(nonce, wrapped[header:], associated_data)
    except InvalidTag as err:
        raise KeyUnwrapError(
            "the wrapped key does not open: altered, another KEK, or another row"
        ) from err


def ca_key_associated_data(tenant_id: str, ca_id: str) -> bytes:
    """The associated data that binds a CA's wrapped key to its tenant and row."""
    parts = [_CA_KEY_LABEL, tenant_id.encode(), ca_id.encode()]
    return b"".join(len(part).to_bytes(4, "big") + part for part in parts)


def wrap_private_key(
    kek: bytes, private_key: ec.EllipticCurvePrivateKey, *, tenant_id: str, ca_id: str
) -> bytes:
    """Encrypt the key's PKCS#8 DER under ``kek`` for one tenant's CA row."""
    der = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return seal(kek, der, ca_key_associated_data(tenant_id, ca_id))


def unwrap_private_key(
    kek: bytes, wrapped: bytes, *, tenant_id: str, ca_id: str
) -> ec.EllipticCurvePrivateKey:
    """Decrypt a key made by :func:`wrap_private_key` for the same row.

    Raises:
        KeyUnwrapError: it does not open, or it is not an EC private key.
    """
    der = unseal(kek, wrapped, ca_key_associated_data(tenant_id, ca_id))
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyUnwrapError("the wrapped key is not an EC private key")
    return key
