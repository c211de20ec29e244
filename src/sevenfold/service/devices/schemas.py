"""API shapes of devices, registrations and claims."""

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from sevenfold.crypto.device_ids import normalize_device_id
from sevenfold.protocol.vocabulary import MAX_BULK_CLAIM_DEVICES, DeviceStatus

DeviceId = Annotated[str, Field(max_length=200), AfterValidator(normalize_device_id)]
"""A device ID, checked to be a P-256 point and returned in canonical form."""


class RegistrationIn(BaseModel):
    """Device identity public keys from the factory (platform credential)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device_ids: list[DeviceId] = Field(min_length=1, max_length=MAX_BULK_CLAIM_DEVICES)


class RegistrationOut(BaseModel):
    """What a registration call changed: it is idempotent."""

    registered: int
    already_registered: int


class ClaimIn(BaseModel):
    """Claim one device into the caller's tenant, optionally into a device group."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device_group_id: str | None = Field(
        default=None, max_length=128, pattern=r"^[A-Za-z0-9-]+$"
    )


class DevicePatch(BaseModel):
    """Move a device to another group of its product."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device_group_id: str = Field(max_length=128, pattern=r"^[A-Za-z0-9-]+$")


class DeviceOut(BaseModel):
    """A claimed device as its tenant sees it."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: str
    status: DeviceStatus
    product_id: str | None
    device_group_id: str | None
    registered_at: datetime
    claimed_at: datetime | None
    revoked_at: datetime | None


class DevicePage(BaseModel):
    """A page of devices and the cursor of the next one (None at the end)."""

    items: list[DeviceOut]
    next_cursor: str | None
