"""Manufacturer keys (Ed25519) and the registration records they sign.

The key ID of a manufacturer key is the lower-case hex SHA-256 of its DER
SubjectPublicKeyInfo, so the factory and the service compute the same ID from the
same public key. At rest the private key is PKCS#8 PEM, encrypted with a passphrase
(``BestAvailableEncryption``); this module never sees where the passphrase came from.
"""

import hashlib
from collections.abc import Mapping
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from sevenfold.crypto import ed25519_keys
from sevenfold.crypto.device_ids import normalize_device_id
from sevenfold.crypto.errors import (
    InvalidManufacturerKeyError,
    RegistrationSignatureError,
    UntrustedManufacturerKeyError,
)
from sevenfold.protocol.registration import RegistrationRecord, signed_record_bytes


def manufacturer_key_id(public_key: Ed25519PublicKey) -> str:
    """Return the key ID: hex SHA-256 of the DER SubjectPublicKeyInfo."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    """Return the public key as SubjectPublicKeyInfo PEM text."""
    return ed25519_keys.public_key_pem(public_key)


def load_public_key_pem(text: str) -> Ed25519PublicKey:
    """Parse an Ed25519 public key from PEM.

    Raises:
        InvalidManufacturerKeyError: not PEM, or not an Ed25519 public key.
    """
    return ed25519_keys.load_public_key_pem(
        text, kind="manufacturer", error=InvalidManufacturerKeyError
    )


def encrypt_private_key(private_key: Ed25519PrivateKey, passphrase: bytes) -> bytes:
    """Return the private key as encrypted PKCS#8 PEM."""
    return ed25519_keys.encrypt_private_key(
        private_key, passphrase, error=InvalidManufacturerKeyError
    )


def decrypt_private_key(pem: bytes, passphrase: bytes) -> Ed25519PrivateKey:
    """Load an encrypted PKCS#8 Ed25519 private key.

    Raises:
        InvalidManufacturerKeyError: wrong passphrase, unencrypted, or not Ed25519.
    """
    return ed25519_keys.decrypt_private_key(
        pem, passphrase, kind="manufacturer", error=InvalidManufacturerKeyError
    )


def sign_registration_record(
    private_key: Ed25519PrivateKey,
    *,
    device_id: str,
    created_at: datetime,
    product: str | None = None,
) -> RegistrationRecord:
    """Return the signed record vouching for one device identity."""
    canonical = normalize_device_id(device_id)
    key_id = manufacturer_key_id(private_key.public_key())
    moment = created_at.replace(microsecond=0)
    message = signed_record_bytes(
        device_id=canonical,
        manufacturer_key_id=key_id,
        created_at=moment,
        product=product,
    )
    return RegistrationRecord(
        device_id=canonical,
        manufacturer_key_id=key_id,
        created_at=moment,
        product=product,
        signature=private_key.sign(message),
    )


def verify_registration_record(
    record: RegistrationRecord, trusted_keys: Mapping[str, Ed25519PublicKey]
) -> None:
    """Check that a trusted manufacturer key signed this record.

    ``trusted_keys`` maps key IDs to public keys; the key is looked up by the record's
    key ID and its ID is recomputed, so a mislabelled map cannot vouch for a record.

    Raises:
        UntrustedManufacturerKeyError: the key ID is not trusted.
        RegistrationSignatureError: the signature does not verify (forged, altered).
    """
    key = trusted_keys.get(record.manufacturer_key_id)
    if key is None or manufacturer_key_id(key) != record.manufacturer_key_id:
        raise UntrustedManufacturerKeyError(
            "the record is signed by a manufacturer key the service does not trust"
        )
    try:
        key.verify(record.signature, record.signed_bytes())
    except InvalidSignature as err:
        raise RegistrationSignatureError(
            "the record's signature does not verify (forged or altered)"
        ) from err
