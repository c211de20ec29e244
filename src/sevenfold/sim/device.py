"""Simulated devices: each holds a real P-256 identity key, made and kept in memory.

The private key is the device's root of trust in the simulation, standing in for a
TPM or DICE key store: it never leaves the object (no accessor, no serialization,
not in ``repr``); callers get the device ID and signatures only.
"""

from collections.abc import Iterable, Iterator

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from sevenfold.crypto.device_ids import device_id_of


class SimDevice:
    """One simulated device and its identity key."""

    __slots__ = ("_identity_key", "device_id")

    def __init__(self) -> None:
        self._identity_key = ec.generate_private_key(ec.SECP256R1())
        self.device_id: str = device_id_of(self._identity_key.public_key())

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The identity public key (its X||Y is the device ID)."""
        return self._identity_key.public_key()

    def sign(self, message: bytes) -> bytes:
        """Sign ``message`` with the identity key (ECDSA P-256, SHA-256, DER)."""
        return self._identity_key.sign(message, ec.ECDSA(hashes.SHA256()))

    def __repr__(self) -> str:
        return f"SimDevice({self.device_id[:16]}…)"

    def __reduce__(self) -> str:
        # Refuse pickling: a pickled device would carry its private key out of memory.
        raise TypeError("a SimDevice holds a private key and cannot be serialized")


class Fleet:
    """A fixed set of simulated devices, in creation order."""

    def __init__(self, devices: Iterable[SimDevice]) -> None:
        self._devices = tuple(devices)

    @classmethod
    def create(cls, count: int) -> "Fleet":
        """Make ``count`` devices with fresh identity keys."""
        if count < 1:
            raise ValueError("a fleet has at least one device")
        return cls([SimDevice() for _ in range(count)])

    @property
    def device_ids(self) -> list[str]:
        """The device IDs, in fleet order."""
        return [device.device_id for device in self._devices]

    def __len__(self) -> int:
        return len(self._devices)

    def __iter__(self) -> Iterator[SimDevice]:
        return iter(self._devices)

    def __getitem__(self, index: int) -> SimDevice:
        return self._devices[index]

    def __repr__(self) -> str:
        return f"Fleet({len(self._devices)} devices)"
