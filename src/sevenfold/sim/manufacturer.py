"""The simulated factory: a manufacturer key that signs the fleet's registrations.

The key lives in memory only. ``register_fleet`` trusts it through the API (the
operator token must be a platform administrator's) and registers the devices from
records it signed, exactly as ``sevenfold factory provision`` and ``sevenfold device
register`` would.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sevenfold.crypto.registration import (
    manufacturer_key_id,
    public_key_pem,
    sign_registration_record,
)
from sevenfold.protocol.clock import Clock
from sevenfold.sim.client import OperatorClient
from sevenfold.sim.records import RegistrationRecord as RegistrationCounts


class SimManufacturer:
    """An Ed25519 manufacturer key that vouches for simulated devices."""

    __slots__ = ("__key", "name")

    def __init__(self, name: str = "Simulated factory") -> None:
        self.__key = Ed25519PrivateKey.generate()
        self.name = name

    @property
    def key_id(self) -> str:
        """The key ID the service computes (SHA-256 of the SPKI)."""
        return manufacturer_key_id(self.__key.public_key())

    @property
    def public_key_pem(self) -> str:
        """The public key, to be trusted by the service."""
        return public_key_pem(self.__key.public_key())

    def records(
        self, device_ids: Sequence[str], created_at: datetime
    ) -> list[dict[str, Any]]:
        """Signed registration records for these devices, as JSON objects."""
        return [
            sign_registration_record(
                self.__key, device_id=device_id, created_at=created_at
            ).to_json()
            for device_id in device_ids
        ]

    def __repr__(self) -> str:
        return f"SimManufacturer({self.key_id[:16]}...)"


async def register_fleet(
    client: OperatorClient,
    device_ids: Sequence[str],
    *,
    clock: Clock,
    manufacturer: SimManufacturer | None = None,
) -> RegistrationCounts:
    """Trust a (new) manufacturer key, then register the devices it signed for."""
    factory = manufacturer or SimManufacturer()
    await client.trust_manufacturer_key(factory.name, factory.public_key_pem)
    return await client.register_records(factory.records(device_ids, clock.now()))
