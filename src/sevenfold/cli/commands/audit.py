"""``sevenfold audit list``: the tenant's append-only audit log, newest first."""

import itertools
from typing import Any

import click

from sevenfold.cli.invocation import Invocation, operator_command
from sevenfold.cli.output import Column

AUDIT_COLUMNS = (
    Column("AT", "at"),
    Column("ACTOR", "actor_name"),
    Column("ACTION", "action"),
    Column("TARGET", lambda event: f"{event['target_type']}:{event['target_id']}"),
    Column("FROM", "source_ip"),
)


@click.group("audit")
def audit_group() -> None:
    """The audit log: who changed what, when, from where."""


@audit_group.command("list")
@operator_command
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
def list_audit_events(run: Invocation, max_items: int, everything: bool) -> None:
    """List audit events, newest first."""
    events = itertools.chain.from_iterable(run.client.pages("/audit-events"))
    chosen: list[dict[str, Any]] = list(
        events if everything else itertools.islice(events, max_items)
    )
    run.printer.listing(chosen, AUDIT_COLUMNS)
