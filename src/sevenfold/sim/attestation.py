"""Simulated devices attest with the agent's real code: one ``Agent`` per device.

Each device gets the daemon's ``Agent`` over its DICE key store and state directory,
and all of them share one ``AttestationClient`` (one connection pool; the client reads
only the server URL and timeouts from its config). An attempt is the daemon's
``attest_once``: nonce, evidence, then ``certificate.pem``, ``chain.pem`` and
``agent-state.json`` written atomically in the device's state directory, or the
refusal and its reason recorded there. Attempts run concurrently, at most
``concurrency`` at a time.
"""

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import httpx

from sevenfold.agent.attestation_client import AttestationClient
from sevenfold.agent.config import AgentConfig
from sevenfold.agent.daemon import Agent
from sevenfold.agent.measurements import FixedMeasurementSource
from sevenfold.agent.state import CERTIFICATE_FILE, AgentState, AttestationResult
from sevenfold.protocol.clock import Clock
from sevenfold.sim.device import Fleet, SimDevice

DEFAULT_CONCURRENCY = 16


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """A device and its agent's state after its latest attempt."""

    device: SimDevice
    state: AgentState

    @property
    def certified(self) -> bool:
        """Whether the latest attempt ended with a certificate."""
        return self.state.last_result is AttestationResult.CERTIFIED

    @property
    def certificate_file(self) -> str:
        """Where the device keeps its certificate (``chain.pem`` is beside it)."""
        return str(self.device.state_dir / CERTIFICATE_FILE)


def _config(device: SimDevice, server_url: str) -> AgentConfig:
    return AgentConfig(
        state_dir=device.state_dir,
        server_url=server_url,
        measurements=FixedMeasurementSource(measurements=device.software),
    )


class FleetAgents:
    """The fleet's agents against one service. Use as an async context manager."""

    def __init__(
        self,
        fleet: Fleet,
        server_url: str,
        *,
        clock: Clock,
        concurrency: int = DEFAULT_CONCURRENCY,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = AttestationClient(
            _config(fleet[0], server_url), transport=transport
        )
        self._agents = {
            device.device_id: Agent(
                config=_config(device, server_url),
                keystore=device.keystore,
                measurements=device.software,
                attester=self._client,
                clock=clock,
            )
            for device in fleet
        }
        self._slots = asyncio.Semaphore(concurrency)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._client.__aexit__(exc_type, exc, traceback)

    async def attest(self, devices: Iterable[SimDevice]) -> list[DeviceStatus]:
        """One attempt per device, concurrently; their states, in the given order."""
        return list(await asyncio.gather(*(self._attest(d) for d in devices)))

    def status(self, device: SimDevice) -> DeviceStatus:
        """The device's state as its agent last wrote it."""
        return DeviceStatus(device, self._agents[device.device_id].state)

    async def _attest(self, device: SimDevice) -> DeviceStatus:
        agent = self._agents[device.device_id]
        async with self._slots:
            await agent.attest_once()
        return DeviceStatus(device, agent.state)
