"""The error report as CSV (Azure Sphere's ``download-error-report``), safe to open
in a spreadsheet.

Columns are ``protocol.failures.CSV_COLUMNS`` in order; times are ISO 8601 in UTC.
Descriptions come from devices, so a cell is never trusted: a cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with a single
quote, which spreadsheets show as text instead of evaluating it as a formula (CSV
injection, OWASP). The ``csv`` module quotes separators, quotes and line breaks.
"""

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from sevenfold.protocol.failures import CSV_COLUMNS
from sevenfold.service.failures.models import FailureEventRecord

MAX_REPORT_ROWS = 100_000
"""The most events one report holds (newest first); narrow the filters for more."""

FLUSH_CHARS = 64 * 1024
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def report_row(record: FailureEventRecord) -> list[str]:
    """One event as the report's cells (``CSV_COLUMNS`` order)."""
    return [
        safe_cell(cell)
        for cell in (
            record.device_id,
            record.event_type,
            record.event_class,
            record.kind,
            str(record.count),
            record.description,
            _utc(record.first_at),
            _utc(record.last_at),
        )
    ]


def csv_lines(records: Iterable[FailureEventRecord]) -> Iterator[bytes]:
    """The report, header first, a UTF-8 line at a time (for a streamed answer)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def take() -> bytes:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text.encode("utf-8")

    writer.writerow(CSV_COLUMNS)
    yield take()
    for record in records:
        writer.writerow(report_row(record))
        if buffer.tell() >= FLUSH_CHARS:
            yield take()
    if buffer.tell():
        yield take()
