"""Property tests of the pure codecs: cursors, device IDs, API tokens, problem types."""

import contextlib

from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from sevenfold.crypto.api_tokens import (
    hash_secret,
    issue_token,
    secret_matches,
    split_token,
)
from sevenfold.crypto.device_ids import device_id_of, normalize_device_id, public_key_of
from sevenfold.crypto.errors import InvalidDeviceIdError
from sevenfold.protocol.problems import ProblemCode, code_from_type
from sevenfold.service.api.pagination import (
    MAX_CURSOR_KEY_CHARS,
    decode_cursor,
    encode_cursor,
)
from sevenfold.service.errors import InvalidRequestError

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
printable_keys = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")),
    min_size=1,
    max_size=MAX_CURSOR_KEY_CHARS // 4,
).filter(str.isprintable)


@given(printable_keys)
def test_cursor_round_trips(key: str) -> None:
    assert decode_cursor(encode_cursor(key)) == key


@given(st.text(max_size=300))
def test_any_cursor_text_decodes_or_is_a_validation_error(text: str) -> None:
    try:
        key = decode_cursor(text)
    except InvalidRequestError:
        return
    assert key is None or (key.isprintable() and 0 < len(key) <= MAX_CURSOR_KEY_CHARS)


@given(st.integers(min_value=1, max_value=P256_ORDER - 1))
def test_device_id_of_a_key_normalises_to_itself_and_back(scalar: int) -> None:
    public_key = ec.derive_private_key(scalar, ec.SECP256R1()).public_key()
    device_id = device_id_of(public_key)
    assert len(device_id) == 128
    assert normalize_device_id(device_id.upper()) == device_id
    assert device_id_of(public_key_of(device_id)) == device_id


@given(st.binary(min_size=64, max_size=64))
def test_random_hex_is_a_device_id_only_if_it_is_on_the_curve(raw: bytes) -> None:
    try:
        canonical = normalize_device_id(raw.hex())
    except InvalidDeviceIdError:
        return
    assert device_id_of(public_key_of(canonical)) == canonical


@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes_device_id_parsing(text: str) -> None:
    with contextlib.suppress(InvalidDeviceIdError):
        normalize_device_id(text)


@given(st.text(max_size=120))
def test_token_parsing_accepts_only_the_issued_shape(text: str) -> None:
    parts = split_token(text)
    if parts is not None:
        token_id, secret = parts
        assert text == f"sf_{token_id}_{secret}"


def test_issued_tokens_split_and_match_only_their_own_hash() -> None:
    first, second = issue_token(), issue_token()
    parts = split_token(first.text)
    assert parts is not None
    token_id, secret = parts
    assert token_id == first.token_id
    assert secret_matches(secret, first.secret_hash)
    assert not secret_matches(secret, second.secret_hash)
    assert hash_secret(secret) == first.secret_hash
    assert secret not in first.secret_hash


@given(st.sampled_from(list(ProblemCode)))
def test_problem_types_round_trip(code: ProblemCode) -> None:
    assert code_from_type(code.type_uri) is code
    assert 400 <= code.status <= 599


@given(st.text(max_size=80))
def test_foreign_problem_types_are_not_ours(text: str) -> None:
    code = code_from_type(text)
    assert code is None or code.type_uri == text
