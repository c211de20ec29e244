"""``sevenfold failure-event list|queue`` and ``sevenfold tenant
download-error-report``: the failures devices reported (docs/failures.md §2).

The filters are the service's: a device, a device group (ID or ``Product/Group``),
a product (ID or name), an OS release (ID or version), an image, a kind, and
``--since`` / ``--until`` on the event's last occurrence. The error report is
Azure Sphere's CSV; it is written atomically (a reader sees the old file or the new
one, whole) and never larger than ``MAX_REPORT_BYTES``.
"""

import csv
import functools
import io
import itertools
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import click

from sevenfold.cli.errors import CliError, InvalidInputError, NotFoundError
from sevenfold.cli.files import write_atomically
from sevenfold.cli.invocation import Invocation, operator_command
from sevenfold.cli.output import Column
from sevenfold.cli.resolve import device_group_id, find_product
from sevenfold.protocol.failures import FailureKind

EVENTS_PATH = "/failure-events"
REPORT_PATH = "/failure-events/report.csv"
MAX_REPORT_BYTES = 128 * 1024 * 1024
"""A report holds at most 100,000 events of a few hundred bytes each."""

EVENT_COLUMNS = (
    Column("LAST AT", "last_at"),
    Column("KIND", "kind"),
    Column("COUNT", "count"),
    Column("DEVICE", lambda event: str(event["device_id"])[:16] + "..."),
    Column("DESCRIPTION", "description"),
)
QUEUE_FIELDS = (
    Column("Device", "device_id"),
    Column("Dropped (total)", "dropped_total"),
    Column("Last upload", "last_upload_at"),
)
REPORT_FIELDS = (Column("Wrote", "path"), Column("Events", "events"))


def _time(option: str, text: str | None) -> str | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"{option} is an ISO 8601 time, not '{text}'") from None
    if moment.tzinfo is None:
        raise InvalidInputError(f"{option} needs a time zone (2026-11-01T00:00Z)")
    return moment.isoformat()


def _release_id(run: Invocation, reference: str | None) -> str | None:
    if reference is None:
        return None
    for release in run.client.call("GET", "/os-releases"):
        if reference in (release["version"], release["id"]):
            release_id: str = release["id"]
            return release_id
    raise NotFoundError(f"no OS release '{reference}' [not-found]")


def filter_options(command: Callable[..., None]) -> Callable[..., None]:
    """Add the filter options and pass the command one ``params`` mapping."""

    @functools.wraps(command)
    def run(
        invocation: Invocation,
        *args: Any,
        device: str | None,
        device_group: str | None,
        product: str | None,
        os_release: str | None,
        image: str | None,
        kind: str | None,
        since: str | None,
        until: str | None,
        **kwargs: Any,
    ) -> None:
        client = invocation.client
        params = {
            "device_id": device,
            "device_group_id": device_group_id(client, device_group),
            "product_id": None
            if product is None
            else find_product(client, product)["id"],
            "os_release_id": _release_id(invocation, os_release),
            "image_id": image,
            "kind": kind,
            "since": _time("--since", since),
            "until": _time("--until", until),
        }
        command(
            invocation,
            *args,
            params={key: value for key, value in params.items() if value is not None},
            **kwargs,
        )

    for option in reversed(
        (
            click.option("--device", default=None, help="Device ID."),
            click.option(
                "--device-group",
                default=None,
                help="Device group: ID or Product/Group.",
            ),
            click.option("--product", default=None, help="Product: ID or name."),
            click.option(
                "--os-release", default=None, help="OS release: ID or version."
            ),
            click.option("--image", default=None, help="Image ID."),
            click.option(
                "--kind",
                type=click.Choice([kind.value for kind in FailureKind]),
                default=None,
                help="What failed.",
            ),
            click.option(
                "--since", default=None, help="Last occurred at or after (ISO 8601)."
            ),
            click.option(
                "--until", default=None, help="Last occurred before (ISO 8601)."
            ),
        )
    ):
        run = option(run)
    return run


@click.group("failure-event")
def failure_event_group() -> None:
    """Failures devices reported: crashes, failed updates, rollbacks, refusals."""


@failure_event_group.command("list")
@operator_command
@filter_options
@click.option(
    "--max-items",
    type=click.IntRange(1, 1_000_000),
    default=100,
    show_default=True,
    help="How many events at most (newest first).",
)
@click.option(
    "--all", "everything", is_flag=True, help="Every event (ignores --max-items)."
)
def list_failure_events(
    run: Invocation, params: dict[str, str], max_items: int, everything: bool
) -> None:
    """List failure events, newest first."""
    events = itertools.chain.from_iterable(run.client.pages(EVENTS_PATH, params=params))
    chosen: list[dict[str, Any]] = list(
        events if everything else itertools.islice(events, max_items)
    )
    run.printer.listing(chosen, EVENT_COLUMNS)


@failure_event_group.command("queue")
@operator_command
@click.argument("device_id")
def show_failure_queue(run: Invocation, device_id: str) -> None:
    """Show how many failure records a device's full queue dropped (never sent)."""
    if not device_id.isalnum():
        raise InvalidInputError(f"'{device_id}' is not a device ID")
    run.printer.record(
        run.client.call("GET", f"/devices/{device_id}/failure-queue"), QUEUE_FIELDS
    )


@click.command("download-error-report")
@operator_command
@filter_options
@click.option(
    "--destination",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="CSV file to write (replaced atomically).",
)
def download_error_report(
    run: Invocation, params: dict[str, str], destination: Path
) -> None:
    """Download the tenant's error report (CSV, Azure Sphere's columns)."""
    path = f"{REPORT_PATH}?{urlencode(params)}" if params else REPORT_PATH
    received = bytearray()
    with run.client.stream("GET", path) as response:
        for chunk in response.iter_bytes():
            received += chunk
            if len(received) > MAX_REPORT_BYTES:
                raise CliError(
                    f"the report is larger than {MAX_REPORT_BYTES} bytes; "
                    "narrow it with filters"
                )
    try:
        write_atomically(destination, bytes(received))
    except OSError as err:
        raise CliError(f"cannot write {destination}: {err.strerror or err}") from err
    rows = csv.reader(io.StringIO(received.decode("utf-8", errors="replace")))
    events = max(0, sum(1 for _ in rows) - 1)  # less the header
    run.printer.record({"path": str(destination), "events": events}, REPORT_FIELDS)
