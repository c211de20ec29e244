"""``sevenfold product create|list|show|update|delete``.

A product is named by its ID or its name everywhere.
"""

from typing import Any

import click

from sevenfold.cli.errors import InvalidInputError
from sevenfold.cli.invocation import Invocation, operator_command
from sevenfold.cli.output import Column
from sevenfold.cli.resolve import find_product

PRODUCT_COLUMNS = (
    Column("NAME", "name"),
    Column("ID", "id"),
    Column("DESCRIPTION", "description"),
)
PRODUCT_FIELDS = (
    Column("Name", "name"),
    Column("ID", "id"),
    Column("Description", "description"),
    Column("Created", "created_at"),
)


@click.group("product")
def product_group() -> None:
    """Products: one per device model; each starts with five device groups."""


@product_group.command("create")
@operator_command
@click.option("--name", required=True, help="Unique in the tenant (any case).")
@click.option("--description", default="", help="What the product is.")
def create_product(run: Invocation, name: str, description: str) -> None:
    """Create a product with its five default device groups."""
    product = run.client.call(
        "POST", "/products", json={"name": name, "description": description}
    )
    run.printer.record(product, PRODUCT_FIELDS)


@product_group.command("list")
@operator_command
def list_products(run: Invocation) -> None:
    """List the tenant's products."""
    run.printer.listing(run.client.call("GET", "/products"), PRODUCT_COLUMNS)


@product_group.command("show")
@operator_command
@click.argument("product")
def show_product(run: Invocation, product: str) -> None:
    """Show a product (by ID or name)."""
    run.printer.record(find_product(run.client, product), PRODUCT_FIELDS)


@product_group.command("update")
@operator_command
@click.argument("product")
@click.option("--name", default=None, help="New name.")
@click.option("--description", default=None, help="New description.")
def update_product(
    run: Invocation, product: str, name: str | None, description: str | None
) -> None:
    """Rename or re-describe a product."""
    changes: dict[str, Any] = {
        key: value
        for key, value in (("name", name), ("description", description))
        if value is not None
    }
    if not changes:
        raise InvalidInputError("nothing to change: give --name or --description")
    product_id = find_product(run.client, product)["id"]
    updated = run.client.call("PATCH", f"/products/{product_id}", json=changes)
    run.printer.record(updated, PRODUCT_FIELDS)


@product_group.command("delete")
@operator_command
@click.argument("product")
def delete_product(run: Invocation, product: str) -> None:
    """Delete a product that has no devices, with its device groups."""
    found = find_product(run.client, product)
    run.client.call("DELETE", f"/products/{found['id']}")
    run.printer.deleted(found)
