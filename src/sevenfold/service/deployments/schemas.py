"""API shapes of deployments: the app images a device group should run."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MAX_DEPLOYMENT_IMAGES = 64

ImageId = Annotated[
    str, StringConstraints(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9-]+$")
]


class DeploymentIn(BaseModel):
    """A new deployment; an empty list means "no apps" on the group's devices."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image_ids: list[ImageId] = Field(
        max_length=MAX_DEPLOYMENT_IMAGES,
        description="The tenant's app images, at most one per component.",
    )


class DeploymentImageOut(BaseModel):
    """One image of a deployment."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: str
    component_id: str
    name: str
    version: str
    sha256: str


class DeploymentOut(BaseModel):
    """A deployment; ``current`` is True for the group's one in force."""

    model_config = ConfigDict(frozen=True)

    id: str
    device_group_id: str
    created_at: datetime
    superseded_at: datetime | None
    current: bool
    images: list[DeploymentImageOut]


class DeploymentDetailOut(DeploymentOut):
    """A deployment with the group's devices by update state (``unknown``: none
    reported yet)."""

    device_counts: dict[str, int]
