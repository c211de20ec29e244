"""API shapes of products and device groups."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from sevenfold.protocol.vocabulary import OsFeed, UpdatePolicy

Name = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=50, pattern=r"^[^\x00-\x1f]+$"
    ),
]
Description = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, max_length=200, pattern=r"^[^\x00-\x1f]*$"
    ),
]


class ProductIn(BaseModel):
    """A new product."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    description: Description = ""


class ProductPatch(BaseModel):
    """Changes to a product; absent fields stay as they are."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name | None = None
    description: Description | None = None


class ProductOut(BaseModel):
    """A product."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: str
    name: str
    description: str
    created_at: datetime


class DeviceGroupIn(BaseModel):
    """A new device group of a product."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    description: Description = ""
    os_feed: OsFeed = OsFeed.RETAIL
    update_policy: UpdatePolicy = UpdatePolicy.UPDATE_ALL
    app_updates: bool = True


class DeviceGroupPatch(BaseModel):
    """Changes to a device group; absent fields stay as they are."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name | None = None
    description: Description | None = None
    os_feed: OsFeed | None = None
    update_policy: UpdatePolicy | None = None
    app_updates: bool | None = None


class DeviceGroupOut(BaseModel):
    """A device group."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: str
    product_id: str
    name: str
    description: str
    os_feed: OsFeed
    update_policy: UpdatePolicy
    app_updates: bool
    created_at: datetime
