"""``sevenfold agent show-failures``: the failure records waiting on the device
(``agent.failure_queue``), read without changing the journal."""

import json
from pathlib import Path
from typing import Any

import click

from sevenfold.agent.commands import output_option, state_dir_option
from sevenfold.agent.errors import FailureQueueError
from sevenfold.agent.failure_queue import FailureSnapshot, read_failures


def failures_record(snapshot: FailureSnapshot) -> dict[str, Any]:
    """The printable form: every pending record (``sealed``: in an upload batch,
    waiting for the service's acknowledgement) and the dropped counter."""
    return {
        "pending": len(snapshot.records),
        "sealed": len(snapshot.sealed_ids),
        "dropped_total": snapshot.dropped_total,
        "records": [
            event.to_json() | {"sealed": event.event_id in snapshot.sealed_ids}
            for event in snapshot.records
        ],
    }


@click.command("show-failures")
@state_dir_option
@output_option
def show_failures_command(state_dir: Path, output: str) -> None:
    """Show the failure records not yet acknowledged by the service."""
    try:
        record = failures_record(read_failures(state_dir))
    except FailureQueueError as err:
        raise click.ClickException(str(err)) from err
    if output == "json":
        click.echo(json.dumps(record, sort_keys=True, indent=2))
        return
    click.echo(f"pending        {record['pending']}")
    click.echo(f"sealed         {record['sealed']}")
    click.echo(f"dropped_total  {record['dropped_total']}")
    for event in record["records"]:
        mark = "sealed" if event["sealed"] else "open"
        click.echo(
            f"{event['event_id']}  {event['kind']}  x{event['count']}  "
            f"{event['first_at']} .. {event['last_at']}  {mark}  "
            f"{event['description']}".rstrip()
        )
