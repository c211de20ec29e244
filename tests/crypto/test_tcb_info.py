"""The DiceTcbInfo DER codec: round trips, and malformed input only ever raises
TcbInfoDecodeError."""

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sevenfold.crypto.errors import TcbInfoDecodeError
from sevenfold.crypto.tcb_info import (
    SHA256_OID,
    Fwid,
    TcbInfo,
    decode_tcb_info,
    encode_tcb_info,
)

_OIDS = st.builds(
    lambda first, second, rest: ".".join(map(str, [first, second, *rest])),
    st.integers(0, 2),
    st.integers(0, 39),
    st.lists(st.integers(0, 2**40), max_size=6),
)
_FWIDS = st.lists(
    st.builds(Fwid, hash_algorithm=_OIDS, digest=st.binary(max_size=64)),
    min_size=1,
    max_size=4,
).map(tuple)
_TEXT = st.text(max_size=40)
_NUMBER = st.integers(0, 2**64 - 1)
TCB_INFOS = st.builds(
    TcbInfo,
    vendor=st.none() | _TEXT,
    model=st.none() | _TEXT,
    version=st.none() | _TEXT,
    svn=st.none() | _NUMBER,
    layer=st.none() | _NUMBER,
    index=st.none() | _NUMBER,
    fwids=st.none() | _FWIDS,
    vendor_info=st.none() | st.binary(max_size=40),
    type=st.none() | st.binary(max_size=40),
)
EXAMPLE = TcbInfo(
    vendor="Sevenfold",
    model="software-dice",
    version="1.0",
    svn=3,
    layer=1,
    fwids=(Fwid(hash_algorithm=SHA256_OID, digest=b"\x11" * 32),),
)


@given(TCB_INFOS)
def test_tcb_info_round_trips(info: TcbInfo) -> None:
    assert decode_tcb_info(encode_tcb_info(info)) == info


@given(st.binary(max_size=300))
def test_random_bytes_raise_only_the_typed_error(data: bytes) -> None:
    with contextlib.suppress(TcbInfoDecodeError):
        decode_tcb_info(data)


@given(TCB_INFOS, st.integers(0, 10_000), st.integers(0, 255))
def test_corrupted_encodings_raise_only_the_typed_error(
    info: TcbInfo, position: int, value: int
) -> None:
    encoded = bytearray(encode_tcb_info(info))
    encoded[position % len(encoded)] = value
    with contextlib.suppress(TcbInfoDecodeError):
        decode_tcb_info(bytes(encoded))


@given(TCB_INFOS, st.integers(0, 10_000))
def test_truncated_encodings_are_refused(info: TcbInfo, cut: int) -> None:
    encoded = encode_tcb_info(info)
    with pytest.raises(TcbInfoDecodeError):
        decode_tcb_info(encoded[: cut % len(encoded)])


def test_the_encoding_matches_the_tcg_layout() -> None:
    encoded = encode_tcb_info(TcbInfo(svn=128, fwids=EXAMPLE.fwids))
    sha256 = bytes.fromhex("0609608648016503040201")
    fwid = bytes.fromhex("302d") + sha256 + bytes.fromhex("0420") + b"\x11" * 32
    assert encoded == bytes.fromhex("3035" + "83020080" + "a62f") + fwid


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("trailing garbage", encode_tcb_info(EXAMPLE) + b"\x00"),
        ("oversized", b"\x30\x82\x10\x01" + b"\x80\x00" * 2048 + b"\x00"),
        ("indefinite length", b"\x30\x80\x00\x00"),
        ("non-minimal length", b"\x30\x81\x03\x83\x01\x01"),
        ("negative svn", b"\x30\x03\x83\x01\xff"),
        ("non-minimal integer", b"\x30\x04\x83\x02\x00\x01"),
        ("repeated field", b"\x30\x06\x80\x01a\x80\x01b"),
        ("fields out of order", b"\x30\x06\x81\x01a\x80\x01b"),
        ("operational flags", b"\x30\x04\x87\x02\x00\x80"),
        ("empty FWID list", b"\x30\x02\xa6\x00"),
        ("invalid UTF-8", b"\x30\x03\x80\x01\xff"),
        ("not a sequence", b"\x31\x00"),
        ("empty", b""),
        ("OID with a padded arc", b"\x30\x0a\xa6\x08\x30\x06\x06\x02\x80\x01\x04\x00"),
    ],
)
def test_malformed_tcb_info_is_refused(name: str, data: bytes) -> None:
    with pytest.raises(TcbInfoDecodeError):
        decode_tcb_info(data)


def test_encoder_refuses_what_the_decoder_would() -> None:
    with pytest.raises(ValueError, match="FWIDLIST"):
        encode_tcb_info(TcbInfo(fwids=()))
    with pytest.raises(ValueError, match="non-negative"):
        encode_tcb_info(TcbInfo(svn=-1))
    with pytest.raises(ValueError, match="object identifier"):
        encode_tcb_info(TcbInfo(fwids=(Fwid(hash_algorithm="sha256", digest=b""),)))
