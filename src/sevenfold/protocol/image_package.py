"""The image package format: manifest first, then the payload (docs/updates.md §1).

```
0       8   magic b"SFPKG\\x00\\x01\\x00"
8       4   manifest length M (big-endian, 1..65536)
12      M   canonical JSON manifest
12+M    2   signature length S (big-endian, 64 for Ed25519)
14+M    S   Ed25519 signature over SIGNED_PREFIX + manifest
14+M+S  ... payload (manifest.payload_bytes bytes, SHA-256 manifest.payload_sha256)
```

A reader needs at most ``MAX_HEADER_BYTES`` leading bytes to parse and check the
manifest, so a service or device rejects a package before touching its payload.
Pure: no I/O, no cryptography (signatures are checked in ``crypto.image_signing``).
"""

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

from sevenfold.protocol.errors import PackageFormatError, ProtocolError
from sevenfold.protocol.updates import (
    MAX_SECURITY_VERSION,
    ImageType,
    is_sha256_hex,
    parse_version,
)

MAGIC = b"SFPKG\x00\x01\x00"
FORMAT_VERSION = 1
SIGNED_PREFIX = b"sevenfold-image-package-v1\x00"
MAX_MANIFEST_BYTES = 65_536
SIGNATURE_BYTES = 64
MAX_HEADER_BYTES = len(MAGIC) + 4 + MAX_MANIFEST_BYTES + 2 + SIGNATURE_BYTES
MAX_NAME_CHARS = 100
MAX_ENTRY_POINT_CHARS = 200
MAX_CAPABILITIES = 64
MAX_PAYLOAD_BYTES = 2**63 - 1
_T = TypeVar("_T")
_CAPABILITY_RE = re.compile(r"^[a-z0-9][a-z0-9._:-]{0,63}$")

