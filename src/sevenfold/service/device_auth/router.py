"""Device-facing routes authenticated by the device certificate (mTLS)."""

from typing import Any

from fastapi import APIRouter

from sevenfold.service.api.problems import PROBLEM_RESPONSES
from sevenfold.service.device_auth.dependency import DeviceDep
from sevenfold.service.device_auth.schemas import DeviceIdentityOut

_CONTENT = PROBLEM_RESPONSES[401]["content"]
DEVICE_AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "An Authorization header was sent", "content": _CONTENT},
    401: {
        "description": "No valid device certificate; the problem's `reason` says why",
        "content": _CONTENT,
    },
    409: {"description": "The device is revoked", "content": _CONTENT},
}
"""The problems every certificate-authenticated device route can return."""

router = APIRouter(prefix="/device", tags=["device"], responses=DEVICE_AUTH_RESPONSES)


@router.get("/identity", response_model=DeviceIdentityOut)
def device_identity(device: DeviceDep) -> DeviceIdentityOut:
    """The calling device as its certificate proves it: IDs and certificate expiry."""
    return DeviceIdentityOut(
        device_id=device.device_id,
        tenant_id=device.tenant_id,
        product_id=device.product_id,
        device_group_id=device.device_group_id,
        certificate_not_after=device.certificate_not_after,
    )
