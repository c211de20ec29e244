"""DER codec for DiceTcbInfo, the tcg-dice-TcbInfo certificate extension.

TCG DICE Attestation Architecture (OID 2.23.133.5.4.1)::

    DiceTcbInfo ::= SEQUENCE {
      vendor     [0] IMPLICIT UTF8String OPTIONAL,
      model      [1] IMPLICIT UTF8String OPTIONAL,
      version    [2] IMPLICIT UTF8String OPTIONAL,
      svn        [3] IMPLICIT INTEGER OPTIONAL,
      layer      [4] IMPLICIT INTEGER OPTIONAL,
      index      [5] IMPLICIT INTEGER OPTIONAL,
      fwids      [6] IMPLICIT FWIDLIST OPTIONAL,
      flags      [7] IMPLICIT OperationalFlags OPTIONAL,
      vendorInfo [8] IMPLICIT OCTET STRING OPTIONAL,
      type       [9] IMPLICIT OCTET STRING OPTIONAL }
    FWIDLIST ::= SEQUENCE SIZE (1..MAX) OF FWID
    FWID ::= SEQUENCE { hashAlg OBJECT IDENTIFIER, digest OCTET STRING }

``flags`` (and the later ``flagsMask``) are not supported: the decoder refuses them
rather than skipping them, because ignoring a "debug" or "notSecure" flag would
accept a device that says it is not in a trustworthy state.
"""

from dataclasses import dataclass

from sevenfold.crypto.der import (
    MAX_DER_BYTES,
    DerReader,
    decode_oid,
    decode_unsigned,
    encode_oid,
    encode_tlv,
    encode_unsigned,
    reader_for,
)
from sevenfold.crypto.errors import DerDecodeError, TcbInfoDecodeError

TCG_DICE_TCB_INFO_OID = "2.23.133.5.4.1"
SHA256_OID = "2.16.840.1.101.3.4.2.1"
MAX_FWIDS = 66  # OS image, agent and up to 64 app images

_SEQUENCE = 0x30
_OID = 0x06
_OCTET_STRING = 0x04
_VENDOR, _MODEL, _VERSION = 0x80, 0x81, 0x82  # [0]..[2] IMPLICIT UTF8String
_SVN, _LAYER, _INDEX = 0x83, 0x84, 0x85  # [3]..[5] IMPLICIT INTEGER
_FWIDS = 0xA6  # [6] IMPLICIT SEQUENCE OF: constructed
_VENDOR_INFO, _TYPE = 0x88, 0x89  # [8], [9] IMPLICIT OCTET STRING


@dataclass(frozen=True, slots=True, kw_only=True)
class Fwid:
    """One firmware ID: a digest and the OID of the hash that made it."""

    hash_algorithm: str
    digest: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class TcbInfo:
    """The supported fields of DiceTcbInfo; None means the field is absent."""

    vendor: str | None = None
    model: str | None = None
    version: str | None = None
    svn: int | None = None
    layer: int | None = None
    index: int | None = None
    fwids: tuple[Fwid, ...] | None = None
    vendor_info: bytes | None = None
    type: bytes | None = None


def encode_tcb_info(info: TcbInfo) -> bytes:
    """Return the DER encoding of ``info``.

    Raises:
        ValueError: a number is negative, an OID is malformed, FWIDLIST is empty or
            too long, or the encoding exceeds the size the decoder accepts.
    """
    fields: list[bytes] = []
    for tag, text in (
        (_VENDOR, info.vendor),
        (_MODEL, info.model),
        (_VERSION, info.version),
    ):
        if text is not None:
            fields.append(encode_tlv(tag, text.encode("utf-8")))
    for tag, number in ((_SVN, info.svn), (_LAYER, info.layer), (_INDEX, info.index)):
        if number is not None:
            if number >= 2**64:
                raise ValueError("TcbInfo numbers are below 2**64 here")
            fields.append(encode_tlv(tag, encode_unsigned(number)))
    if info.fwids is not None:
        if not 1 <= len(info.fwids) <= MAX_FWIDS:
            raise ValueError(f"FWIDLIST holds 1 to {MAX_FWIDS} FWIDs here")
        fields.append(encode_tlv(_FWIDS, b"".join(_encode_fwid(f) for f in info.fwids)))
    for tag, raw in ((_VENDOR_INFO, info.vendor_info), (_TYPE, info.type)):
        if raw is not None:
            fields.append(encode_tlv(tag, raw))
    encoded = encode_tlv(_SEQUENCE, b"".join(fields))
    if len(encoded) > MAX_DER_BYTES:
        raise ValueError(f"a TcbInfo is at most {MAX_DER_BYTES} bytes")
    return encoded


