"""API shapes of tenants."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

TenantName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$"
    ),
]


class TenantIn(BaseModel):
    """A new tenant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: TenantName


class TenantOut(BaseModel):
    """A tenant."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: str
    name: str
    created_at: datetime


class TenantCreatedOut(TenantOut):
    """A new tenant with its first administrator token (shown once)."""

    administrator_token: str
