"""Registration records: the codec round-trips, garbage never crashes the parser, and
only the trusted key's untouched signature verifies."""

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from sevenfold.crypto.errors import (
    InvalidManufacturerKeyError,
    RegistrationSignatureError,
    UntrustedManufacturerKeyError,
)
from sevenfold.crypto.registration import (
    decrypt_private_key,
    encrypt_private_key,
    manufacturer_key_id,
    sign_registration_record,
    verify_registration_record,
)
from sevenfold.protocol.errors import RecordFormatError
from sevenfold.protocol.registration import (
    MAX_RECORD_LINE_BYTES,
    REGISTRATION_DOMAIN,
    RegistrationRecord,
    record_from_json,
    record_from_line,
    signed_record_bytes,
)
from tests.support.devices import new_device_ids

KEY = Ed25519PrivateKey.from_private_bytes(b"\x05" * 32)
TRUSTED = {manufacturer_key_id(KEY.public_key()): KEY.public_key()}
DEVICE_IDS = new_device_ids(4)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

moments = st.integers(min_value=0, max_value=253_402_300_799).map(
    lambda seconds: EPOCH + timedelta(seconds=seconds)
)
products = st.none() | st.text(min_size=1, max_size=100)


@given(st.sampled_from(DEVICE_IDS), moments, products)
def test_a_signed_record_round_trips_and_verifies(
    device_id: str, created_at: datetime, product: str | None
) -> None:
    record = sign_registration_record(
        KEY, device_id=device_id, created_at=created_at, product=product
    )
    line = record.to_line()
    assert len(line.encode()) <= MAX_RECORD_LINE_BYTES
    parsed = record_from_line(line)
    assert parsed == record
    assert record_from_json(json.loads(line)) == record
    verify_registration_record(parsed, TRUSTED)


@given(st.binary(max_size=2000) | st.text(max_size=2000).map(str.encode))
def test_garbage_lines_are_refused_not_crashed_on(data: bytes) -> None:
    try:
        record = record_from_line(data)
    except RecordFormatError:
        return
    assert isinstance(record, RegistrationRecord)


field_values = st.none() | st.integers() | st.text(max_size=200) | st.booleans()


@given(
    st.dictionaries(
        st.sampled_from(
            ["v", "device_id", "manufacturer_key_id", "created_at", "product",
             "signature", "extra"]
        ),
        field_values,
    )
)  # fmt: skip
def test_garbage_objects_are_refused_not_crashed_on(value: dict[str, object]) -> None:
    try:
        record_from_json(value)
    except RecordFormatError:
        return


def _flipped(signature_b64: str) -> str:
    raw = bytearray(base64.b64decode(signature_b64))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("name", ["device_id", "created_at", "product", "signature"])
def test_changing_any_signed_field_breaks_the_signature(name: str) -> None:
    record = sign_registration_record(
        KEY, device_id=DEVICE_IDS[0], created_at=EPOCH, product="Gateway"
    )
    changed = record.to_json()
    changed[name] = {
        "device_id": DEVICE_IDS[1],
        "created_at": "1970-01-01T00:00:01Z",
        "product": None,
        "signature": _flipped(changed["signature"]),
    }[name]
    with pytest.raises(RegistrationSignatureError):
        verify_registration_record(record_from_json(changed), TRUSTED)


def test_an_unknown_key_and_a_mislabelled_trust_map_are_untrusted() -> None:
    other = Ed25519PrivateKey.generate()
    record = sign_registration_record(other, device_id=DEVICE_IDS[0], created_at=EPOCH)
    with pytest.raises(UntrustedManufacturerKeyError):
        verify_registration_record(record, TRUSTED)
    mislabelled = {record.manufacturer_key_id: KEY.public_key()}
    with pytest.raises(UntrustedManufacturerKeyError):
        verify_registration_record(record, mislabelled)


def test_the_signed_bytes_are_domain_separated_and_fixed_width() -> None:
    message = signed_record_bytes(
        device_id=DEVICE_IDS[0],
        manufacturer_key_id="ab" * 32,
        created_at=EPOCH,
        product=None,
    )
    assert message.startswith(REGISTRATION_DOMAIN)
    assert len(message) == len(REGISTRATION_DOMAIN) + 64 + 32 + 8 + 1 + 2
    empty = signed_record_bytes(
        device_id=DEVICE_IDS[0], manufacturer_key_id="ab" * 32, created_at=EPOCH,
        product="",
    )  # fmt: skip
    assert empty != message  # no product and an empty one differ


def test_private_key_encryption_needs_the_passphrase() -> None:
    pem = encrypt_private_key(KEY, b"a long passphrase")
    assert (
        decrypt_private_key(pem, b"a long passphrase").public_key() == KEY.public_key()
    )
    with pytest.raises(InvalidManufacturerKeyError):
        decrypt_private_key(pem, b"another passphrase")
    with pytest.raises(InvalidManufacturerKeyError):
        encrypt_private_key(KEY, b"short")
