"""``sevenfold manufacturer-key trust|list|show|remove`` (platform administrators).

A trusted manufacturer key may vouch for device registrations: ``device register``
accepts only records signed by one of these keys.
"""

from typing import IO

import click

from sevenfold.cli.errors import InvalidInputError
from sevenfold.cli.invocation import Invocation, operator_command
from sevenfold.cli.output import Column

MAX_PUBLIC_KEY_BYTES = 1000
PATH = "/manufacturing/trusted-keys"
KEY_COLUMNS = (
    Column("NAME", "name"),
    Column("KEY ID", "id"),
    Column("TRUSTED", "created_at"),
)
KEY_FIELDS = (
    Column("Name", "name"),
    Column("Key ID", "id"),
    Column("Trusted", "created_at"),
    Column("Public key", "public_key_pem"),
)


@click.group("manufacturer-key")
def manufacturer_key_group() -> None:
    """Manufacturer keys the service trusts to vouch for device registrations."""


@manufacturer_key_group.command("trust")
@operator_command
@click.option("--name", required=True, help="Who holds the key (a factory, a line).")
@click.option(
    "--public-key",
    "public_key",
    type=click.File("r"),
    required=True,
    help="The Ed25519 public key PEM ('-': stdin).",
)
def trust_key(run: Invocation, name: str, public_key: IO[str]) -> None:
    """Trust a manufacturer's public key (its key ID is computed by the service)."""
    pem = public_key.read(MAX_PUBLIC_KEY_BYTES + 1)
    if len(pem) > MAX_PUBLIC_KEY_BYTES:
        raise InvalidInputError("the public key file is too large for a PEM key")
    key = run.client.call("POST", PATH, json={"name": name, "public_key_pem": pem})
    run.printer.record(key, KEY_FIELDS)


@manufacturer_key_group.command("list")
@operator_command
def list_keys(run: Invocation) -> None:
    """List the trusted manufacturer keys."""
    run.printer.listing(run.client.call("GET", PATH), KEY_COLUMNS)


@manufacturer_key_group.command("show")
@operator_command
@click.argument("key_id")
def show_key(run: Invocation, key_id: str) -> None:
    """Show one trusted key."""
    run.printer.record(run.client.call("GET", f"{PATH}/{_key_id(key_id)}"), KEY_FIELDS)


@manufacturer_key_group.command("remove")
@operator_command
@click.argument("key_id")
def remove_key(run: Invocation, key_id: str) -> None:
    """Stop trusting a key (devices it registered stay registered)."""
    found = run.client.call("GET", f"{PATH}/{_key_id(key_id)}")
    run.client.call("DELETE", f"{PATH}/{found['id']}")
    run.printer.deleted(found)


def _key_id(text: str) -> str:
    key_id = text.strip().lower()
    if len(key_id) != 64 or any(c not in "0123456789abcdef" for c in key_id):
        raise InvalidInputError("a key ID is 64 hexadecimal characters")
    return key_id
