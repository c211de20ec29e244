"""Image-signing keys (Ed25519) and the package signatures they make (§1).

The key ID is the lower-case hex SHA-256 of the raw 32-byte public key, as written in
the manifest's ``signing_key_id``. At rest the private key is PKCS#8 PEM encrypted
with a passphrase (``BestAvailableEncryption``), like manufacturer keys.
"""

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from sevenfold.crypto import ed25519_keys
from sevenfold.crypto.errors import ImageSignatureError, InvalidImageSigningKeyError
from sevenfold.protocol.image_package import (
    ImageManifest,
    encode_package_header,
    signed_bytes,
)


def key_id(public_key: Ed25519PublicKey) -> str:
    """Return the key ID: hex SHA-256 of the raw Ed25519 public key."""
    raw = public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return hashlib.sha256(raw).hexdigest()


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    """Return the public key as SubjectPublicKeyInfo PEM text."""
    return ed25519_keys.public_key_pem(public_key)


def load_public_key_pem(text: str) -> Ed25519PublicKey:
    """Parse an Ed25519 public key from PEM.

    Raises:
        InvalidImageSigningKeyError: not PEM, or not an Ed25519 public key.
    """
    return ed25519_keys.load_public_key_pem(
        text, kind="image-signing", error=InvalidImageSigningKeyError
    )


def encrypt_private_key(private_key: Ed25519PrivateKey, passphrase: bytes) -> bytes:
    """Return the private key as encrypted PKCS#8 PEM."""
    return ed25519_keys.encrypt_private_key(
        private_key, passphrase, error=InvalidImageSigningKeyError
    )


def decrypt_private_key(pem: bytes, passphrase: bytes) -> Ed25519PrivateKey:
    """Load an encrypted PKCS#8 Ed25519 private key.

    Raises:
        InvalidImageSigningKeyError: wrong passphrase, unencrypted, or not Ed25519.
    """
    return ed25519_keys.decrypt_private_key(
        pem, passphrase, kind="image-signing", error=InvalidImageSigningKeyError
    )


def sign_manifest(private_key: Ed25519PrivateKey, manifest_bytes: bytes) -> bytes:
    """Sign the domain-separated manifest bytes."""
    return private_key.sign(signed_bytes(manifest_bytes))


def verify_manifest(
    public_key: Ed25519PublicKey, manifest_bytes: bytes, signature: bytes
) -> None:
    """Check the manifest signature.

    Raises:
        ImageSignatureError: this key did not sign these manifest bytes.
    """
    try:
        public_key.verify(signature, signed_bytes(manifest_bytes))
    except InvalidSignature as err:
        raise ImageSignatureError(
            "the image manifest signature does not verify"
        ) from err


def build_package_header(
    manifest: ImageManifest, private_key: Ed25519PrivateKey
) -> bytes:
    """Return the signed header; the caller streams the payload after it.

    Raises:
        InvalidImageSigningKeyError: the manifest names another key.
    """
    if manifest.signing_key_id != key_id(private_key.public_key()):
        raise InvalidImageSigningKeyError(
            "the manifest's signing_key_id is not this key's ID"
        )
    manifest_bytes = manifest.encode()
    return encode_package_header(
        manifest_bytes, sign_manifest(private_key, manifest_bytes)
    )


def build_package(
    manifest: ImageManifest, payload: bytes, private_key: Ed25519PrivateKey
) -> bytes:
    """Return a whole package for an in-memory payload (tests, the simulator)."""
    return build_package_header(manifest, private_key) + payload
