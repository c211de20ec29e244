"""Read device IDs from arguments, a file or stdin, and check them before sending.

One ID per line; blank lines and ``#`` comments are ignored; duplicates count once.
Every line is checked to be a P-256 device ID first, so a typo is reported with its
line number instead of failing a whole batch on the service.
"""

from collections.abc import Iterable, Sequence
from typing import IO

from sevenfold.cli.errors import InvalidInputError
from sevenfold.crypto.device_ids import normalize_device_id
from sevenfold.crypto.errors import InvalidDeviceIdError

MAX_LIST_BYTES = 64 * 1024 * 1024
MAX_REPORTED_ERRORS = 5


def read_device_ids(
    arguments: Sequence[str], stream: IO[str] | None, *, source: str
) -> list[str]:
    """Return the canonical, de-duplicated IDs from arguments and/or a stream.

    Raises:
        InvalidInputError: no IDs at all, input too large, or malformed lines.
    """
    numbered: list[tuple[str, str]] = [
        (f"argument {index}", text) for index, text in enumerate(arguments, start=1)
    ]
    if stream is not None:
        text = stream.read(MAX_LIST_BYTES + 1)
        if len(text) > MAX_LIST_BYTES:
            raise InvalidInputError(f"{source} is larger than {MAX_LIST_BYTES} bytes")
        numbered += [
            (f"{source} line {number}", line)
            for number, line in enumerate(text.splitlines(), start=1)
        ]
    device_ids = _checked(numbered)
    if not device_ids:
        raise InvalidInputError(f"no device IDs given (arguments or {source})")
    return device_ids


def _checked(numbered: Iterable[tuple[str, str]]) -> list[str]:
    found: dict[str, None] = {}
    errors: list[str] = []
    for where, raw in numbered:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            found[normalize_device_id(line)] = None
        except InvalidDeviceIdError as err:
            errors.append(f"{where}: {err}")
    if errors:
        more = len(errors) - MAX_REPORTED_ERRORS
        shown = "; ".join(errors[:MAX_REPORTED_ERRORS])
        suffix = f" (and {more} more)" if more > 0 else ""
        raise InvalidInputError(f"{shown}{suffix}")
    return list(found)


def batches(device_ids: Sequence[str], size: int) -> list[list[str]]:
    """Split IDs into consecutive batches of at most ``size``."""
    return [
        list(device_ids[start : start + size])
        for start in range(0, len(device_ids), size)
    ]
