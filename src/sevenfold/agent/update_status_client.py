"""Posts the device's update state to ``POST /api/v1/device/update-status``.

The route authenticates the device by its client certificate, so the client is
built per report from the current TLS context: a trial boot re-attests and gets a
new certificate, and the next report must present it. Proxy, no-proxy, timeouts
and the deadline are the attestation client's.
"""

import asyncio
import ssl
from collections.abc import Callable

import httpx

from sevenfold.agent.attestation_client import proxy_mounts
from sevenfold.agent.config import AgentConfig
from sevenfold.agent.errors import UpdateError, UpdateUnreachableError
from sevenfold.protocol.updates import UpdateStatusReport

UPDATE_STATUS_PATH = "/api/v1/device/update-status"
MAX_RESPONSE_BYTES = 64 * 1024

SslContextFactory = Callable[[], ssl.SSLContext | None]
"""The device's mTLS context now (``None``: plain HTTP or the system roots)."""


class UpdateStatusClient:
    """Reports update states for one device."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        ssl_context_factory: SslContextFactory = lambda: None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._config = config
        self._ssl_context_factory = ssl_context_factory
        self._transport = transport

    async def report(self, report: UpdateStatusReport) -> bool:
        """Post ``report``; return the service's ``check_requested``.

        Raises:
            UpdateUnreachableError: no usable answer within the timeouts/deadline.
            UpdateError: the service refused the report.
        """
        config = self._config
        try:
            async with (
                asyncio.timeout(config.deadline_s),
                self._client() as client,
            ):
                response = await client.post(UPDATE_STATUS_PATH, json=report.to_json())
        except TimeoutError as err:
            raise UpdateUnreachableError(
                f"the status report took longer than {config.deadline_s} s"
            ) from err
        except httpx.TransportError as err:
            raise UpdateUnreachableError(
                f"{type(err).__name__} reporting update status: {err}"
            ) from err
        if len(response.content) > MAX_RESPONSE_BYTES:
            raise UpdateError("the status answer is too large")
        if response.status_code in (502, 503, 504):
            raise UpdateUnreachableError(
                f"update-status answered {response.status_code}"
            )
        if response.status_code != httpx.codes.OK:
            raise UpdateError(f"update-status answered {response.status_code}")
        try:
            answer = response.json()
        except ValueError as err:
            raise UpdateError("the status answer is not JSON") from err
        requested = answer.get("check_requested") if isinstance(answer, dict) else None
        if not isinstance(requested, bool):
            raise UpdateError("the status answer has no check_requested")
        return requested

    def _client(self) -> httpx.AsyncClient:
        return device_client(self._config, self._ssl_context_factory, self._transport)


def device_client(
    config: AgentConfig,
    ssl_context_factory: SslContextFactory,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An HTTP client to the service with the device's current mTLS context, the
    proxy settings and the configured timeouts (status reports, failure uploads)."""
    context = ssl_context_factory()
    verify: ssl.SSLContext | bool = True if context is None else context
    return httpx.AsyncClient(
        base_url=config.server_url,
        transport=transport,
        mounts=proxy_mounts(config, verify),
        verify=verify,
        trust_env=False,
        timeout=httpx.Timeout(config.read_timeout_s, connect=config.connect_timeout_s),
    )
