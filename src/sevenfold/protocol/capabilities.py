"""Device capabilities: signed, per-device grants (PRODUCT.md "Device capabilities").

A grant names one device, its tenant, the capabilities it holds and when it was
issued. The service signs it with the tenant CA's key (``crypto.capabilities``); the
device checks the signature against the tenant CA in its own certificate chain and
the device ID against its own, so a grant made for another device, altered or
unsigned is refused. A newer grant replaces an older one (``issued_at`` only goes
up); a grant with no capabilities takes them away (``enable-cloud-test``).

Pure: the canonical encoding and a strict parser; signing lives in ``crypto``.
"""

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sevenfold.protocol.errors import CapabilityFormatError

CAPABILITY_FORMAT = "sevenfold-capability-v1"
SIGNING_DOMAIN = b"sevenfold capability grant v1\n"
MAX_CAPABILITY_BYTES = 16 * 1024
_DEVICE_ID_RE = re.compile(r"^[0-9a-f]{128}$")
_TENANT_ID_RE = re.compile(r"^[0-9a-zA-Z-]{1,36}$")


class CapabilityKind(StrEnum):
    """What a grant allows on one device."""

    APP_DEVELOPMENT = "app-development"  # sideloading; no cloud app deployments
    FIELD_SERVICING = "field-servicing"  # temporary local servicing


@dataclass(frozen=True, slots=True, kw_only=True)
class CapabilityGrant:
    """The signed statement: this device holds these capabilities."""

    device_id: str
    tenant_id: str
    capabilities: frozenset[CapabilityKind]
    issued_at: datetime

    def __post_init__(self) -> None:
        if not _DEVICE_ID_RE.match(self.device_id):
            raise CapabilityFormatError("a grant names a device ID (128 hex)")
        if not _TENANT_ID_RE.match(self.tenant_id):
            raise CapabilityFormatError("a grant names its tenant")
        if self.issued_at.tzinfo is None:
            raise CapabilityFormatError("issued_at carries a time zone")

    def holds(self, kind: CapabilityKind) -> bool:
        """Whether the grant includes ``kind``."""
        return kind in self.capabilities

    def to_json(self) -> dict[str, Any]:
        """The signed fields, in their wire form."""
        return {
            "format": CAPABILITY_FORMAT,
            "device_id": self.device_id,
            "tenant_id": self.tenant_id,
            "capabilities": sorted(kind.value for kind in self.capabilities),
            "issued_at": self.issued_at.astimezone(UTC).isoformat(),
        }

    def signing_input(self) -> bytes:
        """The bytes the signature covers: a domain tag and canonical JSON."""
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return SIGNING_DOMAIN + canonical.encode()


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedCapability:
    """A grant with its signature (DER ECDSA, base64 on the wire)."""

    grant: CapabilityGrant
    signature: bytes

    def to_json(self) -> dict[str, Any]:
        """The file and API form."""
        return {
            "grant": self.grant.to_json(),
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }

    def encode(self) -> bytes:
        """The file form: JSON text."""
        return json.dumps(self.to_json(), indent=2, sort_keys=True).encode() + b"\n"


def _parse_grant(raw: object) -> CapabilityGrant:
    fields = {"format", "device_id", "tenant_id", "capabilities", "issued_at"}
    if not isinstance(raw, dict) or set(raw) != fields:
        raise CapabilityFormatError(f"a grant has exactly {sorted(fields)}")
    if raw["format"] != CAPABILITY_FORMAT:
        raise CapabilityFormatError(f"not a {CAPABILITY_FORMAT} grant")
    kinds = raw["capabilities"]
    if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
        raise CapabilityFormatError("capabilities is a list of names")
    if len(set(kinds)) != len(kinds):
        raise CapabilityFormatError("a capability is named twice")
    device_id, tenant_id, issued = raw["device_id"], raw["tenant_id"], raw["issued_at"]
    if not (
        isinstance(device_id, str)
        and isinstance(tenant_id, str)
        and isinstance(issued, str)
    ):
        raise CapabilityFormatError("device_id, tenant_id and issued_at are text")
    try:
        capabilities = frozenset(CapabilityKind(kind) for kind in kinds)
        issued_at = datetime.fromisoformat(issued)
    except ValueError as err:
        raise CapabilityFormatError(str(err)) from err
    return CapabilityGrant(
        device_id=device_id,
        tenant_id=tenant_id,
        capabilities=capabilities,
        issued_at=issued_at,
    )


def parse_signed_capability(data: bytes) -> SignedCapability:
    """Parse a capability file or API answer strictly (the signature is not
    checked here: ``crypto.capabilities.verify_capability`` does that).

    Raises:
        CapabilityFormatError: not a well-formed signed grant.
    """
    if len(data) > MAX_CAPABILITY_BYTES:
        raise CapabilityFormatError("a capability file is at most 16 KiB")
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise CapabilityFormatError("a capability file is JSON") from err
    if not isinstance(raw, dict) or set(raw) != {"grant", "signature"}:
        raise CapabilityFormatError("a signed capability is {grant, signature}")
    signature_text = raw["signature"]
    if not isinstance(signature_text, str) or not signature_text:
        raise CapabilityFormatError("the grant is unsigned")
    try:
        signature = base64.b64decode(signature_text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise CapabilityFormatError("the signature is not base64") from err
    return SignedCapability(grant=_parse_grant(raw["grant"]), signature=signature)
