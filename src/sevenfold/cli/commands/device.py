"""``sevenfold device register|claim|list|show|move|revoke``."""

import itertools
import sys
from typing import IO, Any

import click

from sevenfold.cli.bulk_claim import bulk_claim
from sevenfold.cli.client import ServiceClient
from sevenfold.cli.device_lists import read_device_ids
from sevenfold.cli.errors import CliError
from sevenfold.cli.invocation import Invocation, operator_command
from sevenfold.cli.output import Column, OutputFormat
from sevenfold.cli.registration_records import read_records
from sevenfold.cli.resolve import device_group_id, find_product
from sevenfold.protocol.registration import MAX_RECORDS_PER_REQUEST
from sevenfold.protocol.vocabulary import DeviceStatus

DEVICE_FIELDS = (
    Column("ID", "id"),
    Column("Status", "status"),
    Column("Product", "product_id"),
    Column("Device group", "device_group_id"),
    Column("Registered", "registered_at"),
    Column("Claimed", "claimed_at"),
    Column("Revoked", "revoked_at"),
)
CLAIM_RESULT_COLUMNS = (
    Column("DEVICE", "item"),
    Column("OUTCOME", "outcome"),
    Column("DETAIL", "detail"),
)
file_option = click.option(
    "--file",
    "id_file",
    type=click.File("r"),
    default=None,
    help="Read device IDs from this file, one per line ('-': stdin).",
)


@click.group("device")
def device_commands() -> None:
    """Devices: register (factory), claim into the tenant, group, revoke."""


@device_commands.command("register")
@operator_command
@click.option(
    "--file",
    "records_file",
    type=click.File("r"),
    required=True,
    help="Signed registration records, JSON Lines ('-': stdin).",
)
def register_devices(run: Invocation, records_file: IO[str]) -> None:
    """Register devices from factory records (platform or manufacturer token).

    The records come from ``sevenfold factory provision``; the service accepts them
    only if a manufacturer key it trusts signed every one. Sent in batches of 1,000:
    a batch with one refused record registers nothing. Idempotent.
    """
    records = read_records(records_file, source=_source(records_file))
    registered = already = 0
    for start in range(0, len(records), MAX_RECORDS_PER_REQUEST):
        batch = records[start : start + MAX_RECORDS_PER_REQUEST]
        answer = run.client.call(
            "POST", "/manufacturing/device-registrations", json={"records": batch}
        )
        registered += int(answer["registered"])
        already += int(answer["already_registered"])
    run.printer.record(
        {"registered": registered, "already_registered": already},
        (
            Column("Registered", "registered"),
            Column("Already registered", "already_registered"),
        ),
    )


@device_commands.command("claim")
@operator_command
@click.argument("device_ids", nargs=-1)
@file_option
@click.option("--device-group", default=None, help='Group ID or "Product/Group".')
@click.option(
    "--wait-timeout-s",
    type=click.FloatRange(min=1),
    default=600.0,
    show_default=True,
    help="How long to wait for a bulk claim to finish.",
)
@click.option(
    "--poll-interval-s", type=click.FloatRange(min=0.01), default=0.5, hidden=True
)
def claim_devices(
    run: Invocation,
    device_ids: tuple[str, ...],
    id_file: IO[str] | None,
    device_group: str | None,
    wait_timeout_s: float,
    poll_interval_s: float,
) -> None:
    """Claim devices into this tenant: once, irreversibly.

    One ID claims at once; several (arguments, or --file) run as bulk claims of up to
    1,000 devices each, with a progress bar.
    """
    wanted = read_device_ids(device_ids, id_file, source=_source(id_file))
    group_id = device_group_id(run.client, device_group)
    if len(wanted) == 1 and id_file is None:
        body = {"device_group_id": group_id} if group_id else None
        device = run.client.call("POST", f"/devices/{wanted[0]}/claim", json=body)
        run.printer.record(device, DEVICE_FIELDS)
        return
    result = bulk_claim(
        run.client,
        wanted,
        device_group_id=group_id,
        timeout_s=wait_timeout_s,
        poll_interval_s=poll_interval_s,
    )
    if run.printer.format is OutputFormat.JSON:
        run.printer.record(result.as_json(), [])
    else:
        failed = [item for item in result.results if item["outcome"] != "claimed"]
        if failed:
            run.printer.listing(failed, CLAIM_RESULT_COLUMNS)
        counts = ", ".join(
            f"{count} {outcome}" for outcome, count in result.counts.items()
        )
        run.printer.note(f"Bulk claim {result.status.value}: {counts}.")
    if result.unclaimed:
        raise CliError(
            f"{result.unclaimed} of {result.total} devices were not claimed "
            "(see the per-device results)"
        )


