"""Offline TUF keys on the operator's machine (docs/updates.md §4): make one,
keep it encrypted, and sign pending metadata the service prepared.

A key is ECDSA P-256, written as encrypted PKCS#8 (``BestAvailableEncryption``,
mode 0600, never overwritten). Before signing, the pending metadata is parsed and
re-serialized here: the signature covers the canonical bytes of what is shown to
the operator, and the service's ``signed_bytes`` must be exactly those bytes (a
service that shows one thing and asks to sign another is refused).
"""

import base64
import copy
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from securesystemslib.signer import CryptoSigner, Signature
from tuf.api.metadata import Metadata, Root, Targets

from sevenfold.cli.errors import ConflictError, InvalidInputError, ServerError

MAX_PASSPHRASE_FILE_BYTES = 4096
MAX_KEY_FILE_BYTES = 8192
MIN_PASSPHRASE_CHARS = 8


def read_passphrase(path: Path | None, *, key_file: Path, new: bool) -> bytes:
    """The passphrase from its file (first line), else asked for without echo."""
    if path is not None:
        data = path.read_bytes()
        if len(data) > MAX_PASSPHRASE_FILE_BYTES:
            raise InvalidInputError(f"{path} is too large for a passphrase file")
        passphrase = data.splitlines()[0] if data.strip() else b""
    else:
        text: str = click.prompt(
            f"Passphrase for {key_file}",
            hide_input=True,
            confirmation_prompt=new,
            err=True,
        )
        passphrase = text.encode("utf-8")
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise InvalidInputError(
            f"the passphrase must have at least {MIN_PASSPHRASE_CHARS} characters"
        )
    return passphrase


def create_key_file(key_file: Path, passphrase: bytes) -> CryptoSigner:
    """Make an ECDSA P-256 key and write it encrypted to ``key_file`` (created, not
    overwritten, mode 0600, fsync'd) before anything else uses it."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    try:
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as err:
        raise ConflictError(f"{key_file} exists; not overwriting a key") from err
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    return CryptoSigner(private_key)


def load_key_file(key_file: Path, passphrase: bytes) -> CryptoSigner:
    """Decrypt a key written by :func:`create_key_file`."""
    data = key_file.read_bytes()
    if len(data) > MAX_KEY_FILE_BYTES:
        raise InvalidInputError(f"{key_file} is too large for a key file")
    try:
        private_key = serialization.load_pem_private_key(data, password=passphrase)
    except (ValueError, TypeError) as err:
        raise InvalidInputError(
            f"{key_file}: not an encrypted key, or the passphrase is wrong"
        ) from err
    if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
        private_key.curve, ec.SECP256R1
    ):
        raise InvalidInputError(f"{key_file} is not an ECDSA P-256 key")
    return CryptoSigner(private_key)


def public_key_pem(signer: CryptoSigner) -> str:
    """The PEM of a signer's public key."""
    public: str = signer.public_key.keyval["public"]
    return public


@dataclass(frozen=True, slots=True)
class PendingItem:
    """A pending version as fetched, parsed and checked."""

    repository: str
    role: str
    version: int
    metadata: Metadata[Any]
    current: dict[str, Any] | None
    missing_keyids: list[str]


def parse_pending(answer: dict[str, Any]) -> PendingItem:
    """Parse one ``GET /update-keys/pending`` item; refuse it when the bytes the
    service asks to sign are not the canonical bytes of the metadata it shows."""
    try:
        # ``from_dict`` consumes the dict it is given: parse a copy.
        metadata = Metadata[Any].from_dict(copy.deepcopy(answer["metadata"]))
        asked = base64.b64decode(answer["signed_bytes"], validate=True)
    except (KeyError, ValueError, TypeError) as err:
        raise ServerError(f"the service sent unusable pending metadata: {err}") from err
    if asked != metadata.signed_bytes:
        raise ServerError(
            "the service asks to sign other bytes than the metadata it shows; "
            "nothing was signed"
        )
    return PendingItem(
        repository=str(answer["repository"]),
        role=str(answer["role"]),
        version=int(answer["version"]),
        metadata=metadata,
        current=answer.get("current"),
        missing_keyids=list(answer["missing_keyids"]),
    )


def _role_keys(signed: dict[str, Any] | None) -> dict[str, set[str]]:
    if signed is None:
        return {}
    roles = signed.get("roles") or {}
    return {name: set(role.get("keyids", [])) for name, role in roles.items()}


def _delegations(signed: dict[str, Any] | None) -> dict[str, Any]:
    if signed is None:
        return {}
    delegations = signed.get("delegations") or {}
    return {role["name"]: role for role in delegations.get("roles", [])}


def summary_lines(item: PendingItem) -> Iterator[str]:
    """What the operator is about to sign: role, version, expiry, and what changes
    against the version in force (keys per role; delegations)."""
    signed = item.metadata.signed
    yield (
        f"{item.repository} {item.role} version {item.version}, expires "
        f"{signed.expires.isoformat()}"
    )
    new = signed.to_dict()
    if isinstance(signed, Root):
        before, after = _role_keys(item.current), _role_keys(new)
        for role in sorted(after):
            added = sorted(after[role] - before.get(role, set()))
            removed = sorted(before.get(role, set()) - after[role])
            for keyid in added:
                yield f"  {role}: key {keyid[:16]} added"
            for keyid in removed:
                yield f"  {role}: key {keyid[:16]} removed"
    if isinstance(signed, Targets):
        before_roles, after_roles = _delegations(item.current), _delegations(new)
        for name in sorted(set(before_roles) | set(after_roles)):
            old, now = before_roles.get(name), after_roles.get(name)
            if now is None:
                yield f"  delegation {name}: removed"
                continue
            keys = ", ".join(keyid[:16] for keyid in now.get("keyids", []))
            paths = ", ".join(now.get("paths") or [])
            change = (
                "unchanged" if old == now else ("added" if old is None else "changed")
            )
            yield f"  delegation {name} ({change}): paths {paths}; keys {keys}"
        yield f"  targets listed directly: {len(new.get('targets', {}))}"


def sign_item(item: PendingItem, signer: CryptoSigner) -> Signature:
    """The signer's signature over the item's canonical signed bytes."""
    return signer.sign(item.metadata.signed_bytes)
