"""``sevenfold image-signing-key create|add|list|remove`` (docs/updates.md §1).

``create`` makes an Ed25519 key locally and writes it encrypted (PKCS#8,
``BestAvailableEncryption``); the passphrase comes from a file or
``$SEVENFOLD_IMAGE_KEY_PASSPHRASE``, never from an option (it would show in ``ps``).
``add`` registers the public half with the service: a tenant key signs app images,
a platform key (``--platform``, platform administrator) signs OS images.
"""

import os
from pathlib import Path
from typing import IO

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sevenfold.cli.errors import ConflictError, InvalidInputError
from sevenfold.cli.invocation import Invocation, operator_command, output_option
from sevenfold.cli.output import Column, OutputFormat, Printer
from sevenfold.crypto import image_signing
from sevenfold.crypto.errors import InvalidImageSigningKeyError

PASSPHRASE_ENV = "SEVENFOLD_IMAGE_KEY_PASSPHRASE"  # noqa: S105 - a variable's name
MAX_PASSPHRASE_FILE_BYTES = 4096
MAX_KEY_FILE_BYTES = 4096
MAX_PUBLIC_KEY_BYTES = 1000
TENANT_PATH = "/image-signing-keys"
PLATFORM_PATH = "/platform/image-signing-keys"
KEY_COLUMNS = (
    Column("NAME", "name"),
    Column("KEY ID", "id"),
    Column("ADDED", "created_at"),
)
KEY_FIELDS = (
    Column("Name", "name"),
    Column("Key ID", "id"),
    Column("Added", "created_at"),
    Column("Public key", "public_key_pem"),
)
CREATED_FIELDS = (
    Column("Key ID", "id"),
    Column("Key file", "key_file"),
    Column("Public key", "public_key_pem"),
)

passphrase_option = click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help=f"Read the key's passphrase from this file (else ${PASSPHRASE_ENV}).",
)
platform_option = click.option(
    "--platform",
    is_flag=True,
    help="The platform's OS image keys (platform administrator), not the tenant's.",
)


def read_passphrase(path: Path | None) -> bytes:
    """The passphrase from its file (one line) or the environment."""
    if path is not None:
        data = path.read_bytes()
        if len(data) > MAX_PASSPHRASE_FILE_BYTES:
            raise InvalidInputError(f"{path} is too large for a passphrase file")
        passphrase = data.rstrip(b"\r\n")
    else:
        passphrase = os.environ.get(PASSPHRASE_ENV, "").encode("utf-8")
    if not passphrase:
        raise InvalidInputError(
            f"no passphrase: give --passphrase-file or set ${PASSPHRASE_ENV}"
        )
    return passphrase


def load_signing_key(key_file: Path, passphrase_file: Path | None) -> Ed25519PrivateKey:
    """Decrypt an image-signing key written by ``image-signing-key create``."""
    data = key_file.read_bytes()
    if len(data) > MAX_KEY_FILE_BYTES:
        raise InvalidInputError(f"{key_file} is too large for a key file")
    try:
        return image_signing.decrypt_private_key(data, read_passphrase(passphrase_file))
    except InvalidImageSigningKeyError as err:
        raise InvalidInputError(str(err)) from err


@click.group("image-signing-key")
def image_signing_key_group() -> None:
    """Ed25519 keys that sign image packages, and the ones the service accepts."""


@image_signing_key_group.command("create")
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the encrypted private key (must not exist).",
)
@passphrase_option
@output_option
def create_key(key_file: Path, passphrase_file: Path | None, output: str) -> None:
    """Make a key (encrypted at rest); print its key ID and public key."""
    passphrase = read_passphrase(passphrase_file)
    key = Ed25519PrivateKey.generate()
    try:
        pem = image_signing.encrypt_private_key(key, passphrase)
    except InvalidImageSigningKeyError as err:
        raise InvalidInputError(str(err)) from err
    try:
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as err:
        raise ConflictError(f"{key_file} exists; not overwriting a key") from err
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    Printer(OutputFormat(output)).record(
        {
            "id": image_signing.key_id(key.public_key()),
            "key_file": str(key_file),
            "public_key_pem": image_signing.public_key_pem(key.public_key()),
        },
        CREATED_FIELDS,
    )


@image_signing_key_group.command("add")
@operator_command
@click.option("--name", required=True, help="Who signs with the key (a team, a CI).")
@click.option(
    "--public-key",
    "public_key",
    type=click.File("r"),
    required=True,
    help="The Ed25519 public key PEM ('-': stdin).",
)
@platform_option
def add_key(run: Invocation, name: str, public_key: IO[str], platform: bool) -> None:
    """Accept packages signed by this key (its key ID is computed by the service)."""
    pem = public_key.read(MAX_PUBLIC_KEY_BYTES + 1)
    if len(pem) > MAX_PUBLIC_KEY_BYTES:
        raise InvalidInputError("the public key file is too large for a PEM key")
    key = run.client.call(
        "POST", _path(platform), json={"name": name, "public_key_pem": pem}
    )
    run.printer.record(key, KEY_FIELDS)


@image_signing_key_group.command("list")
@operator_command
@platform_option
def list_keys(run: Invocation, platform: bool) -> None:
    """List the keys whose packages the service accepts."""
    run.printer.listing(run.client.call("GET", _path(platform)), KEY_COLUMNS)


@image_signing_key_group.command("remove")
@operator_command
@click.argument("key_id")
@platform_option
def remove_key(run: Invocation, key_id: str, platform: bool) -> None:
    """Stop accepting packages signed by a key (uploaded images stay)."""
    wanted = key_id.strip().lower()
    if len(wanted) != 64 or any(c not in "0123456789abcdef" for c in wanted):
        raise InvalidInputError("a key ID is 64 hexadecimal characters")
    keys = run.client.call("GET", _path(platform))
    found = next((key for key in keys if key["id"] == wanted), None)
    run.client.call("DELETE", f"{_path(platform)}/{wanted}")
    run.printer.deleted(found or {"id": wanted, "name": wanted})


def _path(platform: bool) -> str:
    return PLATFORM_PATH if platform else TENANT_PATH
