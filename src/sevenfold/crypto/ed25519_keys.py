"""Ed25519 keys at rest and on the wire, for every kind of signing key we keep.

Manufacturer keys and image-signing keys share one format: the public key as
SubjectPublicKeyInfo PEM (bounded, checked to be Ed25519) and the private key as
PKCS#8 PEM encrypted with a passphrase (``BestAvailableEncryption``). Each caller
names the kind of key (for messages) and the error it raises.
"""

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from sevenfold.crypto.errors import CryptoError

MIN_PASSPHRASE_BYTES = 8
MAX_PUBLIC_KEY_PEM_CHARS = 1000


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    """Return the public key as SubjectPublicKeyInfo PEM text."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def load_public_key_pem(
    text: str, *, kind: str, error: type[CryptoError]
) -> Ed25519PublicKey:
    """Parse an Ed25519 public key from PEM; ``error`` for anything else."""
    if len(text) > MAX_PUBLIC_KEY_PEM_CHARS:
        raise error("the public key PEM is too long")
    try:
        key = serialization.load_pem_public_key(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as err:
        raise error("not a PEM public key") from err
    if not isinstance(key, Ed25519PublicKey):
        raise error(f"{kind} keys are Ed25519")
    return key


def encrypt_private_key(
    private_key: Ed25519PrivateKey, passphrase: bytes, *, error: type[CryptoError]
) -> bytes:
    """Return the private key as encrypted PKCS#8 PEM."""
    if len(passphrase) < MIN_PASSPHRASE_BYTES:
        raise error(f"the passphrase must be at least {MIN_PASSPHRASE_BYTES} bytes")
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )


def decrypt_private_key(
    pem: bytes, passphrase: bytes, *, kind: str, error: type[CryptoError]
) -> Ed25519PrivateKey:
    """Load an encrypted PKCS#8 Ed25519 private key; ``error`` for a wrong
    passphrase, an unencrypted key or another algorithm."""
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase)
    except (ValueError, TypeError) as err:
        raise error(
            f"cannot decrypt the {kind} key (wrong passphrase or not an "
            "encrypted PKCS#8 key)"
        ) from err
    if not isinstance(key, Ed25519PrivateKey):
        raise error(f"{kind} keys are Ed25519")
    return key