def _encode_fwid(fwid: Fwid) -> bytes:
    return encode_tlv(
        _SEQUENCE,
        encode_tlv(_OID, encode_oid(fwid.hash_algorithm))
        + encode_tlv(_OCTET_STRING, fwid.digest),
    )


def decode_tcb_info(data: bytes) -> TcbInfo:
    """Return the TcbInfo that ``data`` encodes in strict DER.

    Raises:
        TcbInfoDecodeError: the bytes are malformed, oversized, carry trailing bytes,
            repeat or misorder fields, or use a field this codec does not support.
    """
    try:
        return _decode(data)
    except TcbInfoDecodeError:
        raise
    except (DerDecodeError, UnicodeDecodeError) as err:
        raise TcbInfoDecodeError(f"malformed DiceTcbInfo: {err}") from err


def _decode(data: bytes) -> TcbInfo:
    outer = reader_for(data)
    body = DerReader(outer.read(_SEQUENCE))
    outer.finish()
    texts: dict[int, str] = {}
    numbers: dict[int, int] = {}
    raws: dict[int, bytes] = {}
    fwids: tuple[Fwid, ...] | None = None
    previous = -1
    while (tag := body.peek_tag()) is not None:
        # DER orders SEQUENCE fields as declared (X.690 10.3 only reorders SETs), so
        # tag numbers must strictly increase; that also refuses repeated fields.
        if tag & 0x1F <= previous:
            raise TcbInfoDecodeError("DiceTcbInfo fields are repeated or out of order")
        previous = tag & 0x1F
        content = body.read(tag)
        if tag in (_VENDOR, _MODEL, _VERSION):
            texts[tag] = content.decode("utf-8")
        elif tag in (_SVN, _LAYER, _INDEX):
            numbers[tag] = decode_unsigned(content)
        elif tag == _FWIDS:
            fwids = _decode_fwids(content)
        elif tag in (_VENDOR_INFO, _TYPE):
            raws[tag] = content
        else:
            raise TcbInfoDecodeError(
                f"unsupported DiceTcbInfo field with tag 0x{tag:02x}"
            )
    return TcbInfo(
        vendor=texts.get(_VENDOR),
        model=texts.get(_MODEL),
        version=texts.get(_VERSION),
        svn=numbers.get(_SVN),
        layer=numbers.get(_LAYER),
        index=numbers.get(_INDEX),
        fwids=fwids,
        vendor_info=raws.get(_VENDOR_INFO),
        type=raws.get(_TYPE),
    )


def _decode_fwids(content: bytes) -> tuple[Fwid, ...]:
    reader = DerReader(content)
    fwids: list[Fwid] = []
    while not reader.at_end:
        if len(fwids) == MAX_FWIDS:
            raise TcbInfoDecodeError(f"more than {MAX_FWIDS} FWIDs")
        fwid = DerReader(reader.read(_SEQUENCE))
        algorithm = decode_oid(fwid.read(_OID))
        digest = fwid.read(_OCTET_STRING)
        fwid.finish()
        fwids.append(Fwid(hash_algorithm=algorithm, digest=digest))
    if not fwids:
        raise TcbInfoDecodeError("an FWIDLIST holds at least one FWID")
    return tuple(fwids)
