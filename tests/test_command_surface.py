"""Every `sevenfold` command takes `--output table|json` (issue 2, docs/cli.md)."""

import click

from sevenfold.entry.main import root


def _leaf_commands(
    group: click.Group, path: tuple[str, ...] = ()
) -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found |= _leaf_commands(command, (*path, name))
        else:
            found[" ".join((*path, name))] = command
    return found


def test_every_command_takes_output_table_or_json() -> None:
    commands = _leaf_commands(root)
    assert len(commands) > 40
    missing = []
    for name, command in commands.items():
        option = next((p for p in command.params if "--output" in p.opts), None)
        choices = getattr(option.type, "choices", ()) if option is not None else ()
        if sorted(choices) != ["json", "table"]:
            missing.append(name)
    assert missing == []
