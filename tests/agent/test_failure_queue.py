"""The failure queue's rules one by one (docs/failures.md §1): aggregation window,
sealing, the bound and its dropped counter, torn and corrupt journal lines,
compaction, and a process killed with SIGKILL right after ``record()`` returned."""

import json
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from sevenfold.agent.errors import FailureQueueError
from sevenfold.agent.failure_queue import (
    COMPACT_FACTOR,
    COMPACT_MIN_LINES,
    FailureQueue,
    journal_path,
    read_failures,
)
from sevenfold.entry.main import root
from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.failures import (
    MAX_DESCRIPTION_CHARS,
    FailureKind,
    NetworkFailureKind,
)

CRASH = FailureKind.APP_CRASH


def _queue(state_dir: Path, clock: ManualClock, **options: float) -> FailureQueue:
    return FailureQueue(state_dir, clock=clock, **options)  # type: ignore[arg-type]


def test_repeats_within_the_window_aggregate(tmp_path: Path) -> None:
    clock = ManualClock()
    queue = _queue(tmp_path, clock)
    first = queue.record(CRASH, "app-crash:app:exit code 3", os_version="26.11")
    clock.advance(3599)
    second = queue.record(CRASH, "app-crash:app:exit code 3", os_version="26.12")
    assert second.event_id == first.event_id
    assert second.count == 2
    assert (second.first_at, second.last_at) == (
        first.first_at,
        first.first_at + timedelta(seconds=3599),
    )
    assert second.os_version == "26.11"  # the first occurrence's context
    clock.advance(1)  # first_at + 3600 s: outside the window
    third = queue.record(CRASH, "app-crash:app:exit code 3")
    assert third.event_id != first.event_id
    assert third.count == 1
    other = queue.record(CRASH, "app-crash:app:exit code 4")
    assert other.event_id != third.event_id
    assert [e.count for e in _queue(tmp_path, clock).snapshot().records] == [2, 1, 1]


