"""API shapes of approved measurements, attestation challenges, evidence and history.

Device-facing inputs are bounded before any cryptography sees them: every digest is 64
hex characters, the nonce is 32 bytes base64url, the Alias certificate and signature
are standard base64 of at most 4 KiB and 80 bytes, and at most 64 app images. TPM
evidence is bounded the same way: a quote of at most 1 KiB (``MAX_ATTEST_BYTES``), an
attestation public key of at most 256 bytes, signatures of at most 80 bytes, and at
most 24 PCRs (indices 0 to 23, each a SHA-256 value).
"""

import base64
import binascii
from datetime import datetime
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from sevenfold.crypto.device_ids import normalize_device_id
from sevenfold.crypto.tpm_quote import MAX_ATTEST_BYTES
from sevenfold.protocol.attestation import (
    ATTESTATION_NONCE_BYTES,
    MAX_APP_IMAGES,
    AttestationFailure,
    AttestationOutcome,
    Evidence,
    MeasurementKind,
    Measurements,
)
from sevenfold.protocol.tpm_evidence import TpmEvidence

MAX_ALIAS_CERTIFICATE_BYTES = 4096
MAX_SIGNATURE_BYTES = 80
MAX_ATTESTATION_PUBLIC_KEY_BYTES = 256
MAX_PCRS = 24
NONCE_CHARS = 43  # base64url of 32 bytes, no padding

DeviceId = Annotated[str, Field(max_length=200), AfterValidator(normalize_device_id)]
Sha256Hex = Annotated[
    str,
    StringConstraints(min_length=64, max_length=64, pattern=r"^[0-9a-fA-F]{64}$"),
    AfterValidator(str.lower),
]
OsVersion = Annotated[
    str, StringConstraints(max_length=32, pattern=r"^[0-9]{1,4}(\.[0-9]{1,4}){1,2}$")
]
Label = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, max_length=100, pattern=r"^[^\x00-\x1f]*$"
    ),
]


def _decodes_as_base64(text: str) -> str:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ValueError("not standard base64") from err
    return text


