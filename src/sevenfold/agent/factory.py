"""``sevenfold factory create-manufacturer-key|provision``: the factory station.

``create-manufacturer-key`` makes the Ed25519 key that vouches for devices and writes
it encrypted (PKCS#8, ``BestAvailableEncryption``); the passphrase comes from a file
(``--passphrase-file``) or ``SEVENFOLD_MANUFACTURER_PASSPHRASE``, never from an option
value, and is never printed or logged. ``provision`` creates a device identity in its
key store (software DICE or a TPM), derives the device ID, and appends a registration
record signed by the manufacturer key to a JSON Lines file (atomically: the whole file
is rewritten to a temporary file, fsynced, and renamed over the old one).
"""

import json
import os
from pathlib import Path
from typing import Any

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sevenfold.agent.state import AgentState, StateStore, write_atomically
from sevenfold.agent.trusted.dice_keystore import DiceKeyStore
from sevenfold.agent.trusted.errors import TrustedCoreError
from sevenfold.crypto.errors import CryptoError
from sevenfold.crypto.registration import (
    decrypt_private_key,
    encrypt_private_key,
    manufacturer_key_id,
    public_key_pem,
    sign_registration_record,
)
from sevenfold.protocol.attestation import Measurements
from sevenfold.protocol.clock import Clock, SystemClock
from sevenfold.protocol.registration import MAX_PRODUCT_HINT_CHARS

PASSPHRASE_ENV = "SEVENFOLD_MANUFACTURER_PASSPHRASE"  # noqa: S105 - a name
MAX_PASSPHRASE_FILE_BYTES = 4096
MAX_KEY_FILE_BYTES = 16 * 1024
MAX_RECORDS_FILE_BYTES = 256 * 1024 * 1024
_ZERO = Measurements(os_image_sha256=bytes(32), agent_sha256=bytes(32))

passphrase_option = click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help=f"Read the key's passphrase from this file (else ${PASSPHRASE_ENV}).",
)
output_option = click.option(
    "--output", type=click.Choice(["table", "json"]), default="table", show_default=True
)


@click.group("factory")
def factory_group() -> None:
    """The factory: manufacturer key, device identities and registration records."""


@factory_group.command("create-manufacturer-key")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the encrypted private key (must not exist).",
)
@passphrase_option
@output_option
def create_manufacturer_key(
    out: Path, passphrase_file: Path | None, output: str
) -> None:
    """Create an Ed25519 manufacturer key, encrypted at rest; print its public key."""
    passphrase = _passphrase(passphrase_file)
    key = Ed25519PrivateKey.generate()
    try:
        pem = encrypt_private_key(key, passphrase)
    except CryptoError as err:
        raise click.ClickException(str(err)) from err
    try:
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as err:
        raise click.ClickException(f"{out} exists; a key is never replaced") from err
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    public = key.public_key()
    _print(
        {
            "key_id": manufacturer_key_id(public),
            "public_key_pem": public_key_pem(public),
        },
        output,
    )


@factory_group.command("provision")
@click.option(
    "--state-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The device's state directory (its key store).",
)
@click.option("--backend", type=click.Choice(["dice", "tpm"]), default="dice")
@click.option(
    "--tcti", default=None, help="The TPM to use (tpm backend), e.g. swtpm:..."
)
@click.option(
    "--manufacturer-key",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The encrypted manufacturer private key (create-manufacturer-key).",
)
@passphrase_option
@click.option(
    "--records",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Append the signed record to this JSON Lines file (default: print it).",
)
@click.option("--product", default=None, help="An optional product hint.")
@output_option
def provision(**options: Any) -> None:
    """Create a device identity and a registration record signed for it."""
    record = provision_device(
        state_dir=options["state_dir"],
        backend=options["backend"],
        tcti=options["tcti"],
        manufacturer_key=load_manufacturer_key(
            options["manufacturer_key"], _passphrase(options["passphrase_file"])
        ),
        product=options["product"],
        clock=SystemClock(),
    )
    records: Path | None = options["records"]
    if records is None:
        click.echo(record, nl=False)
        return
    append_record(records, record)
    device_id = json.loads(record)["device_id"]
    _print(
        {"backend": options["backend"], "device_id": device_id, "records": records},
        options["output"],
    )


