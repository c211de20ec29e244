"""The demo's attestation act: devices prove their software and get certificates.

The operator approves the demo OS release and agent build for the demo product over
HTTP; then every device attests with the agent's real code (``sim.attestation``: the
daemon's ``Agent`` over the device's DICE key store) and keeps what it gets in its
state directory. Two devices show refusals: the fleet's last device runs an OS build
nobody approved (``unapproved-software``), and the first is revoked through the
operator API after its first certificate, so its next attempt is refused
(``revoked``). Both roles need a fleet of at least three devices.
"""

import logging
from collections import Counter
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from sevenfold.agent.state import CHAIN_FILE, STATE_FILE
from sevenfold.protocol.attestation import MeasurementKind
from sevenfold.protocol.clock import Clock
from sevenfold.sim.attestation import DeviceStatus, FleetAgents
from sevenfold.sim.client import OperatorClient
from sevenfold.sim.device import SIM_OS_VERSION, SIM_SOFTWARE, Fleet, sim_software
from sevenfold.sim.errors import ScenarioError

if TYPE_CHECKING:  # demo.py imports this module to list the act
    from sevenfold.entry.demo import DemoContext

UNAPPROVED_SOFTWARE = sim_software("26.12")
"""An OS build the operator never approves (the demo's odd device runs it)."""
MIN_FLEET_FOR_REFUSALS = 3
MAX_TABLE_ROWS = 20
ID_PREFIX_CHARS = 16


def demo_fleet(count: int, root: Path, *, clock: Clock) -> Fleet:
    """The demo's devices under ``root``; of 3 or more, the last runs odd software."""
    software = [SIM_SOFTWARE] * count
    if count >= MIN_FLEET_FOR_REFUSALS:
        software[-1] = UNAPPROVED_SOFTWARE
    return Fleet.create(count, root, clock=clock, software=software)


class AttestAct:
    """Approve the demo software, attest every device, revoke one, show the status."""

    title = "Attest: devices prove their software and receive 24-hour certificates"

    def __init__(self, *, concurrency: int = 16) -> None:
        self._concurrency = concurrency

    async def play(self, context: "DemoContext") -> list[str]:
        """Run the act over HTTP; return the lines to print."""
        base_url, clock, fleet = context.base_url, context.clock, context.fleet
        fleet_summary = context.fleet_summary
        if fleet_summary is None:
            raise ScenarioError("the attestation act needs the fleet act's product")
        _quiet_agent_logs()
        product = fleet_summary.product
        lines: list[str] = []
        verify = context.tls_verify()
        async with OperatorClient(
            base_url, context.token, clock=clock, verify=verify
        ) as client:
            await client.approve_measurement(
                product.id,
                MeasurementKind.OS,
                SIM_SOFTWARE.os_image_sha256,
                version=SIM_OS_VERSION,
                label=f"Demo OS {SIM_OS_VERSION}",
            )
            await client.approve_measurement(
                product.id,
                MeasurementKind.AGENT,
                SIM_SOFTWARE.agent_sha256,
                label="Demo agent 1.0",
            )
            lines.append(
                f"Approved for {product.name}: OS {SIM_OS_VERSION} "
                f"(sha256 {SIM_SOFTWARE.os_image_sha256.hex()[:12]}…) and the agent "
                f"(sha256 {SIM_SOFTWARE.agent_sha256.hex()[:12]}…)"
            )
            started = clock.now()
            async with FleetAgents(
                fleet,
                base_url,
                clock=clock,
                concurrency=self._concurrency,
                transport=httpx.AsyncHTTPTransport(verify=verify),
            ) as agents:
                await agents.attest(fleet)
                if len(fleet) >= MIN_FLEET_FOR_REFUSALS:
                    target = fleet[0]
                    await client.revoke_device(target.device_id)
                    lines.append(
                        f"Revoked {target.device_id[:ID_PREFIX_CHARS]}… through the "
                        "operator API; it attested again"
                    )
                    await agents.attest([target])
                statuses = [agents.status(device) for device in fleet]
            elapsed_s = (clock.now() - started).total_seconds()
            group_names = {group.group_id: group.name for group in fleet_summary.groups}
            groups = {
                device.id: group_names.get(device.device_group_id or "", "-")
                for device in await client.list_devices(product_id=product.id)
            }
        lines.append(
            f"{len(fleet)} devices attested with the agent's code "
            f"({self._concurrency} at a time) in {elapsed_s:.2f} s; status:"
        )
        lines.extend(_table(statuses, groups))
        lines.append(summary_line(statuses))
        lines.append(
            f"Certificates: {fleet[0].state_dir.parent}/device-NNNNN/ — "
            f"certificate.pem, {CHAIN_FILE} (the tenant CA) and {STATE_FILE}"
        )
        return lines


def summary_line(statuses: list[DeviceStatus]) -> str:
    """``10 certified, 1 refused: unapproved-software, 1 refused: revoked``.

    Refusals are listed in the order they happened.
    """
    certified = sum(status.certified for status in statuses)
    others = Counter(
        f"{status.state.last_result}: {status.state.last_reason}"
        for status in sorted(statuses, key=_attempted_at)
        if not status.certified
    )
    return ", ".join(
        [f"{certified} certified"]
        + [f"{count} {outcome}" for outcome, count in others.items()]
    )


def _attempted_at(status: DeviceStatus) -> str:
    moment = status.state.last_attempt_at
    return "" if moment is None else moment.isoformat()


def _table(statuses: list[DeviceStatus], groups: dict[str, str]) -> list[str]:
    refused = [status for status in statuses if not status.certified]
    certified = [status for status in statuses if status.certified]
    shown = certified[: max(MAX_TABLE_ROWS - len(refused), 0)] + refused
    names = [groups.get(status.device.device_id, "-") for status in shown]
    width = max([len("Group"), *map(len, names)])
    lines = [f"  {'Device':<{ID_PREFIX_CHARS + 1}}  {'Group':<{width}}  Certificate"]
    for status in shown:
        device_id = status.device.device_id
        lines.append(
            f"  {device_id[:ID_PREFIX_CHARS]}…  "
            f"{groups.get(device_id, '-'):<{width}}  {_status_text(status)}"
        )
    if len(shown) < len(statuses):
        lines.append(f"  … and {len(statuses) - len(shown)} more certified devices")
    return lines


def _status_text(status: DeviceStatus) -> str:
    state = status.state
    if status.certified and state.certificate_not_after is not None:
        expiry = state.certificate_not_after.astimezone(UTC)
        return f"valid until {expiry:%Y-%m-%d %H:%M} UTC"
    return f"{state.last_result}: {state.last_reason}"


def _quiet_agent_logs() -> None:
    """The agent logs each refusal as a warning; here the table reports them."""
    logger = logging.getLogger("sevenfold.agent")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())
