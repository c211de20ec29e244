"""Simulated devices attest with the agent's real code against a real service."""

import asyncio
import json

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from sevenfold.agent.state import CERTIFICATE_FILE, CHAIN_FILE, STATE_FILE
from sevenfold.protocol.attestation import MeasurementKind
from sevenfold.protocol.clock import ManualClock
from sevenfold.sim.attestation import DeviceStatus, FleetAgents
from sevenfold.sim.client import OperatorClient
from sevenfold.sim.device import SIM_OS_VERSION, SIM_SOFTWARE, Fleet, sim_software
from sevenfold.sim.scenario import FleetOperator
from tests.conftest import TenantAccess
from tests.sim.conftest import MakeFleet

ODD = sim_software("26.12")


def _issued_by_one_of(certificate_pem: bytes, chain_pem: bytes) -> bool:
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    for ca in x509.load_pem_x509_certificates(chain_pem):
        try:
            certificate.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return True
    return False


def test_devices_attest_store_certificates_and_are_refused_when_revoked(
    live_url: str, admin: TenantAccess, clock: ManualClock, make_fleet: MakeFleet
) -> None:
    fleet = make_fleet(3)
    odd = Fleet.create(1, fleet[0].state_dir.parent / "odd", clock=clock, software=ODD)
    everyone = Fleet([*fleet, *odd])

    async def scenario() -> tuple[list[DeviceStatus], DeviceStatus, bytes]:
        async with OperatorClient(live_url, admin.token, clock=clock) as client:
            summary = await FleetOperator(client, clock=clock).run(everyone)
            product_id = summary.product.id
            await client.approve_measurement(
                product_id,
                MeasurementKind.OS,
                SIM_SOFTWARE.os_image_sha256,
                version=SIM_OS_VERSION,
            )
            await client.approve_measurement(
                product_id, MeasurementKind.AGENT, SIM_SOFTWARE.agent_sha256
            )
            async with FleetAgents(everyone, live_url, clock=clock) as agents:
                first = await agents.attest(everyone)
                await client.revoke_device(fleet[0].device_id)
                [again] = await agents.attest([fleet[0]])
            return first, again, await client.ca_chain_pem()

    first, again, ca_chain = asyncio.run(scenario())

    assert [status.certified for status in first] == [True, True, True, False]
    assert first[3].state.last_reason == "unapproved-software"
    for status in first[:3]:
        state_dir = status.device.state_dir
        certificate = (state_dir / CERTIFICATE_FILE).read_bytes()
        assert status.certificate_file == str(state_dir / CERTIFICATE_FILE)
        assert (state_dir / CHAIN_FILE).read_bytes() == ca_chain
        assert _issued_by_one_of(certificate, ca_chain)
        expiry = status.state.certificate_not_after
        assert expiry is not None
        assert (expiry - clock.now()).total_seconds() == 24 * 3600
        saved = json.loads((state_dir / STATE_FILE).read_text())
        assert saved["device_id"] == status.device.device_id
        assert saved["certificate_not_after"] == expiry.isoformat()
    assert not (odd[0].state_dir / CERTIFICATE_FILE).exists()

    assert not again.certified
    assert again.state.last_reason == "revoked"
    # The refusal is recorded; the earlier certificate's expiry is still known.
    assert again.state.certificate_not_after == first[0].state.certificate_not_after
    saved = json.loads((fleet[0].state_dir / STATE_FILE).read_text())
    assert saved["last_attestation"] == {
        "result": "refused",
        "reason": "revoked",
        "at": clock.now().isoformat(),
    }
