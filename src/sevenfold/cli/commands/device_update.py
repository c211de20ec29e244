"""``sevenfold device update|show-deployment-status`` and ``sevenfold device image
list-installed|list-targeted``: a device's updates as the service sees them."""

from typing import Any

import click

from sevenfold.cli.device_lists import read_device_ids
from sevenfold.cli.errors import InvalidInputError
from sevenfold.cli.invocation import Invocation, operator_command
from sevenfold.cli.output import Column

STATUS_FIELDS = (
    Column("Device", "device_id"),
    Column("State", "state"),
    Column("OS version", "os_version"),
    Column("Detail", "detail"),
    Column("Reported", "reported_at"),
    Column("Last check", "last_check_at"),
    Column("Check requested", "check_requested_at"),
    Column("Director targets version", "director_targets_version"),
    Column("Installed images", lambda status: len(status["installed"])),
    Column("Targeted images", lambda status: len(status["targeted"])),
)
IMAGE_COLUMNS = (
    Column("KIND", "kind"),
    Column("COMPONENT", "component_id"),
    Column("IMAGE", "image_id"),
    Column("VERSION", "version"),
    Column("SHA-256", "sha256"),
)


def _canonical(device_id: str) -> str:
    (canonical,) = read_device_ids([device_id], None, source="argument")
    return canonical


def _status(run: Invocation, device_id: str) -> dict[str, Any]:
    status: dict[str, Any] = run.client.call(
        "GET", f"/devices/{_canonical(device_id)}/update-status"
    )
    return status


@click.command("update")
@operator_command
@click.argument("device_id")
@click.option(
    "--check-now",
    is_flag=True,
    help="Ask the device to check for updates at its next status report.",
)
def update_device(run: Invocation, device_id: str, check_now: bool) -> None:
    """Act on a device's updates (now: ask it to check at once)."""
    if not check_now:
        raise InvalidInputError("say what to do: --check-now")
    answer = run.client.call(
        "POST", f"/devices/{_canonical(device_id)}/update-check-requests"
    )
    run.printer.record(
        answer,
        (
            Column("Device", "device_id"),
            Column("Check requested", "check_requested_at"),
        ),
    )


@click.command("show-deployment-status")
@operator_command
@click.argument("device_id")
def show_deployment_status(run: Invocation, device_id: str) -> None:
    """What a device last reported about its updates, and when it last checked."""
    run.printer.record(_status(run, device_id), STATUS_FIELDS)


@click.group("image")
def device_image_group() -> None:
    """The images a device runs, and those the service targets it with."""


@device_image_group.command("list-installed")
@operator_command
@click.argument("device_id")
def list_installed(run: Invocation, device_id: str) -> None:
    """The images the device last reported running."""
    run.printer.listing(_status(run, device_id)["installed"], IMAGE_COLUMNS)


@device_image_group.command("list-targeted")
@operator_command
@click.argument("device_id")
def list_targeted(run: Invocation, device_id: str) -> None:
    """The images the director last signed for the device."""
    run.printer.listing(_status(run, device_id)["targeted"], IMAGE_COLUMNS)


DEVICE_UPDATE_COMMANDS: tuple[click.Command, ...] = (
    update_device,
    show_deployment_status,
    device_image_group,
)
"""Registered on ``sevenfold device``."""
