"""API shapes of the device-facing identity route."""

from datetime import datetime

from pydantic import BaseModel


class DeviceIdentityOut(BaseModel):
    """Who the service takes the calling device to be, from its certificate."""

    device_id: str
    tenant_id: str
    product_id: str | None
    device_group_id: str | None
    certificate_not_after: datetime
