"""Name products and device groups the way people do: by ID or by name.

As with ``azsphere``, a device group can be given as its ID or as
``"Product/Group"``; a product as its ID or its name. Names are matched
case-insensitively (the service keeps them unique that way). The service stays the
only authority: resolution only turns a name into the ID the API expects.
"""

import re
from typing import Any

from sevenfold.cli.client import ServiceClient
from sevenfold.cli.errors import InvalidInputError, NotFoundError

_UUID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def _looks_like_id(text: str) -> bool:
    return _UUID.fullmatch(text) is not None


def find_product(client: ServiceClient, name_or_id: str) -> dict[str, Any]:
    """Return the product with this ID or (case-insensitive) name."""
    if _looks_like_id(name_or_id):
        product: dict[str, Any] = client.call("GET", f"/products/{name_or_id}")
        return product
    wanted = name_or_id.strip().casefold()
    for product in client.call("GET", "/products"):
        if str(product["name"]).casefold() == wanted:
            return product
    raise NotFoundError(f"no product named '{name_or_id}' [not-found]")


def find_device_group(client: ServiceClient, reference: str) -> dict[str, Any]:
    """Return the device group with this ID or ``Product/Group`` name."""
    if _looks_like_id(reference):
        group: dict[str, Any] = client.call("GET", f"/device-groups/{reference}")
        return group
    product_name, slash, group_name = reference.partition("/")
    if not slash or not product_name.strip() or not group_name.strip():
        raise InvalidInputError(
            f"'{reference}' is neither a device group ID nor 'Product/Group'"
        )
    product = find_product(client, product_name)
    wanted = group_name.strip().casefold()
    groups = client.call("GET", "/device-groups", params={"product_id": product["id"]})
    for group in groups:
        if str(group["name"]).casefold() == wanted:
            return group
    raise NotFoundError(
        f"product '{product['name']}' has no device group '{group_name}' [not-found]"
    )


def device_group_id(client: ServiceClient, reference: str | None) -> str | None:
    """The ID of a referenced group, or None when no group was given."""
    if reference is None:
        return None
    return str(find_device_group(client, reference)["id"])
