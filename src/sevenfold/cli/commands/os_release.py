"""``sevenfold os-release publish|list|show|promote|cancel|withdraw``.

OS releases are platform data (docs/updates.md §3): the platform administrator
publishes an uploaded OS image to ``retail-eval`` and moves it on; every operator can
read them. An invalid move is refused by the service (``invalid-release-transition``,
exit code 5) and changes nothing.
"""

import click

from sevenfold.cli.invocation import Invocation, operator_command
from sevenfold.cli.output import Column
from sevenfold.protocol.updates import ReleaseAction, ReleaseState

PATH = "/os-releases"
MAX_EVAL_WINDOW_DAYS = 90
RELEASE_COLUMNS = (
    Column("VERSION", "version"),
    Column("ID", "id"),
    Column("STATE", "effective_state"),
    Column("PUBLISHED", "published_at"),
    Column("PROMOTE AT", "promote_at"),
)
RELEASE_FIELDS = (
    Column("Version", "version"),
    Column("ID", "id"),
    Column("State", "effective_state"),
    Column("Stored state", "state"),
    Column("Image", "image_id"),
    Column("Published", "published_at"),
    Column("Promote at", "promote_at"),
    Column("Promoted", "promoted_at"),
    Column("Cancelled", "cancelled_at"),
    Column("Withdrawn", "withdrawn_at"),
    Column("Reason", "reason"),
    Column("Review flagged", "review_flagged_at"),
    Column("Review reason", "review_reason"),
)
DETAIL_FIELDS = (
    *RELEASE_FIELDS,
    Column("Image SHA-256", "image_sha256"),
    Column(
        "Devices",
        lambda item: (
            ", ".join(
                f"{state}: {count}"
                for state, count in sorted(item.get("device_counts", {}).items())
            )
            or "none"
        ),
    ),
)


@click.group("os-release")
def os_release_group() -> None:
    """OS releases on the retail-eval and retail feeds (platform administrators)."""


@os_release_group.command("publish")
@operator_command
@click.argument("image_id")
@click.option(
    "--eval-window-days",
    type=click.IntRange(0, MAX_EVAL_WINDOW_DAYS),
    default=None,
    help="Days in retail-eval before automatic promotion (0: an urgent fix); "
    "the service's default when absent.",
)
@click.option("--note", default=None, help="Why this release (kept in the audit).")
def publish_release(
    run: Invocation, image_id: str, eval_window_days: int | None, note: str | None
) -> None:
    """Publish an uploaded platform OS image to retail-eval."""
    body: dict[str, object] = {"image_id": image_id}
    if eval_window_days is not None:
        body["eval_window_days"] = eval_window_days
    if note is not None:
        body["note"] = note
    run.printer.record(run.client.call("POST", PATH, json=body), RELEASE_FIELDS)


@os_release_group.command("list")
@operator_command
@click.option(
    "--state",
    type=click.Choice([state.value for state in ReleaseState]),
    default=None,
    help="Only releases in this (effective) state.",
)
def list_releases(run: Invocation, state: str | None) -> None:
    """List OS releases, newest version first."""
    releases = run.client.call("GET", PATH, params={"state": state})
    run.printer.listing(releases, RELEASE_COLUMNS)


@os_release_group.command("show")
@operator_command
@click.argument("release_id")
def show_release(run: Invocation, release_id: str) -> None:
    """Show a release and your devices running it, by update state."""
    run.printer.record(run.client.call("GET", f"{PATH}/{release_id}"), DETAIL_FIELDS)


def _move(
    run: Invocation, release_id: str, action: ReleaseAction, reason: str | None
) -> None:
    body = {"reason": reason} if reason is not None else {}
    release = run.client.call("POST", f"{PATH}/{release_id}/{action.value}", json=body)
    run.printer.record(release, RELEASE_FIELDS)


@os_release_group.command("promote")
@operator_command
@click.argument("release_id")
@click.option("--reason", default=None, help="Why now (kept in the audit).")
def promote_release(run: Invocation, release_id: str, reason: str | None) -> None:
    """Promote a retail-eval release to retail before its window ends."""
    _move(run, release_id, ReleaseAction.PROMOTE, reason)


@os_release_group.command("cancel")
@operator_command
@click.argument("release_id")
@click.option("--reason", required=True, help="Why (kept in the audit).")
def cancel_release(run: Invocation, release_id: str, reason: str) -> None:
    """Cancel a retail-eval release (its version is never reused)."""
    _move(run, release_id, ReleaseAction.CANCEL, reason)


@os_release_group.command("withdraw")
@operator_command
@click.argument("release_id")
@click.option("--reason", required=True, help="Why (kept in the audit).")
def withdraw_release(run: Invocation, release_id: str, reason: str) -> None:
    """Withdraw a retail release: no device is offered it any more."""
    _move(run, release_id, ReleaseAction.WITHDRAW, reason)
