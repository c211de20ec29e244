"""``sevenfold token create|list|revoke``: the tenant's API tokens."""

import click

from sevenfold.cli.invocation import Invocation, operator_command
from sevenfold.cli.output import Column
from sevenfold.protocol.vocabulary import PlatformRole, Role

TOKEN_COLUMNS = (
    Column("NAME", "name"),
    Column("ROLE", lambda token: token["role"] or token["platform_role"]),
    Column("ID", "id"),
    Column("EXPIRES", "expires_at"),
    Column("REVOKED", "revoked_at"),
)
TOKEN_FIELDS = (
    Column("Name", "name"),
    Column("ID", "id"),
    Column("Role", "role"),
    Column("Platform role", "platform_role"),
    Column("Tenant", "tenant_id"),
    Column("Created", "created_at"),
    Column("Expires", "expires_at"),
    Column("Revoked", "revoked_at"),
)


@click.group("token")
def token_group() -> None:
    """API tokens: each has a role and an expiry; only a hash is kept."""


@token_group.command("create")
@operator_command
@click.option("--name", required=True, help="What the token is for.")
@click.option(
    "--role",
    type=click.Choice([role.value for role in Role]),
    default=None,
    help="Tenant role [default: reader, unless --platform-role is given].",
)
@click.option(
    "--platform-role",
    type=click.Choice([role.value for role in PlatformRole]),
    default=None,
    help="Platform role (platform administrators only), e.g. manufacturer.",
)
@click.option(
    "--expires-in-days",
    type=click.IntRange(1, 730),
    default=90,
    show_default=True,
)
def create_token(
    run: Invocation,
    name: str,
    role: str | None,
    platform_role: str | None,
    expires_in_days: int,
) -> None:
    """Create a token and print its text (once)."""
    if role is None and platform_role is None:
        role = Role.READER.value
    token = run.client.call(
        "POST",
        "/tokens",
        json={
            "name": name,
            "role": role,
            "platform_role": platform_role,
            "expires_in_days": expires_in_days,
        },
    )
    run.printer.record_with_secret(token, TOKEN_FIELDS, shown_once="token")


@token_group.command("list")
@operator_command
def list_tokens(run: Invocation) -> None:
    """List the tenant's tokens (never their secrets)."""
    run.printer.listing(run.client.call("GET", "/tokens"), TOKEN_COLUMNS)


@token_group.command("revoke")
@operator_command
@click.argument("token_id")
def revoke_token(run: Invocation, token_id: str) -> None:
    """Revoke a token; it stops working at once."""
    run.printer.record(run.client.call("DELETE", f"/tokens/{token_id}"), TOKEN_FIELDS)
