"""Read a factory records file (JSON Lines) and check it before sending.

One signed registration record per line (``sevenfold factory provision`` writes them);
blank lines are ignored. Every line is parsed and its device ID checked to be a P-256
point first, so a damaged line is reported with its line number and nothing is sent.
Signatures are checked by the service, against the manufacturer keys it trusts.
"""

from typing import IO, Any

from sevenfold.cli.errors import InvalidInputError
from sevenfold.crypto.device_ids import normalize_device_id
from sevenfold.crypto.errors import InvalidDeviceIdError
from sevenfold.protocol.errors import RecordFormatError
from sevenfold.protocol.registration import record_from_line

MAX_RECORDS_FILE_BYTES = 256 * 1024 * 1024
MAX_REPORTED_ERRORS = 5


def read_records(stream: IO[str], *, source: str) -> list[dict[str, Any]]:
    """Return the records of a JSON Lines stream, as JSON objects, in file order.

    Raises:
        InvalidInputError: no records, input too large, or malformed lines.
    """
    text = stream.read(MAX_RECORDS_FILE_BYTES + 1)
    if len(text) > MAX_RECORDS_FILE_BYTES:
        raise InvalidInputError(
            f"{source} is larger than {MAX_RECORDS_FILE_BYTES} bytes"
        )
    records: list[dict[str, Any]] = []
    errors: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = record_from_line(line)
            normalize_device_id(record.device_id)
        except (RecordFormatError, InvalidDeviceIdError) as err:
            errors.append(f"{source} line {number}: {err}")
            continue
        records.append(record.to_json())
    if errors:
        more = len(errors) - MAX_REPORTED_ERRORS
        shown = "; ".join(errors[:MAX_REPORTED_ERRORS])
        suffix = f" (and {more} more)" if more > 0 else ""
        raise InvalidInputError(f"{shown}{suffix}")
    if not records:
        raise InvalidInputError(f"no registration records in {source}")
    return records
