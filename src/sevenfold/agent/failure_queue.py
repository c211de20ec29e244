"""The device's durable, bounded, aggregating failure queue (docs/failures.md §1).

Records live in ``<state_dir>/failures/journal``, an append-only journal with one
change per line (open, bump, seal, ack, drop), each line ``<crc32> <json>`` and
fsync'd before the call that made it returns: a record survives SIGKILL and power
loss from the moment ``record()`` returns. A torn or corrupt line (a power cut in
mid-write) fails its checksum and is skipped on load; the journal is then rewritten
so that later appends never join a torn line. When the journal grows past
``COMPACT_FACTOR`` times the live records it is compacted by an atomic rewrite
(temp file, fsync, ``os.replace``, fsync the directory; ``state.write_atomically``).

A record put in an upload batch is sealed: it never aggregates again, so every
re-send carries the same content and the service counts it once. At most
``max_records`` records are kept; when full the oldest is dropped and
``dropped_total`` (persisted, never reset) counts it.

One process owns a queue (``agent run``); ``read_failures`` reads it without writing.
"""

import logging
import os
import secrets
import threading
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sevenfold.agent.errors import FailureQueueError
from sevenfold.agent.failure_journal import (
    FailureSnapshot,
    Journal,
    JournalEntry,
    journal_line,
    journal_path,
    load_journal,
    read_failures,
    snapshot_of,
)
from sevenfold.agent.state import write_atomically
from sevenfold.protocol.clock import Clock
from sevenfold.protocol.errors import FailureReportError
from sevenfold.protocol.failures import (
    MAX_BATCH_EVENTS,
    MAX_DESCRIPTION_CHARS,
    MAX_DROPPED_TOTAL,
    MAX_EVENT_COUNT,
    MAX_EVENT_KEY_CHARS,
    FailureBatch,
    FailureEvent,
    FailureKind,
    NetworkFailureKind,
)

__all__ = ["FailureQueue", "FailureSnapshot", "journal_path", "read_failures"]

DEFAULT_AGGREGATION_WINDOW_S = 3600.0
DEFAULT_MAX_RECORDS = 1000
COMPACT_FACTOR = 4  # rewrite when the journal has this many lines per live record
COMPACT_MIN_LINES = 64
_log = logging.getLogger(__name__)


