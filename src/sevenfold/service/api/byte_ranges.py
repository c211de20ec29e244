"""Single-range HTTP ``Range`` requests (RFC 9110 §14) for artifact downloads.

Clients (the CLI, the agent's fetcher) resume interrupted downloads with one range.
A header we do not support (several ranges, another unit, bad syntax) is ignored and
the whole representation is sent, as RFC 9110 §14.2 allows; a well-formed range
that lies outside the representation is a 416 with ``Content-Range: bytes */size``.
"""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from fastapi.responses import Response, StreamingResponse

from sevenfold.protocol.problems import ProblemCode
from sevenfold.service.api.problems import problem_response
from sevenfold.service.errors import RangeNotSatisfiableError

_RANGE_RE = re.compile(r"^bytes=(\d{0,19})-(\d{0,19})$")
OCTET_STREAM = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes ``start`` to ``end`` (exclusive) of a representation."""

    start: int
    end: int

    @property
    def length(self) -> int:
        """How many bytes the range holds."""
        return self.end - self.start

    def content_range(self, size_bytes: int) -> str:
        """The ``Content-Range`` header value of a 206 answer."""
        return f"bytes {self.start}-{self.end - 1}/{size_bytes}"


def parse_range(header: str | None, size_bytes: int) -> ByteRange | None:
    """The one range a ``Range`` header asks for, or None to send everything.

    Raises:
        RangeNotSatisfiableError: a well-formed single range outside the bytes.
    """
    if header is None:
        return None
    match = _RANGE_RE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # a suffix: the last N bytes
        suffix_bytes = int(last)
        if suffix_bytes == 0 or size_bytes == 0:
            raise _unsatisfiable(size_bytes)
        return ByteRange(start=max(0, size_bytes - suffix_bytes), end=size_bytes)
    start = int(first)
    end = size_bytes if not last else int(last) + 1
    if last and end <= start:
        return None  # last < first: syntactically invalid, ignored (§14.1.2)
    if start >= size_bytes:
        raise _unsatisfiable(size_bytes)
    return ByteRange(start=start, end=min(end, size_bytes))


def ranged_response(
    *,
    range_header: str | None,
    size_bytes: int,
    etag: str,
    read_range: Callable[[int, int], Iterator[bytes]],
    media_type: str = OCTET_STREAM,
    instance: str | None = None,
) -> Response:
    """Stream the whole representation (200) or the one range asked for (206).

    ``read_range(start, end)`` yields bytes ``start`` to ``end`` (exclusive); a sync
    iterator, so Starlette runs it in the threadpool. ``etag`` is sent quoted.
    """
    headers = {"Accept-Ranges": "bytes", "ETag": f'"{etag}"'}
    try:
        byte_range = parse_range(range_header, size_bytes)
    except RangeNotSatisfiableError as err:
        response = problem_response(
            ProblemCode.RANGE_NOT_SATISFIABLE,
            err.detail,
            instance=instance,
            extra=err.extra,
        )
        response.headers.update(headers)
        response.headers["Content-Range"] = f"bytes */{size_bytes}"
        return response
    if byte_range is None:
        headers["Content-Length"] = str(size_bytes)
        return StreamingResponse(
            read_range(0, size_bytes), media_type=media_type, headers=headers
        )
    headers["Content-Length"] = str(byte_range.length)
    headers["Content-Range"] = byte_range.content_range(size_bytes)
    return StreamingResponse(
        read_range(byte_range.start, byte_range.end),
        status_code=206,
        media_type=media_type,
        headers=headers,
    )


def _unsatisfiable(size_bytes: int) -> RangeNotSatisfiableError:
    return RangeNotSatisfiableError(
        f"the range lies outside the {size_bytes} bytes", size_bytes=size_bytes
    )
