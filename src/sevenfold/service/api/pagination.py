"""Opaque keyset cursors: base64url of the last key seen on the previous page.

Keyset (not offset) pagination stays correct while rows are added: a page never
repeats or skips a row that existed when the listing started.
"""

import base64
import binascii

from sevenfold.service.errors import InvalidRequestError

MAX_CURSOR_KEY_CHARS = 200


def encode_cursor(key: str) -> str:
    """Return the opaque cursor for a key."""
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    """Return the key inside a cursor.

    Raises:
        InvalidRequestError: the cursor was not made by :func:`encode_cursor`.
    """
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError) as err:
        raise InvalidRequestError("the cursor is not valid") from err
    if not key or len(key) > MAX_CURSOR_KEY_CHARS or not key.isprintable():
        raise InvalidRequestError("the cursor is not valid")
    return key


def decode_int_cursor(cursor: str | None) -> int | None:
    """Return the integer key inside a cursor."""
    key = decode_cursor(cursor)
    if key is None:
        return None
    if not key.isdigit() or len(key) > 18:
        raise InvalidRequestError("the cursor is not valid")
    return int(key)
