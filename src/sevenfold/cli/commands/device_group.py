"""``sevenfold device-group create|list|show|update|delete`` and ``device-group
deployment create|list``.

A device group is named by its ID or as ``"Product/Group"``.
"""

from typing import Any

import click

from sevenfold.cli.errors import InvalidInputError
from sevenfold.cli.invocation import Invocation, operator_command
from sevenfold.cli.output import Column
from sevenfold.cli.resolve import find_device_group, find_product
from sevenfold.protocol.vocabulary import OsFeed, UpdatePolicy

GROUP_COLUMNS = (
    Column("NAME", "name"),
    Column("ID", "id"),
    Column("OS FEED", "os_feed"),
    Column("POLICY", "update_policy"),
    Column("APP UPDATES", "app_updates"),
)
GROUP_FIELDS = (
    Column("Name", "name"),
    Column("ID", "id"),
    Column("Product", "product_id"),
    Column("Description", "description"),
    Column("OS feed", "os_feed"),
    Column("Update policy", "update_policy"),
    Column("App updates", "app_updates"),
    Column("Created", "created_at"),
)
os_feed_option = click.option(
    "--os-feed", type=click.Choice([feed.value for feed in OsFeed]), default=None
)
policy_option = click.option(
    "--update-policy",
    type=click.Choice([policy.value for policy in UpdatePolicy]),
    default=None,
)
app_updates_option = click.option(
    "--app-updates/--no-app-updates",
    default=None,
    help="Whether cloud app deployments apply (off: devices sideload).",
)


@click.group("device-group")
def device_group_group() -> None:
    """Device groups: a product's devices that share an OS feed and update policy."""


def _settings(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


@device_group_group.command("create")
@operator_command
@click.option("--product", required=True, help="Product ID or name.")
@click.option("--name", required=True, help="Unique in the product (any case).")
@click.option("--description", default=None)
@os_feed_option
@policy_option
@app_updates_option
def create_group(
    run: Invocation,
    product: str,
    name: str,
    description: str | None,
    os_feed: str | None,
    update_policy: str | None,
    app_updates: bool | None,
) -> None:
    """Create a device group (defaults: retail, update-all, app updates on)."""
    product_id = find_product(run.client, product)["id"]
    body = _settings(
        name=name,
        description=description,
        os_feed=os_feed,
        update_policy=update_policy,
        app_updates=app_updates,
    )
    group = run.client.call("POST", f"/products/{product_id}/device-groups", json=body)
    run.printer.record(group, GROUP_FIELDS)


@device_group_group.command("list")
@operator_command
@click.option("--product", default=None, help="Only this product's (ID or name).")
def list_groups(run: Invocation, product: str | None) -> None:
    """List device groups."""
    product_id = find_product(run.client, product)["id"] if product else None
    groups = run.client.call("GET", "/device-groups", params={"product_id": product_id})
    run.printer.listing(groups, GROUP_COLUMNS)


@device_group_group.command("show")
@operator_command
@click.argument("device_group")
def show_group(run: Invocation, device_group: str) -> None:
    """Show a device group (ID or "Product/Group")."""
    run.printer.record(find_device_group(run.client, device_group), GROUP_FIELDS)


@device_group_group.command("update")
@operator_command
@click.argument("device_group")
@click.option("--name", default=None)
@click.option("--description", default=None)
@os_feed_option
@policy_option
@app_updates_option
def update_group(
    run: Invocation,
    device_group: str,
    name: str | None,
    description: str | None,
    os_feed: str | None,
    update_policy: str | None,
    app_updates: bool | None,
) -> None:
    """Change a group's name, description, OS feed, update policy or app updates."""
    changes = _settings(
        name=name,
        description=description,
        os_feed=os_feed,
        update_policy=update_policy,
        app_updates=app_updates,
    )
    if not changes:
        raise InvalidInputError("nothing to change: give at least one option")
    group_id = find_device_group(run.client, device_group)["id"]
    group = run.client.call("PATCH", f"/device-groups/{group_id}", json=changes)
    run.printer.record(group, GROUP_FIELDS)


@device_group_group.command("delete")
@operator_command
@click.argument("device_group")
def delete_group(run: Invocation, device_group: str) -> None:
    """Delete a device group that has no devices."""
    group = find_device_group(run.client, device_group)
    run.client.call("DELETE", f"/device-groups/{group['id']}")
    run.printer.deleted(group)


DEPLOYMENT_COLUMNS = (
    Column("ID", "id"),
    Column("CURRENT", "current"),
    Column("CREATED", "created_at"),
    Column("SUPERSEDED", "superseded_at"),
    Column("IMAGES", lambda item: _image_summary(item["images"])),
)
DEPLOYMENT_FIELDS = (
    Column("ID", "id"),
    Column("Device group", "device_group_id"),
    Column("Current", "current"),
    Column("Created", "created_at"),
    Column("Images", lambda item: _image_summary(item["images"])),
)


def _image_summary(images: list[dict[str, Any]]) -> str:
    if not images:
        return "(no apps)"
    return ", ".join(f"{image['name']} {image['version']}" for image in images)


@device_group_group.group("deployment")
def deployment_group() -> None:
    """Deployments: the app images (one per component) a device group runs."""


@deployment_group.command("create")
@operator_command
@click.argument("device_group")
@click.option(
    "--image",
    "image_ids",
    multiple=True,
    help="An uploaded app image ID (repeat; one per component).",
)
@click.option(
    "--no-images", is_flag=True, help="Deploy no apps at all (removes every app)."
)
def create_deployment(
    run: Invocation, device_group: str, image_ids: tuple[str, ...], no_images: bool
) -> None:
    """Deploy app images to a group, superseding its current deployment."""
    if bool(image_ids) == no_images:
        raise InvalidInputError("give --image at least once, or --no-images")
    group_id = find_device_group(run.client, device_group)["id"]
    deployment = run.client.call(
        "POST",
        f"/device-groups/{group_id}/deployments",
        json={"image_ids": list(image_ids)},
    )
    run.printer.record(deployment, DEPLOYMENT_FIELDS)


@deployment_group.command("list")
@operator_command
@click.argument("device_group")
def list_deployments(run: Invocation, device_group: str) -> None:
    """A group's deployments, newest first (the current one is marked)."""
    group_id = find_device_group(run.client, device_group)["id"]
    deployments = run.client.call("GET", f"/device-groups/{group_id}/deployments")
    run.printer.listing(deployments, DEPLOYMENT_COLUMNS)
