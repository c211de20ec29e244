"""Software-DICE devices for tests: keys, Alias certificates and evidence, built from
the pure crypto package alone (the agent's key store is tested against the same)."""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from sevenfold.crypto.device_ids import device_id_of
from sevenfold.crypto.dice_chain import issue_alias_certificate
from sevenfold.crypto.dice_derivation import alias_key, device_id_key
from sevenfold.protocol.attestation import Evidence, Measurements, signed_evidence_bytes

NOW = datetime.fromisoformat("2026-11-23T12:00:00+00:00")
NONCE = bytes(range(32))


def measurements(
    os_image: bytes = b"os 1.0", agent: bytes = b"agent 1.0"
) -> Measurements:
    """Return measurements of the named OS image and agent, with one app."""
    return Measurements(
        os_image_sha256=hashlib.sha256(os_image).digest(),
        agent_sha256=hashlib.sha256(agent).digest(),
        app_image_sha256s=(hashlib.sha256(b"app 1.0").digest(),),
    )


@dataclass(frozen=True, slots=True)
class SoftwareDevice:
    """A device's derived keys and its Alias certificate."""

    device_id: str
    alias: ec.EllipticCurvePrivateKey
    alias_certificate: bytes
    measurements: Measurements

    def evidence(self, nonce: bytes = NONCE) -> Evidence:
        """Return evidence for ``nonce`` signed by the Alias key."""
        signature = self.alias.sign(
            signed_evidence_bytes(nonce, self.measurements), ec.ECDSA(hashes.SHA256())
        )
        return Evidence(
            alias_certificate=self.alias_certificate,
            measurements=self.measurements,
            nonce=nonce,
            signature=signature,
        )


def software_device(
    uds: bytes = b"\x07" * 32,
    software: Measurements | None = None,
    *,
    not_before: datetime = NOW - timedelta(minutes=5),
    lifetime: timedelta = timedelta(days=1),
) -> SoftwareDevice:
    """Return a device derived from ``uds`` running ``software``."""
    running = software or measurements()
    identity = device_id_key(uds)
    alias = alias_key(uds, running.os_image_sha256, running.agent_sha256)
    certificate = issue_alias_certificate(
        device_id_key=identity,
        alias_public_key=alias.public_key(),
        measurements=running,
        not_before=not_before,
        not_after=not_before + lifetime,
    )
    return SoftwareDevice(
        device_id=device_id_of(identity.public_key()),
        alias=alias,
        alias_certificate=certificate,
        measurements=running,
    )
