"""API shapes of capability grants."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class CapabilityGrantOut(BaseModel):
    """A device's grant, and the signed document a device applies."""

    model_config = ConfigDict(frozen=True)

    device_id: str
    capabilities: list[str]
    issued_at: datetime
    signed: dict[str, Any]
