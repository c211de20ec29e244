"""``sevenfold rollout create|show|list|pause|resume|abort``.

A rollout takes an OS release on one feed (platform administrator) or a deployment
(contributor) to devices in waves, and halts itself when too many of them fail
(docs/failures.md §3-4). ``--wave`` is given once per wave, in order: ``10%`` is a
percentage of the eligible devices, ``50`` a device count. An invalid move is
refused by the service (``invalid-rollout-transition``, exit code 5) and changes
nothing.
"""

import re
from datetime import datetime
from typing import Any

import click

from sevenfold.cli.errors import InvalidInputError, NotFoundError
from sevenfold.cli.invocation import Invocation, operator_command
from sevenfold.cli.output import Column, OutputFormat, render_table
from sevenfold.protocol.rollouts import RolloutAction, RolloutState
from sevenfold.protocol.vocabulary import OsFeed

PATH = "/rollouts"
_WAVE = re.compile(r"^([1-9][0-9]{0,7})(%?)$")
_DURATION = re.compile(r"^([0-9]{1,9})([smhd]?)$")
_SECONDS_PER_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}


def _target(item: dict[str, Any]) -> str:
    if item.get("deployment_id"):
        return f"deployment {item['deployment_id']}"
    return f"OS {item.get('os_release_version')} on {item.get('os_feed')}"


def _waves_summary(item: dict[str, Any]) -> str:
    waves = item.get("waves", [])
    opened = sum(1 for wave in waves if wave.get("opened_at"))
    return f"{opened}/{len(waves)} open"


ROLLOUT_COLUMNS = (
    Column("ID", "id"),
    Column("TARGET", _target),
    Column("STATE", "state"),
    Column("WAVES", _waves_summary),
    Column("CREATED", "created_at"),
)
ROLLOUT_FIELDS = (
    Column("ID", "id"),
    Column("Target", _target),
    Column("State", "state"),
    Column("Device group", "device_group_id"),
    Column("Created", "created_at"),
    Column("State changed", "state_changed_at"),
    Column("Judged since", "judged_since"),
    Column("Halted", "halted_at"),
    Column("Halt reason", "halt_reason"),
    Column("Counted kinds", lambda item: ", ".join(item["policy"]["counted_kinds"])),
    Column(
        "Halts above",
        lambda item: (
            f"{item['policy']['threshold_percent']:g} % failed "
            f"of at least {item['policy']['min_devices']} devices"
        ),
    ),
    Column("Crash window", lambda item: f"{item['policy']['crash_window_s']} s"),
    Column("Webhook delivered", "webhook_delivered_at"),
    Column("Webhook error", "webhook_error"),
)
WAVE_COLUMNS = (
    Column("WAVE", lambda wave: wave["position"] + 1),
    Column(
        "SIZE",
        lambda wave: f"{wave['size']}%" if wave["unit"] == "percent" else wave["size"],
    ),
    Column("SOAK S", "min_soak_s"),
    Column("EARLIEST START", "earliest_start_at"),
    Column("OPENED", "opened_at"),
    Column("DEVICES", "devices"),
    Column("RAN", "ran"),
    Column("SUCCEEDED", "succeeded"),
    Column("FAILED", "failed"),
)


def parse_wave(text: str) -> dict[str, Any]:
    """``10%`` -> a percentage wave, ``50`` -> a device count."""
    match = _WAVE.fullmatch(text.strip())
    if match is None:
        raise InvalidInputError(
            f"a wave is a device count (50) or a percentage (10%), not '{text}'"
        )
    return {"size": int(match[1]), "unit": "percent" if match[2] else "count"}


