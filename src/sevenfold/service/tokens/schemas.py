"""API shapes of operator tokens."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from sevenfold.protocol.vocabulary import PlatformRole, Role

Name = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$"
    ),
]


class TokenIn(BaseModel):
    """A request for a new token in the caller's tenant (or a platform token)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    role: Role | None = Role.READER
    platform_role: PlatformRole | None = None
    expires_in_days: int = Field(default=90, ge=1, le=730)


class TokenOut(BaseModel):
    """A token as listed: never its secret."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: str
    tenant_id: str | None
    name: str
    role: Role | None
    platform_role: PlatformRole | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


class TokenCreatedOut(TokenOut):
    """A token just created, with its text: shown once, store it now."""

    token: str
