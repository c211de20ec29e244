"""The failure queue under random operations and power cuts (docs/failures.md §1).

A power cut re-opens the queue from disk at any point, optionally after a torn last
journal line (a write that never returned) or a compaction's leftover temporary
file. Invariants: acknowledged ids never come back; nothing ``record()`` returned is
lost unless ``dropped_total`` counts it; sealed content never changes; the counts
of what is queued, acknowledged and dropped add up to the occurrences recorded.
"""

import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
)

from sevenfold.agent.failure_queue import FailureQueue, journal_path
from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.failures import FailureEvent, FailureKind

MAX_RECORDS = 6
WINDOW_S = 100.0
KEYS = ("a", "b", "c")
KINDS = (FailureKind.APP_CRASH, FailureKind.NETWORK_FAILURE)


class FailureQueueMachine(RuleBasedStateMachine):
    batches = Bundle("batches")

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="failure-queue-"))
        self.clock = ManualClock()
        self.queue = self._open()
        self.occurrences = 0
        self.latest_count: dict[str, int] = {}  # id -> count record() last returned
        self.sealed: dict[str, FailureEvent] = {}  # id -> content when first sealed
        self.acked_counts: dict[str, int] = {}

    def _open(self) -> FailureQueue:
        return FailureQueue(
            self.directory,
            clock=self.clock,
            aggregation_window_s=WINDOW_S,
            max_records=MAX_RECORDS,
        )

    def teardown(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    @rule(
        kind=st.sampled_from(KINDS),
        key=st.sampled_from(KEYS),
        advance_s=st.sampled_from((0.0, 1.0, 60.0, 150.0)),
    )
    def record(self, kind: FailureKind, key: str, advance_s: float) -> None:
        self.clock.advance(advance_s)
        event = self.queue.record(kind, key, description="x" * 300)
        self.occurrences += 1
        assert event.event_id not in self.acked_counts
        assert event.event_id not in self.sealed, "a sealed record aggregated"
        assert len(event.description) == 200
        assert self.latest_count.get(event.event_id, 0) + 1 == event.count
        self.latest_count[event.event_id] = event.count

    @rule(target=batches, max_events=st.integers(min_value=1, max_value=4))
    def seal(self, max_events: int) -> tuple[str, ...]:
        batch = self.queue.seal_batch(max_events)
        assert len(batch.events) <= max_events
        assert batch.dropped_total == self.queue.dropped_total
        for event in batch.events:
            assert event.event_id not in self.acked_counts
            first = self.sealed.setdefault(event.event_id, event)
            assert first == event, "re-sealed content changed"
        return tuple(event.event_id for event in batch.events)

    @rule(ids=consumes(batches), take_all=st.booleans())
    def acknowledge(self, ids: tuple[str, ...], take_all: bool) -> None:
        chosen = ids if take_all else ids[: len(ids) // 2]
        live = {event.event_id for event in self.queue.snapshot().records}
        removed = self.queue.acknowledge([*chosen, "f" * 32])
        assert removed == len([i for i in chosen if i in live])
        for event_id in chosen:
            if event_id in live:
                # What the service stored is the sealed content.
                self.acked_counts[event_id] = self.sealed[event_id].count

    @rule(ids=consumes(batches))
    def discard_one(self, ids: tuple[str, ...]) -> None:
        """The service refused a record for good: dropped, counted."""
        live = {event.event_id for event in self.queue.snapshot().records}
        dropped_before = self.queue.dropped_total
        removed = self.queue.discard(ids[:1])
        assert removed == len([i for i in ids[:1] if i in live])
        assert self.queue.dropped_total == dropped_before + removed

    @rule(torn=st.sampled_from(("none", "line", "garbage", "temporary")))
    def power_loss(self, torn: str) -> None:
        journal = journal_path(self.directory)
        if torn == "line" and journal.exists():
            # A write cut short: the first half of a line that never returned.
            last = journal.read_bytes().splitlines(keepends=True)[-1]
            with journal.open("ab") as handle:
                handle.write(last[: len(last) // 2])
        elif torn == "garbage" and journal.exists():
            with journal.open("ab") as handle:
                handle.write(b"\x00\x00\x00\x00")
        elif torn == "temporary":
            leftover = journal.parent / ".journal.0123456789abcdef.tmp"
            leftover.parent.mkdir(parents=True, exist_ok=True)
            leftover.write_bytes(b"half a compaction")
        self.queue = self._open()

    @invariant()
    def acknowledged_ids_never_come_back(self) -> None:
        live = {event.event_id for event in self.queue.snapshot().records}
        assert not live & set(self.acked_counts)

    @invariant()
    def nothing_lost_unless_counted_as_dropped(self) -> None:
        snapshot = self.queue.snapshot()
        live = {event.event_id: event for event in snapshot.records}
        assert len(live) <= MAX_RECORDS
        for event_id, event in live.items():
            assert event.count == self.latest_count[event_id]
        missing = set(self.latest_count) - set(live) - set(self.acked_counts)
        assert len(missing) == snapshot.dropped_total == self.queue.dropped_total

    @invariant()
    def sealed_content_never_changes(self) -> None:
        snapshot = self.queue.snapshot()
        for event in snapshot.records:
            if event.event_id in snapshot.sealed_ids:
                assert self.sealed[event.event_id] == event

    @invariant()
    def counts_add_up_to_what_was_recorded(self) -> None:
        live = self.queue.snapshot().records
        dropped = (
            set(self.latest_count) - {e.event_id for e in live} - set(self.acked_counts)
        )
        total = (
            sum(event.count for event in live)
            + sum(self.acked_counts.values())
            + sum(self.latest_count[event_id] for event_id in dropped)
        )
        assert total == self.occurrences


FailureQueueMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=40
)
TestFailureQueue = FailureQueueMachine.TestCase
