"""The image package codec (docs/updates.md §1): round trips and strict refusals."""

import json
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from sevenfold.crypto import image_signing
from sevenfold.crypto.errors import ImageSignatureError, InvalidImageSigningKeyError
from sevenfold.protocol.errors import PackageFormatError
from sevenfold.protocol.image_package import (
    MAGIC,
    MAX_HEADER_BYTES,
    ImageManifest,
    decode_manifest,
    encode_package_header,
    parse_package_header,
)
from sevenfold.protocol.updates import ImageType

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
KEY_ID = image_signing.key_id(KEY.public_key())

uuids = st.uuids().map(str)
versions = st.builds(
    lambda major, minor, patch: f"{major}.{minor}" + (f".{patch}" if patch else ""),
    st.integers(0, 999_999),
    st.integers(0, 999_999),
    st.one_of(st.none(), st.integers(0, 999_999)),
)
names = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x24F).filter(str.isprintable),
    min_size=1,
    max_size=100,
)
_PATH_CHARS = "abcXYZ019_.-"
path_parts = st.text(_PATH_CHARS, min_size=1, max_size=12).filter(
    lambda part: part not in {".", ".."}
)
entry_points = st.lists(path_parts, min_size=1, max_size=4).map("/".join)
capability_sets = st.lists(
    st.tuples(st.sampled_from("abz09"), st.text("abz09._:-", max_size=12)).map("".join),
    max_size=6,
).map(lambda items: tuple(sorted(set(items))))
sha256s = st.binary(min_size=32, max_size=32).map(bytes.hex)


@st.composite
def manifests(draw: st.DrawFn) -> ImageManifest:
    kind = draw(st.sampled_from(list(ImageType)))
    is_app = kind is ImageType.APP
    return ImageManifest(
        type=kind,
        component_id=draw(uuids),
        image_id=draw(uuids),
        name=draw(names),
        version=draw(versions),
        security_version=draw(st.integers(0, 2**31)),
        payload_bytes=draw(st.integers(0, 2**40)),
        payload_sha256=draw(sha256s),
        signing_key_id=KEY_ID,
        entry_point=draw(entry_points) if is_app else None,
        capabilities=draw(capability_sets) if is_app else None,
    )


def _valid_app_json() -> dict[str, Any]:
    return {
        "format": 1,
        "type": "app",
        "component_id": str(uuid.UUID(int=1)),
        "image_id": str(uuid.UUID(int=2)),
        "name": "Thermostat",
        "version": "1.2.3",
        "security_version": 4,
        "payload_bytes": 10,
        "payload_sha256": "ab" * 32,
        "signing_key_id": KEY_ID,
        "entry_point": "bin/thermostat",
        "capabilities": ["gpio", "net"],
    }


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


@given(manifests(), st.binary(max_size=200))
def test_header_round_trips_and_signature_verifies(
    manifest: ImageManifest, payload: bytes
) -> None:
    package = image_signing.build_package(manifest, payload, KEY)
    header = parse_package_header(package)
    assert header.manifest == manifest
    assert header.manifest_bytes == manifest.encode()
    assert package[header.payload_offset :] == payload
    image_signing.verify_manifest(
        KEY.public_key(), header.manifest_bytes, header.signature
    )
    # The header alone (what a streaming reader holds first) parses the same.
    assert parse_package_header(package[: header.payload_offset]) == header
    assert header.payload_offset <= MAX_HEADER_BYTES


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_garbage_raises_only_package_format_error(data: bytes) -> None:
    """Random bytes are never a package; anything else raised would be a bug."""
    for candidate in (data, MAGIC + data):
        with pytest.raises(PackageFormatError):
            parse_package_header(candidate)


