"""``sevenfold agent capability apply|show``: the device's signed capability grant
(``agent.capabilities``)."""

import json
from pathlib import Path
from typing import Any

import click

from sevenfold.agent.capabilities import CapabilityStore
from sevenfold.agent.commands import output_option, state_dir_option
from sevenfold.agent.errors import CapabilityError, StateCorruptError
from sevenfold.agent.state import StateStore, read_bounded
from sevenfold.protocol.capabilities import MAX_CAPABILITY_BYTES, CapabilityGrant


@click.group("capability")
def capability_group() -> None:
    """The device's capability grant (app-development, field-servicing)."""


def _store(state_dir: Path) -> CapabilityStore:
    try:
        state = StateStore(state_dir).read_state()
    except StateCorruptError as err:
        raise click.ClickException(f"agent state is corrupt: {err}") from err
    if state is None:
        raise click.ClickException(
            f"no agent state in {state_dir}; run `sevenfold agent init`"
        )
    return CapabilityStore(state_dir, state.device_id)


def _record(grant: CapabilityGrant | None) -> dict[str, Any]:
    if grant is None:
        return {"capabilities": [], "issued_at": None}
    return {
        "capabilities": sorted(kind.value for kind in grant.capabilities),
        "issued_at": grant.issued_at.isoformat(),
    }


def _print(record: dict[str, Any], output: str) -> None:
    if output == "json":
        click.echo(json.dumps(record, sort_keys=True))
        return
    click.echo(f"capabilities  {', '.join(record['capabilities']) or 'none'}")
    click.echo(f"issued_at     {record['issued_at'] or ''}".rstrip())


@capability_group.command("apply")
@state_dir_option
@click.argument(
    "grant_file", type=click.Path(dir_okay=False, exists=True, path_type=Path)
)
@output_option
def apply_command(state_dir: Path, grant_file: Path, output: str) -> None:
    """Check a signed grant (from `sevenfold device enable-development --out`) and
    put it in force."""
    try:
        data = read_bounded(grant_file, MAX_CAPABILITY_BYTES)
    except StateCorruptError as err:
        raise click.ClickException(str(err)) from err
    try:
        grant = _store(state_dir).apply(data or b"")
    except CapabilityError as err:
        raise click.ClickException(str(err)) from err
    except OSError as err:
        raise click.ClickException(f"cannot save the grant: {err.strerror}") from err
    _print(_record(grant), output)


@capability_group.command("show")
@state_dir_option
@output_option
def show_command(state_dir: Path, output: str) -> None:
    """Show the grant in force (checked again; a grant that no longer verifies
    counts as none)."""
    _print(_record(_store(state_dir).current()), output)
