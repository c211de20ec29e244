"""Simulated devices: each a software-DICE device with the agent's real key store.

A device is a state directory holding a fresh 32-byte UDS (mode 0400, written by the
agent's ``DiceKeyStore.create``) and the key store opened from it for the software
the device runs, exactly as a device's agent opens it at boot. The device ID is the
DICE DeviceID public key; the DeviceID private key is dropped at open and the Alias
key stays inside the key store (no accessor, no serialization, not in ``repr``).
Attestation results and certificates land in the same directory (``sim.attestation``).
"""

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from sevenfold.agent.trusted.dice_keystore import DiceKeyStore
from sevenfold.protocol.attestation import Evidence, Measurements
from sevenfold.protocol.clock import Clock

SIM_OS_VERSION = "26.10"


def sim_software(os_version: str, agent_version: str = "1.0") -> Measurements:
    """The (made-up) digests of a simulated OS release and agent build; no apps."""
    return Measurements(
        os_image_sha256=hashlib.sha256(f"sim os {os_version}".encode()).digest(),
        agent_sha256=hashlib.sha256(f"sim agent {agent_version}".encode()).digest(),
        app_image_sha256s=(),
    )


SIM_SOFTWARE = sim_software(SIM_OS_VERSION)
"""What every simulated device runs unless told otherwise."""


class SimDevice:
    """One simulated device: its state directory, software and DICE key store."""

    __slots__ = ("_keystore", "device_id", "software", "state_dir")

    def __init__(
        self, state_dir: Path, software: Measurements, keystore: DiceKeyStore
    ) -> None:
        self.state_dir = state_dir
        self.software = software
        self._keystore = keystore
        self.device_id: str = keystore.device_id

    @classmethod
    def provision(
        cls, state_dir: Path, *, clock: Clock, software: Measurements = SIM_SOFTWARE
    ) -> "SimDevice":
        """Make a new UDS in ``state_dir`` (which must not hold one) and boot on it.

        Raises:
            UdsExistsError: ``state_dir`` already holds a device secret.
        """
        DiceKeyStore.create(state_dir)
        return cls(
            state_dir, software, DiceKeyStore.open(state_dir, software, clock=clock)
        )

    @property
    def keystore(self) -> DiceKeyStore:
        """The key store, as the agent uses it (it exposes no private key)."""
        return self._keystore

    def boot_into(self, software: Measurements, *, clock: Clock) -> None:
        """Boot other software (an OS update): DICE derives the Alias key anew
        from the UDS and the new measurements, as a real device's boot does."""
        self._keystore = DiceKeyStore.open(self.state_dir, software, clock=clock)
        self.software = software

    def evidence(self, nonce: bytes) -> Evidence:
        """Evidence for ``nonce`` about the software the device runs."""
        return self._keystore.evidence(nonce, self.software)

    def __repr__(self) -> str:
        return f"SimDevice({self.device_id[:16]}…)"

    def __reduce__(self) -> str:
        # Refuse pickling: a pickled device would carry its Alias key out of memory.
        raise TypeError("a SimDevice holds a private key and cannot be serialized")


class Fleet:
    """A fixed set of simulated devices, in creation order."""

    def __init__(self, devices: Iterable[SimDevice]) -> None:
        self._devices = tuple(devices)

    @classmethod
    def create(
        cls,
        count: int,
        root: Path,
        *,
        clock: Clock,
        software: Measurements | Sequence[Measurements] = SIM_SOFTWARE,
    ) -> "Fleet":
        """Provision ``count`` devices in ``root/device-NNNNN`` (0-based).

        ``software`` is what every device runs, or one entry per device.
        """
        if count < 1:
            raise ValueError("a fleet has at least one device")
        runs = [software] * count if isinstance(software, Measurements) else software
        if len(runs) != count:
            raise ValueError("give one software entry per device")
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        return cls(
            SimDevice.provision(root / f"device-{index:05d}", clock=clock, software=sw)
            for index, sw in enumerate(runs)
        )

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