@given(manifests(), st.data())
def test_truncated_or_flipped_headers_raise_only_package_format_error(
    manifest: ImageManifest, data: st.DataObject
) -> None:
    header = image_signing.build_package_header(manifest, KEY)
    cut = data.draw(st.integers(0, len(header) - 1))
    with pytest.raises(PackageFormatError):
        parse_package_header(header[:cut])
    position = data.draw(st.integers(0, len(header) - 1))
    flipped = bytearray(header)
    flipped[position] ^= data.draw(st.integers(1, 255))
    try:
        parsed = parse_package_header(bytes(flipped))
    except PackageFormatError:
        return
    # Anything that still parses must fail the signature check.
    with pytest.raises(ImageSignatureError):
        image_signing.verify_manifest(
            KEY.public_key(), parsed.manifest_bytes, parsed.signature
        )


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
    )
)
def test_any_json_manifest_raises_only_package_format_error(body: object) -> None:
    """Random JSON is never a valid manifest, and is refused as a format error."""
    with pytest.raises(PackageFormatError):
        decode_manifest(json.dumps(body).encode())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("format", 2),
        ("format", True),
        ("type", "firmware"),
        ("component_id", "not-a-uuid"),
        ("image_id", "ABCDEF00-0000-4000-8000-00000000000A"),
        ("name", ""),
        ("name", "x" * 101),
        ("name", "tab\there"),
        ("version", "1"),
        ("version", "01.2"),
        ("version", "1.2.3.4"),
        ("version", 1.2),
        ("security_version", -1),
        ("security_version", 2**31 + 1),
        ("security_version", "4"),
        ("payload_bytes", True),
        ("payload_bytes", -1),
        ("payload_sha256", "AB" * 32),
        ("payload_sha256", "ab" * 31),
        ("signing_key_id", "zz" * 32),
        ("entry_point", "../escape"),
        ("entry_point", "/abs/path"),
        ("entry_point", "bin/../../etc"),
        ("entry_point", "bin//app"),
        ("entry_point", "bin\\app"),
        ("entry_point", ""),
        ("capabilities", ["net", "gpio"]),
        ("capabilities", ["net", "net"]),
        ("capabilities", ["Net"]),
        ("capabilities", "net"),
        ("capabilities", [1]),
    ],
)
def test_invalid_field_values_are_refused(field: str, value: object) -> None:
    body = _valid_app_json()
    body[field] = value
    with pytest.raises(PackageFormatError):
        decode_manifest(_canonical(body))


def test_valid_manifest_decodes() -> None:
    manifest = decode_manifest(_canonical(_valid_app_json()))
    assert manifest.capabilities == ("gpio", "net")
    assert manifest.entry_point == "bin/thermostat"


def test_unknown_missing_and_misplaced_fields_are_refused() -> None:
    with pytest.raises(PackageFormatError, match="unknown"):
        decode_manifest(_canonical({**_valid_app_json(), "extra": 1}))
    missing = _valid_app_json()
    del missing["name"]
    with pytest.raises(PackageFormatError, match="missing"):
        decode_manifest(_canonical(missing))
    os_body = {**_valid_app_json(), "type": "os"}
    with pytest.raises(PackageFormatError, match="unknown"):
        decode_manifest(_canonical(os_body))


def test_non_canonical_manifest_is_refused() -> None:
    body = _valid_app_json()
    spaced = json.dumps(body, sort_keys=True).encode()
    with pytest.raises(PackageFormatError, match="canonical"):
        decode_manifest(spaced)
    duplicated = _canonical(body)[:-1] + b',"name":"Other"}'
    with pytest.raises(PackageFormatError):
        decode_manifest(duplicated)


def test_header_lengths_are_bounded() -> None:
    manifest_bytes = _canonical(_valid_app_json())
    signature = image_signing.sign_manifest(KEY, manifest_bytes)
    header = encode_package_header(manifest_bytes, signature)
    too_long = MAGIC + (65_537).to_bytes(4, "big") + header[12:]
    with pytest.raises(PackageFormatError):
        parse_package_header(too_long)
    empty = MAGIC + (0).to_bytes(4, "big")
    with pytest.raises(PackageFormatError):
        parse_package_header(empty)
    offset = 12 + len(manifest_bytes)
    short_signature = header[:offset] + (63).to_bytes(2, "big") + header[offset + 2 :]
    with pytest.raises(PackageFormatError):
        parse_package_header(short_signature)
    with pytest.raises(PackageFormatError):
        encode_package_header(manifest_bytes, signature[:-1])


def test_signature_is_domain_separated_and_key_bound() -> None:
    manifest_bytes = _canonical(_valid_app_json())
    plain = KEY.sign(manifest_bytes)  # a signature over the bare manifest
    with pytest.raises(ImageSignatureError):
        image_signing.verify_manifest(KEY.public_key(), manifest_bytes, plain)
    other = Ed25519PrivateKey.generate()
    signature = image_signing.sign_manifest(other, manifest_bytes)
    with pytest.raises(ImageSignatureError):
        image_signing.verify_manifest(KEY.public_key(), manifest_bytes, signature)
    manifest = decode_manifest(manifest_bytes)
    with pytest.raises(InvalidImageSigningKeyError):
        image_signing.build_package_header(manifest, other)


def test_private_key_is_encrypted_at_rest() -> None:
    pem = image_signing.encrypt_private_key(KEY, b"correct horse")
    assert b"ENCRYPTED PRIVATE KEY" in pem
    restored = image_signing.decrypt_private_key(pem, b"correct horse")
    assert image_signing.key_id(restored.public_key()) == KEY_ID
    with pytest.raises(InvalidImageSigningKeyError):
        image_signing.decrypt_private_key(pem, b"wrong horse")
    with pytest.raises(InvalidImageSigningKeyError):
        image_signing.encrypt_private_key(KEY, b"short")
