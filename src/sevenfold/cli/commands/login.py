"""``sevenfold login`` and ``logout``: save or forget the server URL and API token.

The token is read from stdin (a hidden prompt on a terminal), never from an option,
so it stays out of ``ps`` and the shell history. It is checked against the service
before it is saved.
"""

import os
import sys
from pathlib import Path

import click

from sevenfold.cli.client import DEFAULT_TIMEOUT_S, ServiceClient
from sevenfold.cli.errors import AuthError, InvalidInputError
from sevenfold.cli.invocation import ca_file_option, output_option, profile_option
from sevenfold.cli.output import Column, OutputFormat, Printer
from sevenfold.cli.profile import (
    Profile,
    default_profile_path,
    delete_profile,
    save_profile,
)

MAX_TOKEN_CHARS = 512


def _read_token() -> str:
    if sys.stdin.isatty():
        token = str(click.prompt("API token", hide_input=True))
    else:
        token = sys.stdin.readline(MAX_TOKEN_CHARS + 1)
    token = token.strip()
    if not token:
        raise InvalidInputError("no API token on stdin")
    if len(token) > MAX_TOKEN_CHARS or not token.isprintable():
        raise InvalidInputError("that is not an API token")
    return token


@click.command("login")
@click.option(
    "--server",
    required=True,
    envvar="SEVENFOLD_SERVER",
    help="Service URL, e.g. https://sevenfold.example.com:8443.",
)
@profile_option
@ca_file_option
@output_option
def login_command(
    server: str, profile_file: Path | None, ca_file: Path | None, output: str
) -> None:
    """Check an API token (read from stdin) and save it with the server URL."""
    if not server.startswith(("http://", "https://")):
        raise InvalidInputError("--server must be an http:// or https:// URL")
    token = _read_token()
    with ServiceClient(
        server, token, timeout_s=DEFAULT_TIMEOUT_S, ca_file=ca_file
    ) as client:
        try:
            tenants = client.call("GET", "/tenants")
        except AuthError as err:
            raise AuthError(f"the service refused this token: {err.message}") from err
    path = profile_file or default_profile_path(os.environ)
    save_profile(path, Profile(server_url=client.server_url, token=token))
    result = {"server_url": client.server_url, "profile": str(path), "tenants": tenants}
    printer = Printer(OutputFormat(output))
    if printer.format is OutputFormat.JSON:
        printer.record(result, [])
        return
    printer.note(f"Logged in to {client.server_url}; profile saved to {path}.")
    printer.listing(tenants, [Column("TENANT", "name"), Column("ID", "id")])


@click.command("logout")
@profile_option
@output_option
def logout_command(profile_file: Path | None, output: str) -> None:
    """Forget the saved server URL and token."""
    path = profile_file or default_profile_path(os.environ)
    removed = delete_profile(path)
    printer = Printer(OutputFormat(output))
    if printer.format is OutputFormat.JSON:
        printer.record({"profile": str(path), "removed": removed}, [])
    else:
        printer.note(f"Removed {path}." if removed else f"No profile at {path}.")
