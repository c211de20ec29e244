"""Agents under test: a DICE device in a temporary state directory, enrolled with a
live service, and run in virtual time (a ManualClock a fake sleep advances)."""

import asyncio
import random
from dataclasses import dataclass, field
from pathlib import Path

from fastapi.testclient import TestClient

from sevenfold.agent.attestation_client import AttestationClient
from sevenfold.agent.config import AgentConfig
from sevenfold.agent.daemon import Agent
from sevenfold.agent.measurements import FixedMeasurementSource
from sevenfold.agent.trusted.dice_keystore import DiceKeyStore
from sevenfold.protocol.attestation import Measurements
from sevenfold.protocol.clock import ManualClock
from tests.api.attestation_support import approve_software, running
from tests.conftest import TenantAccess
from tests.support.fleet import claim, create_product, groups_by_name, register


@dataclass
class VirtualTime:
    """A fake ``sleep``: records each delay, advances the clock, and sets ``stop``
    after ``max_sleeps`` sleeps so ``Agent.run`` returns."""

    clock: ManualClock
    stop: asyncio.Event
    max_sleeps: int
    delays_s: list[float] = field(default_factory=list)

    async def sleep(self, delay_s: float) -> None:
        """Advance virtual time by ``delay_s`` instead of waiting."""
        self.delays_s.append(delay_s)
        self.clock.advance(delay_s)
        if len(self.delays_s) >= self.max_sleeps:
            self.stop.set()
        await asyncio.sleep(0)


def config_for(state_dir: Path, server_url: str, **overrides: object) -> AgentConfig:
    """An agent config with fixed measurements (``running()``) and short timeouts."""
    settings: dict[str, object] = {
        "state_dir": state_dir,
        "server_url": server_url,
        "measurements": FixedMeasurementSource(measurements=running()),
        "connect_timeout_s": 5.0,
        "read_timeout_s": 10.0,
        "deadline_s": 20.0,
        "backoff_base_s": 2.0,
        "backoff_max_s": 60.0,
    }
    settings.update(overrides)
    return AgentConfig(**settings)  # type: ignore[arg-type]


def enroll(
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    state_dir: Path,
    *,
    approved: Measurements | None = None,
) -> str:
    """Create a DICE identity, register and claim it, approve ``approved`` software
    (by default what the device runs) for its product; return the device ID."""
    DiceKeyStore.create(state_dir)
    device_id = DiceKeyStore.open(state_dir, running(), clock=clock).device_id
    register(client, admin.headers, [device_id])
    product = create_product(client, admin.headers, f"Gateway {device_id[:8]}")
    group = groups_by_name(client, admin.headers, product["id"])["Production"]
    claim(client, admin.headers, device_id, group["id"])
    approve_software(client, admin, product["id"], approved or running())
    return device_id


def run_agent(
    config: AgentConfig, clock: ManualClock, max_sleeps: int, seed: int = 7
) -> tuple[Agent, VirtualTime]:
    """Run one agent until it has slept ``max_sleeps`` times; return it and its
    recorded delays."""

    async def main() -> tuple[Agent, VirtualTime]:
        stop = asyncio.Event()
        time = VirtualTime(clock, stop, max_sleeps)
        measurements = config.measurements.measure()
        keystore = DiceKeyStore.open(config.state_dir, measurements, clock=clock)
        async with AttestationClient(config) as client:
            agent = Agent(
                config=config,
                keystore=keystore,
                measurements=measurements,
                attester=client,
                clock=clock,
                sleep=time.sleep,
                rng=random.Random(seed),
            )
            await agent.run(stop)
        return agent, time

    return asyncio.run(main())
