"""The ceiling: raw certificate issuance with ``cryptography``, in-process, one thread.

No HTTP, no database, no key unwrapping: ``issue_device_certificate`` (with the
attested-OS-version extension the service adds) in a loop, against a CA made with
``make_certificate_authority``. Next to it, for scale, the evidence check plus the
issuance (what one attestation costs in cryptography alone) and single ECDSA P-256
signatures and verifications. Every loop is bounded in count and in time.
"""

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from bench.dice_devices import OS_VERSION, SOFTWARE, new_devices
from sevenfold.crypto.certificate_authority import (
    certificate_pem,
    issue_device_certificate,
    make_certificate_authority,
)
from sevenfold.crypto.evidence import verify_evidence
from sevenfold.protocol.attestation import (
    ATTESTED_OS_VERSION_OID,
    Evidence,
    encode_os_version,
    signed_evidence_bytes,
)

MAX_OPS = 1_000_000
_OID = x509.ObjectIdentifier(ATTESTED_OS_VERSION_OID)
_ECDSA = ec.ECDSA(hashes.SHA256())


@dataclass(frozen=True, slots=True)
class CryptoResult:
    """How many times one operation ran in how long."""

    name: str
    ops: int
    duration_s: float

    @property
    def per_s(self) -> float:
        """Operations per second."""
        return self.ops / self.duration_s if self.duration_s > 0 else 0.0


def _loop(
    name: str, operation: Callable[[int], object], seconds: float
) -> CryptoResult:
    ops = 0
    started = time.perf_counter()
    deadline = started + seconds
    while ops < MAX_OPS and time.perf_counter() < deadline:
        operation(ops)
        ops += 1
    return CryptoResult(name, ops, time.perf_counter() - started)


def measure(seconds: float) -> list[CryptoResult]:
    """Issuance (the ceiling, first), evidence check + issuance, sign, verify."""
    now = datetime.now(UTC)
    ca = make_certificate_authority(tenant_id="bench", generation=1, now=now)
    devices = new_devices(8)
    extension = x509.Extension(
        _OID, False, x509.UnrecognizedExtension(_OID, encode_os_version(OS_VERSION))
    )
    nonce = bytes(range(32))
    signed = signed_evidence_bytes(nonce, SOFTWARE)
    evidences = [
        Evidence(
            alias_certificate=base64.b64decode(device.alias_certificate_b64),
            measurements=SOFTWARE,
            nonce=nonce,
            signature=device.alias.sign(signed, _ECDSA),
        )
        for device in devices
    ]

    def issue(i: int) -> object:
        device = devices[i % len(devices)]
        return issue_device_certificate(
            ca.private_key,
            ca.certificate,
            device.alias.public_key(),
            device.device_id,
            now,
            extra_extensions=(extension,),
        )

    def attest(i: int) -> object:
        device = devices[i % len(devices)]
        attested = verify_evidence(
            evidences[i % len(devices)],
            registered_device_id=device.device_id,
            expected_nonce=nonce,
            now=now,
        )
        return certificate_pem(
            issue_device_certificate(
                ca.private_key,
                ca.certificate,
                attested.alias_public_key,
                attested.device_id,
                now,
                extra_extensions=(extension,),
            )
        )

    key = devices[0].alias
    public_key = key.public_key()
    signature = key.sign(signed, _ECDSA)
    return [
        _loop("issue_device_certificate", issue, seconds),
        _loop("verify_evidence + issue + PEM", attest, seconds),
        _loop("ECDSA P-256 sign", lambda _: key.sign(signed, _ECDSA), seconds),
        _loop(
            "ECDSA P-256 verify",
            lambda _: public_key.verify(signature, signed, _ECDSA),
            seconds,
        ),
    ]