class FailureQueue:
    """The failure records of one device; every change is durable when it returns."""

    def __init__(
        self,
        state_dir: Path,
        *,
        clock: Clock,
        aggregation_window_s: float = DEFAULT_AGGREGATION_WINDOW_S,
        max_records: int = DEFAULT_MAX_RECORDS,
    ) -> None:
        if aggregation_window_s < 0 or max_records < 1:
            raise FailureQueueError("the window is >= 0 s and max_records >= 1")
        self._path = journal_path(state_dir)
        self._clock = clock
        self._window = timedelta(seconds=aggregation_window_s)
        self._max_records = max_records
        self._lock = threading.Lock()
        try:
            journal = load_journal(self._path)
        except FailureQueueError as err:
            _log.error("failure journal unreadable, starting empty: %s", err)
            journal = Journal(skipped=1)
        self._entries = journal.entries
        self._dropped_total = journal.dropped_total
        self._lines = journal.lines
        # A skipped line may be a torn tail: rewrite before appending after it.
        self._dirty = journal.skipped > 0
        while len(self._entries) > self._max_records:
            self._drop_oldest_in_memory()
            self._dirty = True
        if self._dirty:
            try:
                self._compact()
            except OSError as err:
                _log.error("cannot rewrite the failure journal: %s", err)

    @property
    def dropped_total(self) -> int:
        """Records dropped because the queue was full, since it was created."""
        return self._dropped_total

    def snapshot(self) -> FailureSnapshot:
        """The records now, oldest first."""
        with self._lock:
            return snapshot_of(
                Journal(entries=self._entries, dropped_total=self._dropped_total)
            )

    def record(
        self,
        kind: FailureKind,
        key: str,
        *,
        description: str = "",
        component_id: str | None = None,
        image_id: str | None = None,
        os_version: str | None = None,
        exit_code: int | None = None,
        signal: int | None = None,
        network_kind: NetworkFailureKind | None = None,
        host: str | None = None,
    ) -> FailureEvent:
        """Count one occurrence; return the record it went into, once on disk.

        Never raises for a write failure (logged; the record stays in memory and
        the next successful write rewrites the journal with it).
        """
        now = self._clock.now()
        key = key[:MAX_EVENT_KEY_CHARS] or kind.value
        with self._lock:
            open_entry = self._open_entry(kind, key, now)
            if open_entry is not None:
                event = replace(
                    open_entry.event,
                    count=open_entry.event.count + 1,
                    last_at=max(open_entry.event.last_at, now),
                )
                open_entry.event = event
                ops = [_bump_op(event)]
            else:
                event = _new_event(
                    kind=kind,
                    key=key,
                    at=now,
                    description=description[:MAX_DESCRIPTION_CHARS],
                    component_id=component_id,
                    image_id=image_id,
                    os_version=os_version,
                    exit_code=exit_code,
                    signal=signal,
                    network_kind=network_kind,
                    host=host,
                )
                ops = []
                while len(self._entries) >= self._max_records:
                    ops.append(self._drop_oldest_in_memory())
                self._entries[event.event_id] = JournalEntry(event)
                ops.append({"op": "open", "event": event.to_json()})
            try:
                self._write(ops)
            except OSError as err:
                _log.error("cannot save failure record %s: %s", key, err)
        return event

    def seal_batch(self, max_events: int = MAX_BATCH_EVENTS) -> FailureBatch:
        """The oldest records (at most ``max_events``), sealed durably first.

        Records sealed before and not yet acknowledged come back unchanged.

        Raises:
            FailureQueueError: the seal cannot be saved (send nothing: a record
                sent unsealed could aggregate after a crash and change content).
        """
        limit = max(1, min(max_events, MAX_BATCH_EVENTS))
        with self._lock:
            chosen = list(self._entries.values())[:limit]
            newly = [entry for entry in chosen if not entry.sealed]
            for entry in newly:
                entry.sealed = True
            if newly or self._dirty:
                ids = [entry.event.event_id for entry in newly]
                try:
                    self._write([{"op": "seal", "ids": ids}] if ids else [])
                except OSError as err:
                    raise FailureQueueError(
                        f"cannot save the sealed failure records: {err}"
                    ) from err
            return FailureBatch(
                events=tuple(entry.event for entry in chosen),
                dropped_total=min(self._dropped_total, MAX_DROPPED_TOTAL),
            )

    def acknowledge(self, event_ids: list[str] | tuple[str, ...]) -> int:
        """Remove the records the service has; return how many were here.

        A write failure is logged: the records then come back after a restart and
        are sent again, which the service answers as duplicates.
        """
        with self._lock:
            known = [i for i in dict.fromkeys(event_ids) if i in self._entries]
            for event_id in known:
                del self._entries[event_id]
            if known:
                try:
                    self._write([{"op": "ack", "ids": known}])
                except OSError as err:
                    _log.error("cannot save failure acknowledgements: %s", err)
            return len(known)

    def discard(self, event_ids: list[str] | tuple[str, ...]) -> int:
        """Drop records the service refuses for good (a malformed record must not
        block the queue); they count in ``dropped_total``. Returns how many."""
        with self._lock:
            ops = []
            for event_id in dict.fromkeys(event_ids):
                if self._entries.pop(event_id, None) is not None:
                    self._dropped_total += 1
                    ops.append(
                        {
                            "op": "drop",
                            "id": event_id,
                            "dropped_total": self._dropped_total,
                        }
                    )
            if ops:
                try:
                    self._write(ops)
                except OSError as err:
                    _log.error("cannot save discarded failure records: %s", err)
            return len(ops)

    def __len__(self) -> int:
        return len(self._entries)

    def _open_entry(
        self, kind: FailureKind, key: str, now: datetime
    ) -> JournalEntry | None:
        for entry in reversed(self._entries.values()):
            event = entry.event
            if entry.sealed or event.kind is not kind or event.key != key:
                continue
            age = now - event.first_at
            if timedelta(0) <= age < self._window and event.count < MAX_EVENT_COUNT:
                return entry
            return None  # the newest open record of the key is too old
        return None

    def _drop_oldest_in_memory(self) -> dict[str, Any]:
        oldest = next(iter(self._entries))
        del self._entries[oldest]
        self._dropped_total += 1
        _log.warning("failure queue full: dropped record %s", oldest)
        return {"op": "drop", "id": oldest, "dropped_total": self._dropped_total}

    def _write(self, ops: list[dict[str, Any]]) -> None:
        """Append ``ops`` durably, or rewrite the journal when due (or dirty)."""
        due = self._lines + len(ops) > max(
            COMPACT_MIN_LINES, COMPACT_FACTOR * len(self._entries)
        )
        if self._dirty or due:
            self._compact()
            return
        data = b"".join(journal_line(op) for op in ops)
        try:
            self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor = os.open(
                self._path,
                os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW,
                0o600,
            )
            try:
                os.write(descriptor, data)
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        except OSError:
            self._dirty = True  # a partial line may be on disk: rewrite next time
            raise
        self._lines += len(ops)

    def _compact(self) -> None:
        ops: list[dict[str, Any]] = [
            {"op": "meta", "dropped_total": self._dropped_total}
        ]
        for entry in self._entries.values():
            ops.append(
                {"op": "open", "event": entry.event.to_json(), "sealed": entry.sealed}
            )
        write_atomically(self._path, b"".join(journal_line(op) for op in ops))
        self._lines = len(ops)
        self._dirty = False


def _new_event(
    *,
    kind: FailureKind,
    key: str,
    at: datetime,
    description: str,
    component_id: str | None,
    image_id: str | None,
    os_version: str | None,
    exit_code: int | None,
    signal: int | None,
    network_kind: NetworkFailureKind | None,
    host: str | None,
) -> FailureEvent:
    common: dict[str, Any] = {
        "event_id": secrets.token_hex(16),
        "kind": kind,
        "key": key,
        "count": 1,
        "first_at": at,
        "last_at": at,
        "description": description,
        "network_kind": network_kind,
    }
    try:
        return FailureEvent(
            **common,
            component_id=component_id,
            image_id=image_id,
            os_version=os_version,
            exit_code=exit_code,
            signal=signal,
            host=host,
        )
    except FailureReportError as err:
        # Context the wire form refuses must not cost the record itself.
        _log.warning("failure %s: context left out (%s)", key, err)
        return FailureEvent(**common)


def _bump_op(event: FailureEvent) -> dict[str, Any]:
    return {
        "op": "bump",
        "id": event.event_id,
        "count": event.count,
        "last_at": event.last_at.isoformat(),
    }
