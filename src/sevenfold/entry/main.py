"""The ``sevenfold`` console script."""

import click

from sevenfold import __version__
from sevenfold.agent.capability_commands import capability_group
from sevenfold.agent.commands import agent_group
from sevenfold.agent.factory import factory_group
from sevenfold.agent.failure_commands import show_failures_command
from sevenfold.cli.commands import OPERATOR_COMMANDS
from sevenfold.entry.demo import demo_command
from sevenfold.service.commands import SERVICE_COMMANDS


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sevenfold")
def root() -> None:
    """Sevenfold: secure a fleet of Linux IoT devices."""


for _command in (*SERVICE_COMMANDS, *OPERATOR_COMMANDS):
    root.add_command(_command)
root.add_command(demo_command)
agent_group.add_command(capability_group)
agent_group.add_command(show_failures_command)
root.add_command(agent_group)
root.add_command(factory_group)


def main() -> None:
    """Run the console script."""
    root()
