"""The few DER (ITU-T X.690) pieces the DICE certificate extensions need.

Only what ``tcb_info`` uses: single-byte tags, definite lengths, non-negative
INTEGERs, OBJECT IDENTIFIERs. The reader is strict DER: minimal lengths and integers,
no indefinite lengths, a hard size limit. Malformed input raises ``DerDecodeError``
and nothing else.
"""

import re
from dataclasses import dataclass

from sevenfold.crypto.errors import DerDecodeError

MAX_DER_BYTES = 4096
MAX_INTEGER_CONTENT_BYTES = 9  # room for 0 .. 2**64 - 1 with its sign octet
MAX_OID_ARC_BYTES = 9
_OID_TEXT = re.compile(r"(0|1|2)(\.(0|[1-9][0-9]*))+")


def encode_length(length: int) -> bytes:
    """Return the definite-form DER length octets (X.690 8.1.3)."""
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def encode_tlv(tag: int, content: bytes) -> bytes:
    """Return one DER element with a single-byte tag."""
    return bytes([tag]) + encode_length(len(content)) + content


def encode_unsigned(value: int) -> bytes:
    """Return the minimal two's-complement content octets of a non-negative INTEGER."""
    if value < 0:
        raise ValueError("only non-negative integers are encoded")
    return value.to_bytes(value.bit_length() // 8 + 1, "big")


def encode_oid(dotted: str) -> bytes:
    """Return the content octets of an OBJECT IDENTIFIER (X.690 8.19)."""
    if not _OID_TEXT.fullmatch(dotted):
        raise ValueError(f"not a dotted object identifier: {dotted!r}")
    arcs = [int(arc) for arc in dotted.split(".")]
    if arcs[0] < 2 and arcs[1] >= 40:
        raise ValueError("the second arc under 0 and 1 is below 40")
    content = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        remaining = arc >> 7
        while remaining:
            chunk.append(0x80 | (remaining & 0x7F))
            remaining >>= 7
        content.extend(reversed(chunk))
    return bytes(content)


def decode_unsigned(content: bytes) -> int:
    """Return a non-negative INTEGER from minimal content octets."""
    if not content or len(content) > MAX_INTEGER_CONTENT_BYTES:
        raise DerDecodeError("an INTEGER has 1 to 9 content octets here")
    if len(content) > 1 and (
        (content[0] == 0x00 and content[1] < 0x80)
        or (content[0] == 0xFF and content[1] >= 0x80)
    ):
        raise DerDecodeError("an INTEGER is not minimally encoded")
    if content[0] & 0x80:
        raise DerDecodeError("a negative INTEGER where a count is expected")
    return int.from_bytes(content, "big")


def decode_oid(content: bytes) -> str:
    """Return the dotted form of OBJECT IDENTIFIER content octets."""
    if not content or content[-1] & 0x80:
        raise DerDecodeError("an OBJECT IDENTIFIER is truncated")
    subidentifiers: list[int] = []
    value = 0
    length = 0
    for octet in content:
        if length == 0 and octet == 0x80:
            raise DerDecodeError("an OBJECT IDENTIFIER arc has a leading zero octet")
        length += 1
        if length > MAX_OID_ARC_BYTES:
            raise DerDecodeError("an OBJECT IDENTIFIER arc is too large")
        value = (value << 7) | (octet & 0x7F)
        if not octet & 0x80:
            subidentifiers.append(value)
            value = 0
            length = 0
    first = subidentifiers[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(arc) for arc in head + subidentifiers[1:])


@dataclass(slots=True)
class DerReader:
    """Reads consecutive DER elements from a byte string, front to back."""

    data: bytes
    offset: int = 0

    @property
    def at_end(self) -> bool:
        """True once every byte has been read."""
        return self.offset == len(self.data)

    def peek_tag(self) -> int | None:
        """Return the next element's tag without reading it, or None at the end."""
        return None if self.at_end else self.data[self.offset]

    def read(self, expected_tag: int) -> bytes:
        """Read one element with ``expected_tag`` and return its content octets."""
        tag = self.peek_tag()
        if tag is None:
            raise DerDecodeError("the encoding ends early")
        if tag != expected_tag:
            raise DerDecodeError(
                f"expected tag 0x{expected_tag:02x}, found 0x{tag:02x}"
            )
        position = self.offset + 1
        if position >= len(self.data):
            raise DerDecodeError("the encoding ends inside a length")
        first = self.data[position]
        position += 1
        if first < 0x80:
            length = first
        elif first in (0x81, 0x82):  # MAX_DER_BYTES fits two length octets
            count = first & 0x7F
            octets = self.data[position : position + count]
            if len(octets) != count:
                raise DerDecodeError("the encoding ends inside a length")
            length = int.from_bytes(octets, "big")
            if length < 0x80 or (count == 2 and length < 0x100):
                raise DerDecodeError("a length is not minimally encoded")
            position += count
        else:
            raise DerDecodeError("indefinite or oversized length")
        end = position + length
        if end > len(self.data):
            raise DerDecodeError("an element runs past the end of the encoding")
        self.offset = end
        return self.data[position:end]

    def finish(self) -> None:
        """Refuse any bytes left after the last expected element."""
        if not self.at_end:
            raise DerDecodeError("trailing bytes after the encoding")


def reader_for(data: bytes) -> DerReader:
    """Return a reader over ``data``, refusing inputs above the size limit."""
    if len(data) > MAX_DER_BYTES:
        raise DerDecodeError(f"the encoding is larger than {MAX_DER_BYTES} bytes")
    return DerReader(bytes(data))
