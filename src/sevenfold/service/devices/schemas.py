"""API shapes of devices, registrations and claims."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from sevenfold.crypto.device_ids import normalize_device_id
from sevenfold.protocol.registration import (
    MAX_PRODUCT_HINT_CHARS,
    MAX_RECORDS_PER_REQUEST,
    RegistrationRecord,
    record_from_json,
)
from sevenfold.protocol.vocabulary import DeviceStatus

DeviceId = Annotated[str, Field(max_length=200), AfterValidator(normalize_device_id)]
"""A device ID, checked to be a P-256 point and returned in canonical form."""


class RegistrationRecordIn(BaseModel):
    """One factory registration record (``sevenfold.protocol.registration``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1]
    device_id: DeviceId
    manufacturer_key_id: str = Field(pattern=r"^[0-9a-f]{64}$")
    created_at: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
    product: str | None = Field(
        default=None, min_length=1, max_length=MAX_PRODUCT_HINT_CHARS
    )
    signature: str = Field(min_length=88, max_length=88)

    def to_record(self) -> RegistrationRecord:
        """The protocol record (raises ``RecordFormatError`` if it is not one)."""
        return record_from_json(self.model_dump())


class RegistrationIn(BaseModel):
    """Signed registration records from the factory (platform credential)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    records: list[RegistrationRecordIn] = Field(
        min_length=1, max_length=MAX_RECORDS_PER_REQUEST
    )


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
