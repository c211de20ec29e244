"""``sevenfold tenant create|list|show``."""

import click

from sevenfold.cli.errors import InvalidInputError
from sevenfold.cli.invocation import Invocation, operator_command
from sevenfold.cli.output import Column

TENANT_COLUMNS = (
    Column("NAME", "name"),
    Column("ID", "id"),
    Column("CREATED", "created_at"),
)
TENANT_FIELDS = (
    Column("Name", "name"),
    Column("ID", "id"),
    Column("Created", "created_at"),
)


@click.group("tenant")
def tenant_group() -> None:
    """Tenants: the isolation boundary (platform administrators create them)."""


@tenant_group.command("create")
@operator_command
@click.option("--name", required=True, help="The new tenant's name.")
def create_tenant(run: Invocation, name: str) -> None:
    """Create a tenant and print its first administrator token (once)."""
    tenant = run.client.call("POST", "/tenants", json={"name": name})
    run.printer.record_with_secret(
        tenant, TENANT_FIELDS, shown_once="administrator_token"
    )


@tenant_group.command("list")
@operator_command
def list_tenants(run: Invocation) -> None:
    """List the tenants this token can see."""
    run.printer.listing(run.client.call("GET", "/tenants"), TENANT_COLUMNS)


@tenant_group.command("show")
@operator_command
@click.argument("tenant_id", required=False)
def show_tenant(run: Invocation, tenant_id: str | None) -> None:
    """Show a tenant (default: this token's own, when it sees exactly one)."""
    if tenant_id is None:
        tenants = run.client.call("GET", "/tenants")
        if len(tenants) != 1:
            raise InvalidInputError(
                f"this token sees {len(tenants)} tenants; name one by ID"
            )
        tenant_id = str(tenants[0]["id"])
    run.printer.record(run.client.call("GET", f"/tenants/{tenant_id}"), TENANT_FIELDS)