def _decodes_as_nonce(text: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(text + "=")
    except (binascii.Error, ValueError) as err:
        raise ValueError("not base64url") from err
    if len(raw) != ATTESTATION_NONCE_BYTES:
        raise ValueError("a nonce is 32 bytes")
    return text


Nonce = Annotated[
    str,
    StringConstraints(
        min_length=NONCE_CHARS, max_length=NONCE_CHARS, pattern=r"^[A-Za-z0-9_-]+$"
    ),
    AfterValidator(_decodes_as_nonce),
]


def _base64_bounds(max_bytes: int) -> StringConstraints:
    """Standard base64 text of at most ``max_bytes`` bytes, length bounded first."""
    return StringConstraints(
        min_length=4,
        max_length=4 * (max_bytes // 3 + 1),
        pattern=r"^[A-Za-z0-9+/]+={0,2}$",
    )


_IS_BASE64 = AfterValidator(_decodes_as_base64)
AliasCertificate = Annotated[
    str, _base64_bounds(MAX_ALIAS_CERTIFICATE_BYTES), _IS_BASE64
]
Signature = Annotated[str, _base64_bounds(MAX_SIGNATURE_BYTES), _IS_BASE64]
Quote = Annotated[str, _base64_bounds(MAX_ATTEST_BYTES), _IS_BASE64]
AttestationPublicKey = Annotated[
    str, _base64_bounds(MAX_ATTESTATION_PUBLIC_KEY_BYTES), _IS_BASE64
]
PcrIndex = Annotated[int, Field(ge=0, lt=MAX_PCRS)]


def decode_nonce(text: str) -> bytes:
    """The bytes of a base64url nonce (validated by ``Nonce``)."""
    return base64.urlsafe_b64decode(text + "=")


def encode_nonce(nonce: bytes) -> str:
    """A nonce as base64url without padding."""
    return base64.urlsafe_b64encode(nonce).rstrip(b"=").decode("ascii")


class ApprovedMeasurementIn(BaseModel):
    """Software a product's devices may run; an OS image names its version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: MeasurementKind
    sha256: Sha256Hex
    version: OsVersion | None = None
    label: Label = ""

    @model_validator(mode="after")
    def _version_only_for_os(self) -> Self:
        if self.kind is MeasurementKind.OS and self.version is None:
            raise ValueError("an approved OS image needs its version")
        if self.kind is not MeasurementKind.OS and self.version is not None:
            raise ValueError("only an OS image has a version")
        return self


class ApprovedMeasurementOut(BaseModel):
    """An approved measurement of a product."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: str
    product_id: str
    kind: MeasurementKind
    sha256: str
    version: str | None
    label: str
    created_at: datetime


class NonceIn(BaseModel):
    """A device asks for a challenge."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device_id: DeviceId


class NonceOut(BaseModel):
    """A single-use challenge (base64url, 32 bytes) and when it expires."""

    nonce: str
    expires_at: datetime


class MeasurementsIn(BaseModel):
    """The SHA-256 digests of what the device runs, hex."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    os_image_sha256: Sha256Hex
    agent_sha256: Sha256Hex
    app_image_sha256s: list[Sha256Hex] = Field(
        default_factory=list, max_length=MAX_APP_IMAGES
    )

    def to_measurements(self) -> Measurements:
        """The wire measurements these digests name."""
        return Measurements(
            os_image_sha256=bytes.fromhex(self.os_image_sha256),
            agent_sha256=bytes.fromhex(self.agent_sha256),
            app_image_sha256s=tuple(bytes.fromhex(d) for d in self.app_image_sha256s),
        )


class EvidenceIn(BaseModel):
    """A device's answer to a challenge (see ``protocol/attestation.py``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device_id: DeviceId
    nonce: Nonce
    alias_certificate: AliasCertificate
    measurements: MeasurementsIn
    signature: Signature

    def to_evidence(self) -> Evidence:
        """The evidence in its wire form, for ``verify_evidence``."""
        return Evidence(
            alias_certificate=base64.b64decode(self.alias_certificate),
            measurements=self.measurements.to_measurements(),
            nonce=decode_nonce(self.nonce),
            signature=base64.b64decode(self.signature),
        )


class TpmEvidenceIn(BaseModel):
    """A TPM device's answer to a challenge (see ``protocol/tpm_evidence.py``).

    ``quoted`` is the TPMS_ATTEST and ``signature`` the AK's signature over it;
    ``attestation_public_key`` is the AK's DER SubjectPublicKeyInfo and
    ``attestation_key_binding`` the identity key's signature vouching for it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    device_id: DeviceId
    nonce: Nonce
    quoted: Quote
    signature: Signature
    attestation_public_key: AttestationPublicKey
    attestation_key_binding: Signature
    pcr_indices: list[PcrIndex] = Field(min_length=1, max_length=MAX_PCRS)
    pcr_values: list[Sha256Hex] = Field(min_length=1, max_length=MAX_PCRS)
    measurements: MeasurementsIn

    @model_validator(mode="after")
    def _one_value_per_pcr(self) -> Self:
        if len(self.pcr_indices) != len(self.pcr_values):
            raise ValueError("pcr_values has one value per index of pcr_indices")
        return self

    def to_evidence(self) -> TpmEvidence:
        """The evidence in its wire form, for ``verify_tpm_evidence``."""
        return TpmEvidence(
            quoted=base64.b64decode(self.quoted),
            signature=base64.b64decode(self.signature),
            attestation_public_key=base64.b64decode(self.attestation_public_key),
            attestation_key_binding=base64.b64decode(self.attestation_key_binding),
            pcr_indices=tuple(self.pcr_indices),
            pcr_values=tuple(bytes.fromhex(value) for value in self.pcr_values),
            measurements=self.measurements.to_measurements(),
            nonce=decode_nonce(self.nonce),
        )


class CertificateOut(BaseModel):
    """The device certificate (PEM), the tenant CA bundle (PEM) and its expiry."""

    certificate: str
    chain: str
    not_after: datetime


class AttestationAttemptOut(BaseModel):
    """One attestation attempt of a device."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    at: datetime
    outcome: AttestationOutcome
    reason: AttestationFailure | None
    os_version: str | None


class DeviceEventOut(BaseModel):
    """An event recorded for a device (now: attestation failures)."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    kind: str
    reason: str | None
    at: datetime


class AttestationHistoryOut(BaseModel):
    """A device's recent attestation attempts and failure events, newest first."""

    attempts: list[AttestationAttemptOut]
    events: list[DeviceEventOut]
