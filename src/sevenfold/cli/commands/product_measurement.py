"""``sevenfold product measurement add|list|remove``: a product's approved software.

Attestation certifies a device only when its OS image, agent and every app image are
on its product's list. A product is named by its ID or its name.
"""

import click

from sevenfold.cli.invocation import Invocation, operator_command
from sevenfold.cli.output import Column
from sevenfold.cli.resolve import find_product
from sevenfold.protocol.attestation import MeasurementKind

MEASUREMENT_COLUMNS = (
    Column("KIND", "kind"),
    Column("SHA-256", "sha256"),
    Column("VERSION", "version"),
    Column("LABEL", "label"),
    Column("ID", "id"),
)
MEASUREMENT_FIELDS = (
    Column("ID", "id"),
    Column("Product", "product_id"),
    Column("Kind", "kind"),
    Column("SHA-256", "sha256"),
    Column("Version", "version"),
    Column("Label", "label"),
    Column("Created", "created_at"),
)


@click.group("measurement")
def measurement_group() -> None:
    """Approved measurements: the software a product's devices may attest to."""


@measurement_group.command("add")
@operator_command
@click.argument("product")
@click.option(
    "--kind",
    required=True,
    type=click.Choice([kind.value for kind in MeasurementKind]),
    help="What the digest is of.",
)
@click.option("--sha256", required=True, help="SHA-256 of the image, 64 hex.")
@click.option("--version", default=None, help="The OS version (os only): 26.11.1.")
@click.option("--label", default="", help="A note for people.")
def add_measurement(
    run: Invocation,
    product: str,
    kind: str,
    sha256: str,
    version: str | None,
    label: str,
) -> None:
    """Approve an OS image, agent or app image for a product."""
    product_id = find_product(run.client, product)["id"]
    body = {"kind": kind, "sha256": sha256, "version": version, "label": label}
    created = run.client.call(
        "POST", f"/products/{product_id}/approved-measurements", json=body
    )
    run.printer.record(created, MEASUREMENT_FIELDS)


@measurement_group.command("list")
@operator_command
@click.argument("product")
def list_measurements(run: Invocation, product: str) -> None:
    """List a product's approved measurements."""
    product_id = find_product(run.client, product)["id"]
    listed = run.client.call("GET", f"/products/{product_id}/approved-measurements")
    run.printer.listing(listed, MEASUREMENT_COLUMNS)


@measurement_group.command("remove")
@operator_command
@click.argument("product")
@click.argument("measurement_id")
def remove_measurement(run: Invocation, product: str, measurement_id: str) -> None:
    """Withdraw an approval (devices running that software are then refused)."""
    product_id = find_product(run.client, product)["id"]
    run.client.call(
        "DELETE", f"/products/{product_id}/approved-measurements/{measurement_id}"
    )
    run.printer.record(
        {"id": measurement_id, "removed": True},
        (Column("Removed", "id"),),
    )
