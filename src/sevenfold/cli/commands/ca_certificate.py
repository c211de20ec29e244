"""``sevenfold ca-certificate list|download|download-chain``: the tenant CA.

A customer's cloud (an MQTT broker's ``cafile``) trusts the tenant's devices through
these certificates. Downloads are written atomically: a broker reading the file sees
the old bundle or the new one, never half of one.
"""

from pathlib import Path
from typing import Any

import click

from sevenfold.cli.errors import CliError, NotFoundError
from sevenfold.cli.files import write_atomically
from sevenfold.cli.invocation import Invocation, operator_command
from sevenfold.cli.output import Column

PEM_BEGIN = b"-----BEGIN CERTIFICATE-----"

CA_COLUMNS = (
    Column("ID", "id"),
    Column("STATUS", "status"),
    Column("IN CHAIN", "in_chain"),
    Column("NOT BEFORE", "not_before"),
    Column("NOT AFTER", "not_after"),
    Column("ACTIVATES", "activates_at"),
    Column("SHA-256", "thumbprint_sha256"),
)
DOWNLOAD_FIELDS = (
    Column("Wrote", "path"),
    Column("CA", "id"),
    Column("Format", "format"),
    Column("SHA-256", "thumbprint_sha256"),
)
CHAIN_FIELDS = (Column("Wrote", "path"), Column("Certificates", "certificates"))

destination_option = click.option(
    "--destination",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="File to write (replaced atomically).",
)


def _write(path: Path, data: bytes) -> None:
    try:
        write_atomically(path, data)
    except OSError as err:
        raise CliError(f"cannot write {path}: {err.strerror or err}") from err


@click.group("ca-certificate")
def ca_certificate_group() -> None:
    """The tenant CA's certificates, which devices' certificates chain to."""


@ca_certificate_group.command("list")
@operator_command
def list_ca_certificates(run: Invocation) -> None:
    """List the tenant's CA certificates, newest first (active, next, retired)."""
    run.printer.listing(run.client.call("GET", "/ca-certificates"), CA_COLUMNS)


@ca_certificate_group.command("download")
@operator_command
@click.argument("ca_id", required=False)
@destination_option
@click.option(
    "--format",
    "certificate_format",
    type=click.Choice(["pem", "der"]),
    default="pem",
    show_default=True,
)
def download_ca_certificate(
    run: Invocation, ca_id: str | None, destination: Path, certificate_format: str
) -> None:
    """Download one CA certificate (default: the active one)."""
    cas: list[dict[str, Any]] = run.client.call("GET", "/ca-certificates")
    if ca_id is None:
        chosen = next((ca for ca in cas if ca["status"] == "active"), None)
        if chosen is None:
            raise NotFoundError("the tenant has no active CA certificate")
    else:
        chosen = next((ca for ca in cas if ca["id"] == ca_id), None)
        if chosen is None:
            raise NotFoundError(f"no CA certificate '{ca_id}' in this tenant")
    data = run.client.download(
        f"/ca-certificates/{chosen['id']}", params={"format": certificate_format}
    )
    _write(destination, data)
    run.printer.record(
        {
            "id": chosen["id"],
            "path": str(destination),
            "format": certificate_format,
            "thumbprint_sha256": chosen["thumbprint_sha256"],
        },
        DOWNLOAD_FIELDS,
    )


@ca_certificate_group.command("download-chain")
@operator_command
@destination_option
def download_ca_chain(run: Invocation, destination: Path) -> None:
    """Download every CA certificate valid now as one PEM bundle (a broker's cafile)."""
    data = run.client.download("/ca-certificates/chain")
    _write(destination, data)
    run.printer.record(
        {"path": str(destination), "certificates": data.count(PEM_BEGIN)},
        CHAIN_FIELDS,
    )