def _source(id_file: IO[str] | None) -> str:
    if id_file is None:
        return "--file"
    return (
        "stdin" if id_file is sys.stdin or id_file.name == "<stdin>" else id_file.name
    )


@device_commands.command("list")
@operator_command
@click.option("--product", default=None, help="Only this product's (ID or name).")
@click.option(
    "--device-group", default=None, help='Only this group (ID or "Product/Group").'
)
@click.option("--status", type=click.Choice([status.value for status in DeviceStatus]))
@click.option(
    "--max-items",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many.",
)
def list_devices(
    run: Invocation,
    product: str | None,
    device_group: str | None,
    status: str | None,
    max_items: int | None,
) -> None:
    """List the tenant's devices in device-ID order (every page)."""
    params = {
        "product_id": _product_id(run.client, product),
        "device_group_id": device_group_id(run.client, device_group),
        "status": status,
    }
    devices = itertools.chain.from_iterable(run.client.pages("/devices", params=params))
    chosen = list(itertools.islice(devices, max_items))
    run.printer.listing(chosen, _device_columns(run, chosen))


def _product_id(client: ServiceClient, product: str | None) -> str | None:
    if product is None:
        return None
    return str(find_product(client, product)["id"])


def _device_columns(
    run: Invocation, devices: list[dict[str, Any]]
) -> tuple[Column, ...]:
    """Table columns; groups shown as "Product/Group" (tables only: 2 more calls)."""
    names: dict[str, str] = {}
    if run.printer.format is OutputFormat.TABLE and devices:
        products = {p["id"]: p["name"] for p in run.client.call("GET", "/products")}
        for group in run.client.call("GET", "/device-groups"):
            names[group["id"]] = (
                f"{products.get(group['product_id'], '?')}/{group['name']}"
            )
    return (
        Column("ID", "id"),
        Column("STATUS", "status"),
        Column("GROUP", lambda device: names.get(device["device_group_id"] or "", "")),
    )


@device_commands.command("show")
@operator_command
@click.argument("device_id")
def show_device(run: Invocation, device_id: str) -> None:
    """Show one device."""
    (canonical,) = read_device_ids([device_id], None, source="argument")
    run.printer.record(run.client.call("GET", f"/devices/{canonical}"), DEVICE_FIELDS)


@device_commands.command("move")
@operator_command
@click.argument("device_id")
@click.option("--device-group", required=True, help='Group ID or "Product/Group".')
def move_device(run: Invocation, device_id: str, device_group: str) -> None:
    """Move a device to another device group of its product."""
    (canonical,) = read_device_ids([device_id], None, source="argument")
    group_id = device_group_id(run.client, device_group)
    device = run.client.call(
        "PATCH", f"/devices/{canonical}", json={"device_group_id": group_id}
    )
    run.printer.record(device, DEVICE_FIELDS)


@device_commands.command("revoke")
@operator_command
@click.argument("device_id")
def revoke_device(run: Invocation, device_id: str) -> None:
    """Revoke a device: it gets no certificate and no update from now on."""
    (canonical,) = read_device_ids([device_id], None, source="argument")
    run.printer.record(
        run.client.call("POST", f"/devices/{canonical}/revoke"), DEVICE_FIELDS
    )
