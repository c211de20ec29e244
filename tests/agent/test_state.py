"""Agent state files: atomic writes that survive a crash, bounded corrupt-safe reads."""

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sevenfold.agent.errors import StateCorruptError
from sevenfold.agent.state import (
    CERTIFICATE_FILE,
    MAX_STATE_BYTES,
    STATE_FILE,
    AgentState,
    AttestationResult,
    StateStore,
)

OLD = b"-----BEGIN CERTIFICATE-----\nold\n-----END CERTIFICATE-----\n"
NEW = b"-----BEGIN CERTIFICATE-----\nnew\n-----END CERTIFICATE-----\n"

# Write a new certificate, but lose power just before os.replace: the process ends
# at once (os._exit), as a power cut would, with the temporary file written.
CRASH_BEFORE_REPLACE = """
import os, sys
from pathlib import Path
from sevenfold.agent import state
state.os.replace = lambda *args: os._exit(9)
state.StateStore(Path(sys.argv[1])).write_certificate(sys.argv[2].encode(), b"chain")
"""


def test_state_round_trips(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    saved = AgentState(
        device_id="ab" * 64,
        last_result=AttestationResult.REFUSED,
        last_reason="revoked",
        last_attempt_at=datetime(2026, 11, 23, 12, tzinfo=UTC),
        certificate_not_after=datetime(2026, 11, 24, 12, tzinfo=UTC),
    )
    store.write_state(saved)
    assert store.read_state() == saved
    assert StateStore(tmp_path / "empty").read_state() is None


def test_a_crash_between_write_and_replace_keeps_the_old_certificate(
    tmp_path: Path,
) -> None:
    store = StateStore(tmp_path)
    store.write_certificate(OLD, b"chain")
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_BEFORE_REPLACE, str(tmp_path), NEW.decode()],
        check=False,
    )
    assert crashed.returncode == 9
    assert store.read_certificate() == OLD
    leftovers = list(tmp_path.glob(".*.tmp"))
    assert leftovers  # the crash left its temporary file behind ...
    assert store.remove_stale_temporaries() == len(leftovers)  # ... the agent cleans up
    assert not list(tmp_path.glob(".*.tmp"))
    assert store.read_certificate() == OLD


def test_a_failed_replace_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = StateStore(tmp_path)
    store.write_certificate(OLD, b"chain")

    def full_disk(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("sevenfold.agent.state.os.replace", full_disk)
    with pytest.raises(OSError, match="No space"):
        store.write_certificate(NEW, b"chain")
    assert (tmp_path / CERTIFICATE_FILE).read_bytes() == OLD
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\xff\xfe",
        b"[]",
        b'{"version": 2, "device_id": "ab"}',
        b'{"version": 1}',
        b'{"version": 1, "device_id": "ab", "last_attestation": {"result": "maybe"}}',
        b'{"version": 1, "device_id": "ab", "certificate_not_after": "2026-11-23"}',
        b" " * (MAX_STATE_BYTES + 1),
    ],
)
def test_a_corrupt_state_file_is_a_typed_error(tmp_path: Path, content: bytes) -> None:
    (tmp_path / STATE_FILE).write_bytes(content)
    with pytest.raises(StateCorruptError):
        StateStore(tmp_path).read_state()
