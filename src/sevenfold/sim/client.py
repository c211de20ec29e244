"""An async operator client for the service's HTTP API (the simulator's only way in).

It speaks exactly what an external operator tool would: bearer-token HTTP against
``/api/v1``. Waiting on operations reads time from an injected clock and pauses with
an injected ``sleep``, so tests can run the wait loop in virtual time.
"""

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from sevenfold.protocol.attestation import MeasurementKind
from sevenfold.protocol.clock import Clock, SystemClock
from sevenfold.protocol.problems import PROBLEM_CONTENT_TYPE, code_from_type
from sevenfold.protocol.registration import MAX_RECORDS_PER_REQUEST
from sevenfold.sim.errors import (
    OperationTimeoutError,
    ServiceProblemError,
    ServiceUnreachableError,
)
from sevenfold.sim.records import (
    ApprovedMeasurementRecord,
    DeviceGroupRecord,
    DevicePageRecord,
    DeviceRecord,
    ImageRecord,
    OperationRecord,
    OsReleaseDetailRecord,
    OsReleaseRecord,
    ProductRecord,
    RegistrationRecord,
    RolloutRecord,
)

API_PREFIX = "/api/v1"
DEFAULT_REQUEST_TIMEOUT_S = 30.0
DEFAULT_PAGE_SIZE = 100

Sleep = Callable[[float], Awaitable[None]]
_Model = TypeVar("_Model", bound=BaseModel)
_GROUPS = TypeAdapter(list[DeviceGroupRecord])


