"""The failure queue's journal on disk (docs/failures.md §1): its line format and
how it is read back.

``<state_dir>/failures/journal`` holds one change per line, ``<crc32 hex> <json>``:
``open`` (a new record, or a record as compaction rewrote it, with ``sealed``),
``bump`` (a repeat: the new count and last time), ``seal``, ``ack``, ``drop`` (the
queue was full; the new ``dropped_total``) and ``meta`` (``dropped_total`` at the
top of a compacted journal). A line whose checksum does not match (torn by a power
cut, or corrupt) is skipped and counted; so is a last line without its newline.
Reading never writes; ``FailureQueue`` rewrites a journal it found lines to skip in.
"""

import json
import logging
import zlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sevenfold.agent.errors import FailureQueueError
from sevenfold.protocol.errors import FailureReportError
from sevenfold.protocol.failures import FailureEvent, parse_failure_event

FAILURES_DIR = "failures"
JOURNAL_FILE = "journal"
MAX_JOURNAL_BYTES = 64 * 1024 * 1024  # far past max_records; a bigger file is bad
_log = logging.getLogger(__name__)


@dataclass(slots=True)
class JournalEntry:
    """One record and whether it has been put in an upload batch."""

    event: FailureEvent
    sealed: bool = False


@dataclass(frozen=True, slots=True)
class FailureSnapshot:
    """What the queue holds: records oldest first, and the dropped counter."""

    records: tuple[FailureEvent, ...]
    sealed_ids: frozenset[str]
    dropped_total: int
    skipped_lines: int = 0


@dataclass(slots=True)
class Journal:
    """A journal as read: the live records in order, the dropped counter, how
    many lines it has and how many were skipped."""

    entries: dict[str, JournalEntry] = field(default_factory=dict)
    dropped_total: int = 0
    lines: int = 0
    skipped: int = 0


def journal_path(state_dir: Path) -> Path:
    """Where a device's failure journal lives."""
    return state_dir / FAILURES_DIR / JOURNAL_FILE


def read_failures(state_dir: Path) -> FailureSnapshot:
    """The queue's contents, read without changing anything (``show-failures``).

    Raises:
        FailureQueueError: the journal cannot be read.
    """
    journal = load_journal(journal_path(state_dir))
    return snapshot_of(journal)


def journal_line(op: dict[str, Any]) -> bytes:
    """One change as a journal line: its CRC-32, a space, compact JSON, newline."""
    body = json.dumps(op, separators=(",", ":"), sort_keys=True).encode()
    return b"%08x %s\n" % (zlib.crc32(body), body)


def load_journal(path: Path) -> Journal:
    """Read a journal, skipping (and counting) torn or corrupt lines.

    Raises:
        FailureQueueError: the file cannot be read or is past its size cap.
    """
    journal = Journal()
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_JOURNAL_BYTES + 1)
    except FileNotFoundError:
        return journal
    except OSError as err:
        raise FailureQueueError(f"cannot read {path}: {err.strerror}") from err
    if len(data) > MAX_JOURNAL_BYTES:
        raise FailureQueueError(f"{path} is larger than {MAX_JOURNAL_BYTES} bytes")
    lines = data.split(b"\n")
    if lines[-1] != b"":
        # No newline at the end: the last write was torn by a crash.
        _log.warning("failure journal: ignoring a torn last line")
        journal.skipped += 1
    for number, raw in enumerate(lines[:-1], start=1):
        journal.lines += 1
        try:
            _apply(journal, _parsejournal_line(raw))
        except (ValueError, TypeError, KeyError, FailureReportError) as err:
            _log.warning("failure journal line %d ignored: %s", number, err)
            journal.skipped += 1
    return journal


def _parsejournal_line(raw: bytes) -> dict[str, Any]:
    checksum, _, body = raw.partition(b" ")
    if len(checksum) != 8 or int(checksum, 16) != zlib.crc32(body):
        raise ValueError("checksum mismatch (torn or corrupt)")
    op = json.loads(body)
    if not isinstance(op, dict):
        raise TypeError("a journal line is a JSON object")
    return op


def _apply(journal: Journal, op: dict[str, Any]) -> None:
    entries = journal.entries
    kind = op["op"]
    if kind == "meta":
        journal.dropped_total = max(journal.dropped_total, _count(op["dropped_total"]))
    elif kind == "open":
        event = parse_failure_event(op["event"])
        entries[event.event_id] = JournalEntry(event, sealed=op.get("sealed") is True)
    elif kind == "bump":
        entry = entries.get(op["id"])
        if entry is not None and not entry.sealed:
            entry.event = replace(
                entry.event,
                count=_count(op["count"]),
                last_at=datetime.fromisoformat(op["last_at"]),
            )
    elif kind == "seal":
        for event_id in op["ids"]:
            if event_id in entries:
                entries[event_id].sealed = True
    elif kind == "ack":
        for event_id in op["ids"]:
            entries.pop(event_id, None)
    elif kind == "drop":
        entries.pop(op["id"], None)
        journal.dropped_total = max(journal.dropped_total, _count(op["dropped_total"]))
    else:
        raise ValueError(f"unknown journal operation {kind!r}")


def _count(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError("a count is a non-negative integer")
    return value


def snapshot_of(journal: Journal) -> FailureSnapshot:
    """The records of ``journal``, oldest first, with the sealed ids."""
    entries = list(journal.entries.values())
    return FailureSnapshot(
        records=tuple(entry.event for entry in entries),
        sealed_ids=frozenset(e.event.event_id for e in entries if e.sealed),
        dropped_total=journal.dropped_total,
        skipped_lines=journal.skipped,
    )