def parse_duration_s(text: str) -> int:
    """``90``, ``90s``, ``10m``, ``1h``, ``2d`` -> seconds."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise InvalidInputError(
            f"a duration is a number with s, m, h or d (1h), not '{text}'"
        )
    return int(match[1]) * _SECONDS_PER_UNIT[match[2]]


def _aware(text: str) -> str:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"--start is an ISO 8601 time, not '{text}'") from None
    if moment.tzinfo is None:
        raise InvalidInputError("--start needs a time zone (2026-12-01T08:00Z)")
    return moment.isoformat()


def _release_id(run: Invocation, version: str) -> str:
    for release in run.client.call("GET", "/os-releases"):
        if release["version"] == version or release["id"] == version:
            release_id: str = release["id"]
            return release_id
    raise NotFoundError(f"no OS release '{version}' [not-found]")


@click.group("rollout")
def rollout_group() -> None:
    """Rollouts of OS releases and deployments in waves, halted on failures."""


@rollout_group.command("create")
@operator_command
@click.option("--os-release", "os_release", default=None, help="OS release version.")
@click.option(
    "--feed",
    type=click.Choice([feed.value for feed in OsFeed]),
    default=None,
    help="The feed the OS release rolls out on (with --os-release).",
)
@click.option("--deployment", default=None, help="Deployment ID (instead).")
@click.option(
    "--wave",
    "waves",
    multiple=True,
    required=True,
    help="A wave, in order: a device count (50) or a percentage (10%).",
)
@click.option("--soak", default=None, help="Each wave's soak time (1h, 30m, 2d).")
@click.option("--start", default=None, help="Earliest start of the first wave (ISO).")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 100),
    default=None,
    help="Halt when more than this % of devices that ran the update failed.",
)
@click.option(
    "--min-devices",
    type=click.IntRange(1, 10_000_000),
    default=None,
    help="Judge only once this many devices ran the update.",
)
@click.option(
    "--count-kinds",
    default=None,
    help="Comma-separated failure kinds that count (default: all but network).",
)
@click.option("--crash-window", default=None, help="App crashes count within (1h).")
def create_rollout(
    run: Invocation,
    os_release: str | None,
    feed: str | None,
    deployment: str | None,
    waves: tuple[str, ...],
    soak: str | None,
    start: str | None,
    threshold: float | None,
    min_devices: int | None,
    count_kinds: str | None,
    crash_window: str | None,
) -> None:
    """Roll out an OS release on a feed or a deployment, in waves."""
    if (os_release is None) == (deployment is None):
        raise InvalidInputError("give --os-release with --feed, or --deployment")
    if os_release is not None and feed is None:
        raise InvalidInputError("--os-release needs --feed (retail-eval or retail)")
    wave_bodies = [parse_wave(wave) for wave in waves]
    for wave in wave_bodies:
        wave["min_soak_s"] = 0 if soak is None else parse_duration_s(soak)
    if start is not None:
        wave_bodies[0]["earliest_start_at"] = _aware(start)
    policy: dict[str, Any] = {}
    if threshold is not None:
        policy["threshold_percent"] = threshold
    if min_devices is not None:
        policy["min_devices"] = min_devices
    if count_kinds is not None:
        policy["counted_kinds"] = [k.strip() for k in count_kinds.split(",") if k]
    if crash_window is not None:
        policy["crash_window_s"] = parse_duration_s(crash_window)
    body: dict[str, Any] = {"waves": wave_bodies, "policy": policy}
    if os_release is not None:
        body["os_release_id"] = _release_id(run, os_release)
        body["os_feed"] = feed
    else:
        body["deployment_id"] = deployment
    _print_rollout(run, run.client.call("POST", PATH, json=body))


def _print_rollout(run: Invocation, rollout: dict[str, Any]) -> None:
    run.printer.record(rollout, ROLLOUT_FIELDS)
    if run.printer.format is OutputFormat.JSON:
        return
    click.echo("")
    click.echo(render_table(rollout["waves"], WAVE_COLUMNS))


@rollout_group.command("list")
@operator_command
@click.option(
    "--state",
    type=click.Choice([state.value for state in RolloutState]),
    default=None,
    help="Only rollouts in this state.",
)
def list_rollouts(run: Invocation, state: str | None) -> None:
    """List the rollouts you may see, newest first."""
    rollouts = run.client.call("GET", PATH, params={"state": state})
    run.printer.listing(rollouts, ROLLOUT_COLUMNS)


@rollout_group.command("show")
@operator_command
@click.argument("rollout_id")
def show_rollout(run: Invocation, rollout_id: str) -> None:
    """Show a rollout and its per-wave progress."""
    _print_rollout(run, run.client.call("GET", f"{PATH}/{rollout_id}"))


def _move(
    run: Invocation, rollout_id: str, action: RolloutAction, reason: str | None
) -> None:
    body = {"reason": reason} if reason is not None else {}
    rollout = run.client.call("POST", f"{PATH}/{rollout_id}/{action.value}", json=body)
    _print_rollout(run, rollout)


@rollout_group.command("pause")
@operator_command
@click.argument("rollout_id")
@click.option("--reason", default=None, help="Why (kept in the audit).")
def pause_rollout(run: Invocation, rollout_id: str, reason: str | None) -> None:
    """Pause a running rollout: no further device is offered its target."""
    _move(run, rollout_id, RolloutAction.PAUSE, reason)


@rollout_group.command("resume")
@operator_command
@click.argument("rollout_id")
@click.option("--reason", default=None, help="Why (kept in the audit).")
def resume_rollout(run: Invocation, rollout_id: str, reason: str | None) -> None:
    """Resume a paused (or halted) rollout; failures are counted afresh."""
    _move(run, rollout_id, RolloutAction.RESUME, reason)


@rollout_group.command("abort")
@operator_command
@click.argument("rollout_id")
@click.option("--reason", default=None, help="Why (kept in the audit).")
def abort_rollout(run: Invocation, rollout_id: str, reason: str | None) -> None:
    """Abort a rollout for good: no further device is offered its target."""
    _move(run, rollout_id, RolloutAction.ABORT, reason)