class OperatorClient:
    """Operator calls on one service with one API token.

    Use as an async context manager; it owns one connection pool.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
        request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        """``verify``: how to check the service's TLS certificate (an ``ssl``
        context trusting its CA, or ``True`` for the system's roots)."""
        self._clock = clock or SystemClock()
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + API_PREFIX,
            headers={"Authorization": f"Bearer {token}"},
            transport=transport,
            timeout=request_timeout_s,
            verify=verify,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _call(
        self, method: str, path: str, *, json: Any = None, params: Any = None
    ) -> Any:
        try:
            response = await self._http.request(method, path, json=json, params=params)
        except httpx.TransportError as err:
            raise ServiceUnreachableError(
                f"{method} {path}: no answer from {self._http.base_url} "
                f"({type(err).__name__})"
            ) from err
        if response.is_success:
            return response.json() if response.content else None
        raise _problem(response, method, path)

    async def _parse(
        self, model: type[_Model], method: str, path: str, **kwargs: Any
    ) -> _Model:
        return model.model_validate(await self._call(method, path, **kwargs))

    async def trust_manufacturer_key(self, name: str, public_key_pem: str) -> Any:
        """Trust a manufacturer public key (platform administrator credential)."""
        return await self._call(
            "POST",
            "/manufacturing/trusted-keys",
            json={"name": name, "public_key_pem": public_key_pem},
        )

    async def register_records(
        self, records: Sequence[dict[str, Any]]
    ) -> RegistrationRecord:
        """Register devices from signed factory records (platform credential).

        Sends batches of at most 1,000 and returns the totals.
        """
        registered = already = 0
        for start in range(0, len(records), MAX_RECORDS_PER_REQUEST):
            batch = list(records[start : start + MAX_RECORDS_PER_REQUEST])
            record = await self._parse(
                RegistrationRecord,
                "POST",
                "/manufacturing/device-registrations",
                json={"records": batch},
            )
            registered += record.registered
            already += record.already_registered
        return RegistrationRecord(registered=registered, already_registered=already)

    async def create_product(self, name: str, description: str = "") -> ProductRecord:
        """Create a product (the service adds its five default groups)."""
        return await self._parse(
            ProductRecord,
            "POST",
            "/products",
            json={"name": name, "description": description},
        )

    async def list_device_groups(self, product_id: str) -> list[DeviceGroupRecord]:
        """The device groups of one product."""
        body = await self._call(
            "GET", "/device-groups", params={"product_id": product_id}
        )
        return _GROUPS.validate_python(body)

    async def claim_device(
        self, device_id: str, device_group_id: str | None = None
    ) -> DeviceRecord:
        """Claim one device (once, irreversibly)."""
        body = {"device_group_id": device_group_id} if device_group_id else None
        return await self._parse(
            DeviceRecord, "POST", f"/devices/{device_id}/claim", json=body
        )

    async def start_bulk_claim(
        self, device_ids: Sequence[str], device_group_id: str | None = None
    ) -> OperationRecord:
        """Start claiming up to 1,000 devices in the background."""
        return await self._parse(
            OperationRecord,
            "POST",
            "/device-claims",
            json={"device_ids": list(device_ids), "device_group_id": device_group_id},
        )

    async def get_operation(self, operation_id: str) -> OperationRecord:
        """An operation's current status and results."""
        return await self._parse(OperationRecord, "GET", f"/operations/{operation_id}")

    async def wait_for_operation(
        self, operation_id: str, *, timeout_s: float, poll_interval_s: float
    ) -> OperationRecord:
        """Poll an operation until it has finished.

        Raises:
            OperationTimeoutError: still unfinished after ``timeout_s`` (clock time).
        """
        started = self._clock.now()
        while True:
            operation = await self.get_operation(operation_id)
            if operation.status.finished:
                return operation
            waited_s = (self._clock.now() - started).total_seconds()
            if waited_s >= timeout_s:
                raise OperationTimeoutError(
                    f"operation {operation_id} still {operation.status.value} "
                    f"after {waited_s:.1f} s ({operation.processed}/{operation.total})"
                )
            await self._sleep(poll_interval_s)

    async def move_device(self, device_id: str, device_group_id: str) -> DeviceRecord:
        """Move a device to another group of its product."""
        return await self._parse(
            DeviceRecord,
            "PATCH",
            f"/devices/{device_id}",
            json={"device_group_id": device_group_id},
        )

    async def revoke_device(self, device_id: str) -> DeviceRecord:
        """Revoke a device: no certificate and no update from now on."""
        return await self._parse(DeviceRecord, "POST", f"/devices/{device_id}/revoke")

    async def approve_measurement(
        self,
        product_id: str,
        kind: MeasurementKind,
        sha256: bytes,
        *,
        version: str | None = None,
        label: str = "",
    ) -> ApprovedMeasurementRecord:
        """Approve an OS image (with its version), agent or app image."""
        return await self._parse(
            ApprovedMeasurementRecord,
            "POST",
            f"/products/{product_id}/approved-measurements",
            json={
                "kind": kind.value,
                "sha256": sha256.hex(),
                "version": version,
                "label": label,
            },
        )

    async def add_platform_signing_key(self, name: str, public_key_pem: str) -> Any:
        """Accept OS packages signed by this key (platform administrator)."""
        return await self._call(
            "POST",
            "/platform/image-signing-keys",
            json={"name": name, "public_key_pem": public_key_pem},
        )

    async def upload_image(self, package: bytes) -> ImageRecord:
        """Upload a signed image package (OS images: platform administrator)."""
        try:
            response = await self._http.post(
                "/images",
                content=package,
                headers={"Content-Type": "application/octet-stream"},
            )
        except httpx.TransportError as err:
            raise ServiceUnreachableError(
                f"POST /images: no answer ({type(err).__name__})"
            ) from err
        if response.is_success:
            return ImageRecord.model_validate(response.json())
        raise _problem(response, "POST", "/images")

    async def publish_os_release(
        self, image_id: str, *, eval_window_days: int, note: str | None = None
    ) -> OsReleaseRecord:
        """Publish an uploaded OS image to the retail-eval feed."""
        return await self._parse(
            OsReleaseRecord,
            "POST",
            "/os-releases",
            json={
                "image_id": image_id,
                "eval_window_days": eval_window_days,
                "note": note,
            },
        )

    async def change_os_release(
        self, release_id: str, action: str, reason: str | None = None
    ) -> OsReleaseRecord:
        """``promote``, ``cancel`` or ``withdraw`` a release."""
        return await self._parse(
            OsReleaseRecord,
            "POST",
            f"/os-releases/{release_id}/{action}",
            json={"reason": reason},
        )

    async def get_os_release(self, release_id: str) -> OsReleaseDetailRecord:
        """A release and the tenant's devices running it, by update state."""
        return await self._parse(
            OsReleaseDetailRecord, "GET", f"/os-releases/{release_id}"
        )

    async def create_os_rollout(
        self,
        release_id: str,
        os_feed: str,
        *,
        waves: list[dict[str, Any]],
        policy: dict[str, Any],
    ) -> RolloutRecord:
        """Roll an OS release out on a feed in waves (platform administrator)."""
        return await self._parse(
            RolloutRecord,
            "POST",
            "/rollouts",
            json={
                "os_release_id": release_id,
                "os_feed": os_feed,
                "waves": waves,
                "policy": policy,
            },
        )

    async def get_rollout(self, rollout_id: str) -> RolloutRecord:
        """A rollout with its waves' progress."""
        return await self._parse(RolloutRecord, "GET", f"/rollouts/{rollout_id}")

    async def ca_chain_pem(self) -> bytes:
        """The tenant's CA bundle (PEM) that verifies its device certificates."""
        try:
            response = await self._http.get("/ca-certificates/chain")
        except httpx.TransportError as err:
            raise ServiceUnreachableError(
                f"GET /ca-certificates/chain: no answer ({type(err).__name__})"
            ) from err
        if response.is_success:
            return response.content
        raise _problem(response, "GET", "/ca-certificates/chain")

    async def list_devices(
        self, *, product_id: str | None = None, page_size: int = DEFAULT_PAGE_SIZE
    ) -> list[DeviceRecord]:
        """Every device of the tenant (optionally of one product), all pages."""
        params: dict[str, Any] = {"limit": page_size}
        if product_id is not None:
            params["product_id"] = product_id
        devices: list[DeviceRecord] = []
        while True:
            page = await self._parse(DevicePageRecord, "GET", "/devices", params=params)
            devices.extend(page.items)
            if page.next_cursor is None:
                return devices
            params["cursor"] = page.next_cursor


def _problem(response: httpx.Response, method: str, path: str) -> ServiceProblemError:
    detail = response.text[:200]
    code = None
    if response.headers.get("content-type", "").startswith(PROBLEM_CONTENT_TYPE):
        body = response.json()
        code = code_from_type(str(body.get("type", "")))
        detail = str(body.get("detail") or body.get("title") or detail)
    return ServiceProblemError(
        status=response.status_code, code=code, detail=detail, method=method, path=path
    )