_COMMON_FIELDS = frozenset(
    {
        "format",
        "type",
        "component_id",
        "image_id",
        "name",
        "version",
        "security_version",
        "payload_bytes",
        "payload_sha256",
        "signing_key_id",
    }
)
_APP_FIELDS = frozenset({"entry_point", "capabilities"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageManifest:
    """What an image package says about itself; valid by construction.

    ``entry_point`` and ``capabilities`` exist for apps only (None for OS images).
    """

    type: ImageType
    component_id: str
    image_id: str
    name: str
    version: str
    security_version: int
    payload_bytes: int
    payload_sha256: str
    signing_key_id: str
    entry_point: str | None = None
    capabilities: tuple[str, ...] | None = None
    format: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        _validate(self)

    def to_json(self) -> dict[str, Any]:
        """The manifest as a JSON object (app-only fields only on apps)."""
        body: dict[str, Any] = {
            "format": self.format,
            "type": self.type.value,
            "component_id": self.component_id,
            "image_id": self.image_id,
            "name": self.name,
            "version": self.version,
            "security_version": self.security_version,
            "payload_bytes": self.payload_bytes,
            "payload_sha256": self.payload_sha256,
            "signing_key_id": self.signing_key_id,
        }
        if self.type is ImageType.APP:
            body["entry_point"] = self.entry_point
            body["capabilities"] = list(self.capabilities or ())
        return body

    def encode(self) -> bytes:
        """The canonical manifest bytes (sorted keys, no spaces, UTF-8)."""
        return _canonical_json(self.to_json())

    @classmethod
    def from_json(cls, body: object) -> "ImageManifest":
        """Build a manifest from a decoded JSON object, strictly.

        Raises:
            PackageFormatError: unknown or missing fields, wrong types, bad values.
        """
        if not isinstance(body, dict):
            raise PackageFormatError("the manifest is not a JSON object")
        kind = _field(body, "type", str)
        try:
            image_type = ImageType(kind)
        except ValueError as err:
            raise PackageFormatError("type is 'os' or 'app'") from err
        allowed = _COMMON_FIELDS | (
            _APP_FIELDS if image_type is ImageType.APP else set()
        )
        unknown = set(body) - allowed
        if unknown:
            raise PackageFormatError(f"unknown manifest fields: {sorted(unknown)}")
        missing = allowed - set(body)
        if missing:
            raise PackageFormatError(f"missing manifest fields: {sorted(missing)}")
        capabilities: tuple[str, ...] | None = None
        if image_type is ImageType.APP:
            listed = _field(body, "capabilities", list)
            if not all(isinstance(item, str) for item in listed):
                raise PackageFormatError("capabilities are strings")
            capabilities = tuple(listed)
        return cls(
            format=_field(body, "format", int),
            type=image_type,
            component_id=_field(body, "component_id", str),
            image_id=_field(body, "image_id", str),
            name=_field(body, "name", str),
            version=_field(body, "version", str),
            security_version=_field(body, "security_version", int),
            payload_bytes=_field(body, "payload_bytes", int),
            payload_sha256=_field(body, "payload_sha256", str),
            signing_key_id=_field(body, "signing_key_id", str),
            entry_point=(
                _field(body, "entry_point", str)
                if image_type is ImageType.APP
                else None
            ),
            capabilities=capabilities,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageHeader:
    """A parsed package header; the payload starts at ``payload_offset``."""

    manifest: ImageManifest
    manifest_bytes: bytes
    signature: bytes
    payload_offset: int

    @property
    def package_bytes(self) -> int:
        """The exact size of the whole package file."""
        return self.payload_offset + self.manifest.payload_bytes


def signed_bytes(manifest_bytes: bytes) -> bytes:
    """What the Ed25519 signature covers (domain-separated from other signatures)."""
    return SIGNED_PREFIX + manifest_bytes


def encode_package_header(manifest_bytes: bytes, signature: bytes) -> bytes:
    """Magic, manifest and signature: everything before the payload."""
    if not 1 <= len(manifest_bytes) <= MAX_MANIFEST_BYTES:
        raise PackageFormatError(f"a manifest is 1-{MAX_MANIFEST_BYTES} bytes")
    if len(signature) != SIGNATURE_BYTES:
        raise PackageFormatError(f"a signature is {SIGNATURE_BYTES} bytes")
    return b"".join(
        (
            MAGIC,
            len(manifest_bytes).to_bytes(4, "big"),
            manifest_bytes,
            len(signature).to_bytes(2, "big"),
            signature,
        )
    )


def parse_package_header(data: bytes) -> PackageHeader:
    """Parse the header from the leading bytes of a package.

    ``data`` may hold the whole package or just its first ``MAX_HEADER_BYTES``;
    bytes after the header are ignored (they are payload).

    Raises:
        PackageFormatError: bad magic, lengths out of range, truncated header, or a
            manifest that is not canonical, strictly valid JSON.
    """
    if len(data) < len(MAGIC) + 4:
        raise PackageFormatError("truncated package header")
    if data[: len(MAGIC)] != MAGIC:
        raise PackageFormatError("not a Sevenfold image package (bad magic)")
    offset = len(MAGIC)
    manifest_length = int.from_bytes(data[offset : offset + 4], "big")
    if not 1 <= manifest_length <= MAX_MANIFEST_BYTES:
        raise PackageFormatError(f"a manifest is 1-{MAX_MANIFEST_BYTES} bytes")
    offset += 4
    manifest_bytes = bytes(data[offset : offset + manifest_length])
    offset += manifest_length
    if len(data) < offset + 2:
        raise PackageFormatError("truncated package header")
    signature_length = int.from_bytes(data[offset : offset + 2], "big")
    if signature_length != SIGNATURE_BYTES:
        raise PackageFormatError(f"a signature is {SIGNATURE_BYTES} bytes")
    offset += 2
    signature = bytes(data[offset : offset + signature_length])
    offset += signature_length
    if len(data) < offset:
        raise PackageFormatError("truncated package header")
    return PackageHeader(
        manifest=decode_manifest(manifest_bytes),
        manifest_bytes=manifest_bytes,
        signature=signature,
        payload_offset=offset,
    )


def decode_manifest(manifest_bytes: bytes) -> ImageManifest:
    """Parse canonical manifest bytes strictly.

    Raises:
        PackageFormatError: not UTF-8 JSON, duplicate keys, invalid fields, or not
            in canonical form (so one manifest has exactly one byte encoding).
    """
    try:
        body = json.loads(
            manifest_bytes.decode("utf-8"), object_pairs_hook=_reject_duplicates
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise PackageFormatError("the manifest is not UTF-8 JSON") from err
    manifest = ImageManifest.from_json(body)
    if manifest.encode() != manifest_bytes:
        raise PackageFormatError("the manifest is not in canonical form")
    return manifest


def is_safe_relative_path(text: str) -> bool:
    """True for a relative POSIX path with no empty, ``.`` or ``..`` parts."""
    if not text or len(text) > MAX_ENTRY_POINT_CHARS or not text.isprintable():
        return False
    if text.startswith("/") or "\\" in text:
        return False
    return all(part not in ("", ".", "..") for part in text.split("/"))


def _canonical_json(body: dict[str, Any]) -> bytes:
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key, value in pairs:
        if key in body:
            raise PackageFormatError(f"duplicate manifest field {key!r}")
        body[key] = value
    return body


def _field(body: dict[str, Any], name: str, kind: type[_T]) -> _T:
    value = body.get(name)
    # bool is an int in Python but never a valid manifest number.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise PackageFormatError(f"{name} must be a {kind.__name__}")
    return value


def _is_canonical_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def _validate(manifest: ImageManifest) -> None:
    _check_identity(manifest)
    _check_int("security_version", manifest.security_version, MAX_SECURITY_VERSION)
    _check_int("payload_bytes", manifest.payload_bytes, MAX_PAYLOAD_BYTES)
    for name in ("payload_sha256", "signing_key_id"):
        value = getattr(manifest, name)
        if not isinstance(value, str) or not is_sha256_hex(value):
            raise PackageFormatError(f"{name} must be 64 lower-case hex characters")
    if manifest.type is ImageType.OS:
        if manifest.entry_point is not None or manifest.capabilities is not None:
            raise PackageFormatError("entry_point and capabilities are for apps only")
        return
    if not isinstance(manifest.entry_point, str) or not is_safe_relative_path(
        manifest.entry_point
    ):
        raise PackageFormatError(
            "entry_point must be a relative path without '.' or '..' parts"
        )
    _check_capabilities(manifest.capabilities)


def _check_identity(manifest: ImageManifest) -> None:
    if manifest.format != FORMAT_VERSION or isinstance(manifest.format, bool):
        raise PackageFormatError(f"format must be {FORMAT_VERSION}")
    if not isinstance(manifest.type, ImageType):
        raise PackageFormatError("type is 'os' or 'app'")
    for name in ("component_id", "image_id"):
        if not _is_canonical_uuid(getattr(manifest, name)):
            raise PackageFormatError(f"{name} must be a lower-case UUID")
    name = manifest.name
    if not 1 <= len(name) <= MAX_NAME_CHARS or not name.isprintable():
        raise PackageFormatError(f"name is 1-{MAX_NAME_CHARS} printable characters")
    try:
        parse_version(manifest.version)
    except ProtocolError as err:
        raise PackageFormatError(f"version: {err}") from err


def _check_int(name: str, value: object, maximum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise PackageFormatError(f"{name} must be an integer")
    if not 0 <= value <= maximum:
        raise PackageFormatError(f"{name} must be 0-{maximum}")


def _check_capabilities(capabilities: tuple[str, ...] | None) -> None:
    if capabilities is None:
        raise PackageFormatError("an app lists its capabilities")
    if len(capabilities) > MAX_CAPABILITIES:
        raise PackageFormatError(f"at most {MAX_CAPABILITIES} capabilities")
    for capability in capabilities:
        if not _CAPABILITY_RE.match(capability):
            raise PackageFormatError(
                "a capability is 1-64 of a-z 0-9 . _ : - (starting alphanumeric)"
            )
    if list(capabilities) != sorted(set(capabilities)):
        raise PackageFormatError("capabilities are sorted and unique")