def test_a_sealed_record_never_aggregates_and_reseals_unchanged(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    queue = _queue(tmp_path, clock)
    sent = queue.record(CRASH, "k")
    batch = queue.seal_batch()
    assert [e.event_id for e in batch.events] == [sent.event_id]
    later = queue.record(CRASH, "k")
    assert later.event_id != sent.event_id
    assert queue.seal_batch(max_events=1) == batch
    reopened = _queue(tmp_path, clock)
    assert reopened.seal_batch(max_events=1) == batch
    assert reopened.acknowledge([sent.event_id]) == 1
    assert [e.event_id for e in reopened.seal_batch().events] == [later.event_id]
    assert sent.event_id not in {
        e.event_id for e in _queue(tmp_path, clock).snapshot().records
    }


def test_a_full_queue_drops_the_oldest_and_counts_it(tmp_path: Path) -> None:
    clock = ManualClock()
    queue = _queue(tmp_path, clock, max_records=3)
    ids = [queue.record(CRASH, f"k{n}").event_id for n in range(5)]
    assert queue.dropped_total == 2
    snapshot = _queue(tmp_path, clock, max_records=3).snapshot()
    assert [e.event_id for e in snapshot.records] == ids[2:]
    assert snapshot.dropped_total == 2
    batch = queue.seal_batch()
    assert batch.dropped_total == 2
    queue.acknowledge([e.event_id for e in batch.events])
    for n in range(200):  # many compactions later, the counter is still there
        queue.record(CRASH, f"again{n % 2}")
    assert read_failures(tmp_path).dropped_total == 2
    smaller = _queue(tmp_path, clock, max_records=1)
    assert smaller.dropped_total == 3
    assert read_failures(tmp_path).dropped_total == 3


def test_descriptions_are_truncated_and_bad_context_is_left_out(
    tmp_path: Path,
) -> None:
    queue = _queue(tmp_path, ManualClock())
    event = queue.record(
        FailureKind.NETWORK_FAILURE,
        "network-failure:dns:" + "h" * 500,
        description="d" * 1000,
        host="not a host name!",
        network_kind=NetworkFailureKind.DNS,
    )
    assert len(event.description) == MAX_DESCRIPTION_CHARS
    assert event.host is None
    assert event.network_kind is NetworkFailureKind.DNS
    assert read_failures(tmp_path).records == (event,)


def test_a_torn_last_line_is_ignored_and_later_appends_stay_readable(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    queue = _queue(tmp_path, clock)
    kept = queue.record(CRASH, "kept")
    journal = journal_path(tmp_path)
    with journal.open("ab") as handle:
        handle.write(b'0badc0de {"op":"open","ev')
    assert read_failures(tmp_path).skipped_lines == 1
    reopened = _queue(tmp_path, clock)
    assert reopened.snapshot().records == (kept,)
    added = reopened.record(CRASH, "added")
    assert _queue(tmp_path, clock).snapshot().records == (kept, added)
    assert read_failures(tmp_path).skipped_lines == 0


def test_a_corrupt_line_in_the_middle_costs_only_that_change(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    queue = _queue(tmp_path, clock)
    first = queue.record(CRASH, "first")
    queue.record(CRASH, "second")
    third = queue.record(CRASH, "third")
    lines = journal_path(tmp_path).read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b"second", b"SECOND")  # checksum no longer matches
    journal_path(tmp_path).write_bytes(b"".join(lines))
    assert [e.event_id for e in _queue(tmp_path, clock).snapshot().records] == [
        first.event_id,
        third.event_id,
    ]


def test_the_journal_is_compacted(tmp_path: Path) -> None:
    clock = ManualClock()
    queue = _queue(tmp_path, clock)
    for _ in range(1000):
        queue.record(CRASH, "same")
    lines = journal_path(tmp_path).read_bytes().count(b"\n")
    assert lines <= max(COMPACT_MIN_LINES, COMPACT_FACTOR * len(queue)) + 1
    (event,) = _queue(tmp_path, clock).snapshot().records
    assert event.count == 1000
    assert not [
        p for p in journal_path(tmp_path).parent.iterdir() if p.name != "journal"
    ]


def test_a_failing_disk_never_raises_from_record(tmp_path: Path) -> None:
    journal_path(tmp_path).mkdir(parents=True)  # the journal cannot be opened
    queue = _queue(tmp_path, ManualClock())
    event = queue.record(CRASH, "k")
    assert queue.snapshot().records == (event,)
    with pytest.raises(FailureQueueError):
        queue.seal_batch()  # unsaved seals must not be sent
    assert queue.acknowledge([event.event_id]) == 1


_CHILD = """
import sys
from pathlib import Path
from sevenfold.agent.failure_queue import FailureQueue
from sevenfold.protocol.clock import SystemClock
from sevenfold.protocol.failures import FailureKind
queue = FailureQueue(Path(sys.argv[1]), clock=SystemClock(), max_records=10_000)
n = 0
while True:
    event = queue.record(FailureKind.APP_CRASH, f"k{n % 7}")
    print(event.event_id, event.count, flush=True)
    n += 1
"""


@pytest.mark.parametrize("after_records", [1, 37, 400])
def test_a_record_survives_sigkill_right_after_record_returns(
    tmp_path: Path, after_records: int
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    returned: dict[str, int] = {}
    try:
        for _ in range(after_records):
            event_id, count_text = child.stdout.readline().split()
            returned[event_id] = int(count_text)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    on_disk = {e.event_id: e.count for e in read_failures(tmp_path).records}
    for event_id, count in returned.items():
        assert on_disk[event_id] >= count
    assert sum(on_disk.values()) >= after_records


def test_show_failures_reads_the_queue(tmp_path: Path) -> None:
    queue = _queue(tmp_path, ManualClock(), max_records=2)
    for key in ("a", "b", "c"):
        queue.record(CRASH, key, description=f"crash {key}")
    queue.seal_batch(max_events=1)
    result = CliRunner().invoke(
        root,
        ["agent", "show-failures", "--state-dir", str(tmp_path), "--output", "json"],
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert (shown["pending"], shown["sealed"], shown["dropped_total"]) == (2, 1, 1)
    assert [r["key"] for r in shown["records"]] == ["b", "c"]
    assert [r["sealed"] for r in shown["records"]] == [True, False]
    table = CliRunner().invoke(
        root, ["agent", "show-failures", "--state-dir", str(tmp_path)]
    )
    assert "dropped_total  1" in table.output
    assert "crash c" in table.output
