"""Software-DICE devices for the attestation benchmark, derived in-process.

Each device gets a random 32-byte UDS; its DeviceID and Alias keys come from
``sevenfold.crypto.dice_derivation`` and its Alias certificate from
``sevenfold.crypto.dice_chain``, exactly as the agent's DICE key store derives them.
Everything per device is computed once, so answering a nonce costs one ECDSA P-256
signature and a JSON body.
"""

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from sevenfold.crypto.device_ids import device_id_of
from sevenfold.crypto.dice_chain import issue_alias_certificate
from sevenfold.crypto.dice_derivation import alias_key, device_id_key
from sevenfold.protocol.attestation import Measurements, signed_evidence_bytes

OS_VERSION = "26.11.1"
ALIAS_LIFETIME = timedelta(days=1)
_SIGNATURE = ec.ECDSA(hashes.SHA256())


def _digest(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()


SOFTWARE = Measurements(
    os_image_sha256=_digest(f"bench os {OS_VERSION}"),
    agent_sha256=_digest("bench agent 1.0"),
    app_image_sha256s=(_digest("bench app 1.0"),),
)


def approvals() -> list[dict[str, Any]]:
    """The approved-measurement bodies that let every bench device attest."""
    return [
        {
            "kind": "os",
            "sha256": SOFTWARE.os_image_sha256.hex(),
            "version": OS_VERSION,
            "label": "bench OS",
        },
        {"kind": "agent", "sha256": SOFTWARE.agent_sha256.hex()},
        *({"kind": "app", "sha256": app.hex()} for app in SOFTWARE.app_image_sha256s),
    ]


@dataclass(frozen=True, slots=True)
class BenchDevice:
    """A device's ID, Alias key and the constant parts of its evidence body."""

    device_id: str
    alias: ec.EllipticCurvePrivateKey
    alias_certificate_b64: str

    def nonce_body(self) -> dict[str, Any]:
        """The body of a nonce request."""
        return {"device_id": self.device_id}

    def evidence_body(self, nonce_text: str) -> dict[str, Any]:
        """Evidence answering a base64url nonce, signed now by the Alias key."""
        nonce = base64.urlsafe_b64decode(nonce_text + "=")
        signature = self.alias.sign(signed_evidence_bytes(nonce, SOFTWARE), _SIGNATURE)
        return {
            "device_id": self.device_id,
            "nonce": nonce_text,
            "alias_certificate": self.alias_certificate_b64,
            "measurements": {
                "os_image_sha256": SOFTWARE.os_image_sha256.hex(),
                "agent_sha256": SOFTWARE.agent_sha256.hex(),
                "app_image_sha256s": [d.hex() for d in SOFTWARE.app_image_sha256s],
            },
            "signature": base64.b64encode(signature).decode("ascii"),
        }


def new_device(now: datetime | None = None) -> BenchDevice:
    """A device from a fresh random UDS running ``SOFTWARE``."""
    uds = secrets.token_bytes(32)
    identity = device_id_key(uds)
    alias = alias_key(uds, SOFTWARE.os_image_sha256, SOFTWARE.agent_sha256)
    not_before = (now or datetime.now(UTC)) - timedelta(minutes=5)
    certificate = issue_alias_certificate(
        device_id_key=identity,
        alias_public_key=alias.public_key(),
        measurements=SOFTWARE,
        not_before=not_before,
        not_after=not_before + ALIAS_LIFETIME,
    )
    return BenchDevice(
        device_id=device_id_of(identity.public_key()),
        alias=alias,
        alias_certificate_b64=base64.b64encode(certificate).decode("ascii"),
    )


def new_devices(count: int) -> list[BenchDevice]:
    """``count`` fresh devices."""
    now = datetime.now(UTC)
    return [new_device(now) for _ in range(count)]
