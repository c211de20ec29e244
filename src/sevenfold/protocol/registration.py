"""Registration records: the factory's signed statement that a device identity exists.

``sevenfold factory provision`` writes one record per device, signed by a manufacturer
key (Ed25519); the service registers a device only from a record that verifies against
a manufacturer key its platform administrator trusts
(``sevenfold.crypto.registration``). The factory signs and the service verifies the same
bytes, ``signed_record_bytes``, so the encoding lives here.

On disk and on the wire a record is one JSON object; a batch is JSON Lines (one record
per line, UTF-8). Sizes are bounded so that a hostile file cannot exhaust memory.
"""

import base64
import binascii
import json
import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sevenfold.protocol.errors import RecordFormatError

REGISTRATION_DOMAIN = b"sevenfold/registration-record/v1\x00"
RECORD_VERSION = 1
SIGNATURE_BYTES = 64
MAX_PRODUCT_HINT_CHARS = 100
MAX_RECORD_LINE_BYTES = 1024
"""A record line is about 450 bytes; anything longer is refused before parsing."""
MAX_RECORDS_PER_REQUEST = 1000

_DEVICE_ID = re.compile(r"[0-9a-f]{128}")
_KEY_ID = re.compile(r"[0-9a-f]{64}")
_FIELDS = frozenset(
    {"v", "device_id", "manufacturer_key_id", "created_at", "product", "signature"}
)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise RecordFormatError(message)


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrationRecord:
    """One device identity, vouched for by one manufacturer key.

    ``device_id`` is the canonical (lower-case) hex P-256 identity public key;
    ``manufacturer_key_id`` is the lower-case hex SHA-256 of the manufacturer public
    key's DER SubjectPublicKeyInfo; ``created_at`` is whole seconds, UTC; ``product`` is
    an optional, unverified hint for the operator; ``signature`` is the Ed25519
    signature over ``signed_bytes()``.
    """

    device_id: str
    manufacturer_key_id: str
    created_at: datetime
    product: str | None
    signature: bytes

    def __post_init__(self) -> None:
        _check(
            bool(_DEVICE_ID.fullmatch(self.device_id)),
            "device_id is 128 lower-case hexadecimal characters",
        )
        _check(
            bool(_KEY_ID.fullmatch(self.manufacturer_key_id)),
            "manufacturer_key_id is 64 lower-case hexadecimal characters",
        )
        _check(
            self.created_at.tzinfo is not None and self.created_at.microsecond == 0,
            "created_at is whole seconds with a time zone",
        )
        _check(self.created_at.timestamp() >= 0, "created_at is after 1970")
        _check(
            self.product is None or 0 < len(self.product) <= MAX_PRODUCT_HINT_CHARS,
            f"product is 1 to {MAX_PRODUCT_HINT_CHARS} characters",
        )
        _check(
            len(self.signature) == SIGNATURE_BYTES,
            f"signature is {SIGNATURE_BYTES} bytes",
        )

    def signed_bytes(self) -> bytes:
        """The bytes the manufacturer key signed."""
        return signed_record_bytes(
            device_id=self.device_id,
            manufacturer_key_id=self.manufacturer_key_id,
            created_at=self.created_at,
            product=self.product,
        )

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON object (the wire and file form)."""
        return {
            "v": RECORD_VERSION,
            "device_id": self.device_id,
            "manufacturer_key_id": self.manufacturer_key_id,
            "created_at": _iso(self.created_at),
            "product": self.product,
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }

    def to_line(self) -> str:
        """The record as one JSON Lines line (with its newline)."""
        return json.dumps(self.to_json(), separators=(",", ":")) + "\n"


def signed_record_bytes(
    *,
    device_id: str,
    manufacturer_key_id: str,
    created_at: datetime,
    product: str | None,
) -> bytes:
    """Return the canonical bytes a manufacturer key signs for one device.

    ``domain || device ID (64 bytes) || key ID (32 bytes) || u64 seconds since the
    epoch || u8 has-product || u16 len(product) || product (UTF-8)``: fixed widths and a
    length prefix, so no two records share an encoding; the domain label keeps the
    signature from being valid for anything else the key signs.
    """
    seconds = int(created_at.timestamp())
    _check(seconds >= 0, "created_at is after 1970")
    hint = (product or "").encode("utf-8")
    return b"".join(
        (
            REGISTRATION_DOMAIN,
            bytes.fromhex(device_id),
            bytes.fromhex(manufacturer_key_id),
            struct.pack(">QBH", seconds, product is not None, len(hint)),
            hint,
        )
    )


def record_from_json(value: Any) -> RegistrationRecord:
    """Parse one record from its JSON object.

    Raises:
        RecordFormatError: anything but a well-formed version-1 record.
    """
    _check(isinstance(value, dict), "a record is a JSON object")
    _check(set(value) == _FIELDS, f"a record has exactly the fields {sorted(_FIELDS)}")
    _check(value["v"] == RECORD_VERSION and type(value["v"]) is int, "v must be 1")
    for name in ("device_id", "manufacturer_key_id", "created_at", "signature"):
        _check(isinstance(value[name], str), f"{name} is a string")
    product = value["product"]
    _check(product is None or isinstance(product, str), "product is a string or null")
    return RegistrationRecord(
        device_id=value["device_id"],
        manufacturer_key_id=value["manufacturer_key_id"],
        created_at=_parse_iso(value["created_at"]),
        product=product,
        signature=_parse_base64(value["signature"]),
    )


def record_from_line(line: str | bytes) -> RegistrationRecord:
    """Parse one JSON Lines line (bounded in size).

    Raises:
        RecordFormatError: too long, not JSON, or not a well-formed record.
    """
    raw = line.encode("utf-8", "surrogatepass") if isinstance(line, str) else line
    _check(len(raw) <= MAX_RECORD_LINE_BYTES, "the record line is too long")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as err:
        raise RecordFormatError("the record line is not JSON") from err
    return record_from_json(value)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str) -> datetime:
    message = "created_at is YYYY-MM-DDThh:mm:ssZ"
    _check(len(text) == len("2026-01-01T00:00:00Z") and text.endswith("Z"), message)
    try:
        return datetime.strptime(text[:-1] + "+0000", "%Y-%m-%dT%H:%M:%S%z")
    except ValueError as err:
        raise RecordFormatError(message) from err


def _parse_base64(text: str) -> bytes:
    _check(len(text) <= 4 * SIGNATURE_BYTES, "signature is too long")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as err:
        raise RecordFormatError("signature is not base64") from err
