"""``sevenfold device enable-development|enable-cloud-test|capability show``:
signed per-device capability grants (PRODUCT.md "Device capabilities").

``--out FILE`` writes the signed grant for ``sevenfold agent capability apply``
on the device (as Azure Sphere's CLI applies a capability file over USB).
"""

import json
from pathlib import Path
from typing import Any

import click

from sevenfold.cli.device_lists import read_device_ids
from sevenfold.cli.errors import CliError
from sevenfold.cli.files import write_atomically
from sevenfold.cli.invocation import Invocation, operator_command
from sevenfold.cli.output import Column

GRANT_FIELDS = (
    Column("Device", "device_id"),
    Column("Capabilities", lambda grant: ", ".join(grant["capabilities"]) or "none"),
    Column("Issued", "issued_at"),
)
output_option = click.option(
    "--out",
    "output_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the signed grant here, for `sevenfold agent capability apply`.",
)


def _canonical(device_id: str) -> str:
    (canonical,) = read_device_ids([device_id], None, source="argument")
    return canonical


def _show(run: Invocation, grant: dict[str, Any], output_path: Path | None) -> None:
    if output_path is not None:
        document = json.dumps(grant["signed"], indent=2, sort_keys=True) + "\n"
        try:
            write_atomically(output_path, document.encode())
        except OSError as err:
            raise CliError(f"cannot write {output_path}: {err.strerror}") from err
    run.printer.record(grant, GRANT_FIELDS)


@click.command("enable-development")
@operator_command
@click.argument("device_id")
@output_option
def enable_development(
    run: Invocation, device_id: str, output_path: Path | None
) -> None:
    """Grant app-development: the device takes sideloaded apps, no cloud apps."""
    grant = run.client.call(
        "POST", f"/devices/{_canonical(device_id)}/enable-development"
    )
    _show(run, grant, output_path)


@click.command("enable-cloud-test")
@operator_command
@click.argument("device_id")
@output_option
def enable_cloud_test(
    run: Invocation, device_id: str, output_path: Path | None
) -> None:
    """Take the device's capabilities away: cloud app deployments apply again."""
    grant = run.client.call(
        "POST", f"/devices/{_canonical(device_id)}/enable-cloud-test"
    )
    _show(run, grant, output_path)


@click.group("capability")
def capability_group() -> None:
    """A device's signed capability grant."""


@capability_group.command("show")
@operator_command
@click.argument("device_id")
@output_option
def show_capability(run: Invocation, device_id: str, output_path: Path | None) -> None:
    """Show the device's newest grant."""
    grant = run.client.call("GET", f"/devices/{_canonical(device_id)}/capabilities")
    _show(run, grant, output_path)


DEVICE_CAPABILITY_COMMANDS: tuple[click.Command, ...] = (
    enable_development,
    enable_cloud_test,
    capability_group,
)