def load_manufacturer_key(path: Path, passphrase: bytes) -> Ed25519PrivateKey:
    """Read and decrypt a manufacturer key file (bounded in size)."""
    pem = path.read_bytes()[: MAX_KEY_FILE_BYTES + 1]
    if len(pem) > MAX_KEY_FILE_BYTES:
        raise click.ClickException(f"{path} is too large for a manufacturer key")
    try:
        return decrypt_private_key(pem, passphrase)
    except CryptoError as err:
        raise click.ClickException(f"{path}: {err}") from err


def provision_device(
    *,
    state_dir: Path,
    backend: str,
    tcti: str | None,
    manufacturer_key: Ed25519PrivateKey,
    product: str | None,
    clock: Clock,
) -> str:
    """Create the identity; return its signed registration record as a JSON line."""
    if product is not None and not 0 < len(product) <= MAX_PRODUCT_HINT_CHARS:
        raise click.BadParameter(
            f"1 to {MAX_PRODUCT_HINT_CHARS} characters", param_hint="--product"
        )
    try:
        device_id = _create_identity(state_dir, backend, tcti)
    except TrustedCoreError as err:
        raise click.ClickException(str(err)) from err
    StateStore(state_dir).write_state(AgentState(device_id=device_id))
    record = sign_registration_record(
        manufacturer_key, device_id=device_id, created_at=clock.now(), product=product
    )
    return record.to_line()


def _create_identity(state_dir: Path, backend: str, tcti: str | None) -> str:
    if backend == "dice":
        DiceKeyStore.create(state_dir)
        return DiceKeyStore.open(state_dir, _ZERO, clock=SystemClock()).device_id
    if tcti is None:
        raise click.BadParameter("the tpm backend needs --tcti", param_hint="--tcti")
    from sevenfold.agent.trusted.tpm_keystore import TpmKeyStore  # noqa: PLC0415

    TpmKeyStore.create(state_dir, tcti=tcti)
    with TpmKeyStore.open(state_dir, _ZERO, tcti=tcti) as store:
        return store.device_id


def append_record(path: Path, line: str) -> None:
    """Append one line to a records file, atomically (the agent's state writer)."""
    existing = b""
    if path.exists():
        with path.open("rb") as handle:
            existing = handle.read(MAX_RECORDS_FILE_BYTES + 1)
        if len(existing) > MAX_RECORDS_FILE_BYTES:
            raise click.ClickException(f"{path} is too large to append to")
        if existing and not existing.endswith(b"\n"):
            existing += b"\n"
    # Records are signed and public: readable by the line's other tools.
    write_atomically(path, existing + line.encode("utf-8"), mode=0o644)


def _passphrase(path: Path | None) -> bytes:
    if path is not None:
        with path.open("rb") as handle:
            data = handle.read(MAX_PASSPHRASE_FILE_BYTES + 1)
        if len(data) > MAX_PASSPHRASE_FILE_BYTES:
            raise click.ClickException(f"{path} is too large for a passphrase file")
        passphrase = data.rstrip(b"\r\n")
    else:
        passphrase = os.environ.get(PASSPHRASE_ENV, "").encode("utf-8")
    if not passphrase:
        raise click.ClickException(
            f"no passphrase: give --passphrase-file or set ${PASSPHRASE_ENV}"
        )
    return passphrase


def _print(record: dict[str, Any], output: str) -> None:
    if output == "json":
        click.echo(json.dumps(record, sort_keys=True, indent=2, default=str))
        return
    for key, value in record.items():
        click.echo(f"{key}: {value}")
