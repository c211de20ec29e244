"""What every operator command is given: a connected client and a printer.

:func:`operator_command` adds the options every operator command shares
(``--output``, ``--server``, ``--profile-file``, ``--ca-file``, ``--timeout-s``),
builds the :class:`Invocation` once from them, the environment and the saved profile,
and passes it to the command as its first argument. The API token is never an option
(it would show in ``ps`` and shell history): it comes from the profile that
``sevenfold login`` saved, or from ``$SEVENFOLD_TOKEN`` for automation.
"""

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec

import click

from sevenfold.cli.client import DEFAULT_TIMEOUT_S, ServiceClient
from sevenfold.cli.output import OutputFormat, Printer
from sevenfold.cli.profile import default_profile_path, load_profile

P = ParamSpec("P")
TOKEN_ENV = "SEVENFOLD_TOKEN"  # noqa: S105 - the variable's name, not a secret


@dataclass(frozen=True, slots=True)
class Invocation:
    """A command's connection to the service and its way of printing."""

    client: ServiceClient
    printer: Printer


output_option = click.option(
    "--output",
    "-o",
    "output",
    type=click.Choice([choice.value for choice in OutputFormat]),
    default=OutputFormat.TABLE.value,
    show_default=True,
    help="Table for people, JSON for scripts (documented in docs/cli.md).",
)
server_option = click.option(
    "--server",
    envvar="SEVENFOLD_SERVER",
    help="Service URL [default: the profile's; env SEVENFOLD_SERVER].",
)
profile_option = click.option(
    "--profile-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="SEVENFOLD_PROFILE",
    help="Login profile [default: ~/.config/sevenfold/profile.json].",
)
ca_file_option = click.option(
    "--ca-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    envvar="SEVENFOLD_CA_FILE",
    help="CA bundle that signs the service's TLS certificate [default: system's].",
)
timeout_option = click.option(
    "--timeout-s",
    type=click.FloatRange(min=0.1, max=3600),
    default=DEFAULT_TIMEOUT_S,
    show_default=True,
    help="Timeout of each request, in seconds.",
)


def connect(
    *,
    server: str | None,
    profile_file: Path | None,
    ca_file: Path | None,
    timeout_s: float,
) -> ServiceClient:
    """Open a client from the options, ``$SEVENFOLD_TOKEN`` and the saved profile.

    Raises:
        AuthError: no token anywhere (not logged in).
    """
    token = os.environ.get(TOKEN_ENV) or None
    if token is None or server is None:
        profile = load_profile(profile_file or default_profile_path(os.environ))
        token = token or profile.token
        server = server or profile.server_url
    return ServiceClient(server, token, timeout_s=timeout_s, ca_file=ca_file)


def operator_command(
    command: Callable[Concatenate[Invocation, P], None],
) -> Callable[..., None]:
    """Give a command the shared options and call it with an :class:`Invocation`."""

    @functools.wraps(command)
    def run(
        *args: Any,
        output: str,
        server: str | None,
        profile_file: Path | None,
        ca_file: Path | None,
        timeout_s: float,
        **kwargs: Any,
    ) -> None:
        printer = Printer(OutputFormat(output))
        with connect(
            server=server,
            profile_file=profile_file,
            ca_file=ca_file,
            timeout_s=timeout_s,
        ) as client:
            command(Invocation(client, printer), *args, **kwargs)

    for option in (
        timeout_option,
        ca_file_option,
        profile_option,
        server_option,
        output_option,
    ):
        run = option(run)
    return run
