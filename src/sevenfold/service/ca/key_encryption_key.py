"""The key-encryption key (KEK) file that protects every tenant CA's private key.

The file holds 32 random bytes, base64, and must be readable by its owner only
(mode 0600 or 0400); anything else is refused. There is no default key: ``sevenfold
init`` creates the file (``create_key_encryption_key_file``), and the app factory
loads it once at start (``load_key_encryption_key``). The key's bytes are never
logged or shown: :class:`KeyEncryptionKey` hides them from ``repr``.
"""

import base64
import binascii
import contextlib
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from sevenfold.crypto.key_wrapping import KEK_BYTES
from sevenfold.service.errors import KeyEncryptionKeyError

KEK_FILE_NAME = "key-encryption-key"


@dataclass(frozen=True, slots=True)
class KeyEncryptionKey:
    """The loaded KEK; its bytes never appear in ``repr`` or logs."""

    material: bytes = field(repr=False)


def create_key_encryption_key_file(path: Path) -> bool:
    """Create a new random KEK file (mode 0600) unless one exists.

    Returns True when it was created, False when a file was already there.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = base64.b64encode(secrets.token_bytes(KEK_BYTES)) + b"\n"
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise
    return True


def load_key_encryption_key(path: Path) -> KeyEncryptionKey:
    """Read and check the KEK file.

    Raises:
        KeyEncryptionKeyError: missing, group/other may access it, or not a
            base64 32-byte key. The message names the file, never its content.
    """
    try:
        mode = path.stat().st_mode
        raw = path.read_bytes()
    except FileNotFoundError as err:
        raise KeyEncryptionKeyError(
            f"no key-encryption key at {path}: run `sevenfold init` or set "
            "key_encryption_key_file"
        ) from err
    except OSError as err:
        raise KeyEncryptionKeyError(
            f"cannot read the key-encryption key at {path}"
        ) from err
    if stat.S_IMODE(mode) & 0o077:
        raise KeyEncryptionKeyError(
            f"the key-encryption key at {path} must be readable by its owner only "
            f"(mode 0600), not {stat.S_IMODE(mode):04o}"
        )
    try:
        material = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError) as err:
        raise KeyEncryptionKeyError(f"{path} does not hold a base64 key") from err
    if len(material) != KEK_BYTES:
        raise KeyEncryptionKeyError(
            f"{path} must hold a {KEK_BYTES}-byte key, base64 (it holds "
            f"{len(material)} bytes)"
        )
    return KeyEncryptionKey(material=material)
