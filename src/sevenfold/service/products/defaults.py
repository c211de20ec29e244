"""The five device groups every new product gets (PRODUCT.md, Azure Sphere defaults)."""

from dataclasses import dataclass

from sevenfold.protocol.vocabulary import OsFeed, UpdatePolicy


@dataclass(frozen=True, slots=True, kw_only=True)
class DefaultGroup:
    """A default device group's name, description, feed and policy."""

    name: str
    description: str
    os_feed: OsFeed
    app_updates: bool
    update_policy: UpdatePolicy = UpdatePolicy.UPDATE_ALL


DEFAULT_GROUPS: tuple[DefaultGroup, ...] = (
    DefaultGroup(
        name="Development",
        description="Devices that sideload apps; no cloud app updates.",
        os_feed=OsFeed.RETAIL,
        app_updates=False,
    ),
    DefaultGroup(
        name="Field Test",
        description="Devices testing apps before production.",
        os_feed=OsFeed.RETAIL,
        app_updates=True,
    ),
    DefaultGroup(
        name="Production",
        description="Devices in production.",
        os_feed=OsFeed.RETAIL,
        app_updates=True,
    ),
    DefaultGroup(
        name="Field Test OS Evaluation",
        description="Field-test devices that take OS releases under evaluation.",
        os_feed=OsFeed.RETAIL_EVAL,
        app_updates=True,
    ),
    DefaultGroup(
        name="Production OS Evaluation",
        description="Production devices that take OS releases under evaluation.",
        os_feed=OsFeed.RETAIL_EVAL,
        app_updates=True,
    ),
)
