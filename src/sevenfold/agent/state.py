"""The agent's state on disk, beside the key store's files in the state directory.

* ``agent-state.json``: format version, device ID, the last attestation's result,
  reason and time, and the current certificate's expiry;
* ``certificate.pem`` and ``chain.pem``: the device certificate and its issuing chain.

Every write is atomic (a private temporary file is written and fsynced, then
``os.replace``-d into place and the directory fsynced), so a power cut leaves the
old file or the new one, never a mix. Reads are bounded; a file that is too large or
malformed raises ``StateCorruptError`` for the caller to report.
"""

import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sevenfold.agent.errors import StateCorruptError

STATE_FILE = "agent-state.json"
CERTIFICATE_FILE = "certificate.pem"
CHAIN_FILE = "chain.pem"
STATE_VERSION = 1
MAX_STATE_BYTES = 64 * 1024
MAX_PEM_BYTES = 256 * 1024
_TEMPORARY_SUFFIX = ".tmp"


class AttestationResult(StrEnum):
    """What the last attestation attempt came to."""

    CERTIFIED = "certified"
    REFUSED = "refused"  # the service said no; the reason is its vocabulary's
    FAILED = "failed"  # no usable answer (unreachable, unexpected response)


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentState:
    """The contents of ``agent-state.json``."""

    device_id: str
    last_result: AttestationResult | None = None
    last_reason: str | None = None
    last_attempt_at: datetime | None = None
    certificate_not_after: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """The file's JSON object."""
        return {
            "version": STATE_VERSION,
            "device_id": self.device_id,
            "last_attestation": None
            if self.last_result is None
            else {
                "result": self.last_result.value,
                "reason": self.last_reason,
                "at": _iso(self.last_attempt_at),
            },
            "certificate_not_after": _iso(self.certificate_not_after),
        }


@dataclass(frozen=True, slots=True)
class StateStore:
    """Reads and writes one agent's state files in its state directory."""

    state_dir: Path

    def read_state(self) -> AgentState | None:
        """Return the saved state, or ``None`` when there is none yet.

        Raises:
            StateCorruptError: the file is too large, not JSON or not version 1.
        """
        data = read_bounded(self.state_dir / STATE_FILE, MAX_STATE_BYTES)
        if data is None:
            return None
        try:
            return _parse_state(json.loads(data))
        except (ValueError, TypeError, KeyError) as err:
            raise StateCorruptError(
                f"{self.state_dir / STATE_FILE} is not a valid agent state: {err}"
            ) from err

    def write_state(self, state: AgentState) -> None:
        """Replace the state file atomically."""
        text = json.dumps(state.to_json(), indent=2, sort_keys=True) + "\n"
        write_atomically(self.state_dir / STATE_FILE, text.encode())

    def read_certificate(self) -> bytes | None:
        """Return the saved certificate PEM, or ``None``.

        Raises:
            StateCorruptError: the file is larger than any certificate.
        """
        return read_bounded(self.state_dir / CERTIFICATE_FILE, MAX_PEM_BYTES)

    def read_chain(self) -> bytes | None:
        """Return the saved chain PEM, or ``None``.

        Raises:
            StateCorruptError: the file is larger than any chain.
        """
        return read_bounded(self.state_dir / CHAIN_FILE, MAX_PEM_BYTES)

    def write_certificate(self, certificate_pem: bytes, chain_pem: bytes) -> None:
        """Replace the chain, then the certificate, each atomically."""
        write_atomically(self.state_dir / CHAIN_FILE, chain_pem)
        write_atomically(self.state_dir / CERTIFICATE_FILE, certificate_pem)

    def remove_stale_temporaries(self) -> int:
        """Delete temporary files a crash left behind; return how many."""
        removed = 0
        for name in (STATE_FILE, CERTIFICATE_FILE, CHAIN_FILE):
            for path in self.state_dir.glob(f".{name}.*{_TEMPORARY_SUFFIX}"):
                path.unlink(missing_ok=True)
                removed += 1
        return removed


def read_bounded(path: Path, max_bytes: int) -> bytes | None:
    """Return a file's bytes, ``None`` if it does not exist.

    Raises:
        StateCorruptError: the file is larger than ``max_bytes`` or unreadable.
    """
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise StateCorruptError(f"cannot read {path}: {err.strerror}") from err
    if len(data) > max_bytes:
        raise StateCorruptError(f"{path} is larger than {max_bytes} bytes")
    return data


def write_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old or the new file.

    Temporary file (private, exclusive), write, fsync, ``os.replace``, fsync of the
    directory. On failure the temporary file is removed and ``path`` is untouched.
    """
    directory = path.parent
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = directory / f".{path.name}.{secrets.token_hex(8)}{_TEMPORARY_SUFFIX}"
    descriptor = os.open(
        temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _moment(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("a time is an ISO 8601 string")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("a time carries its UTC offset")
    return moment


def _parse_state(data: object) -> AgentState:
    if not isinstance(data, dict):
        raise TypeError("the state is a JSON object")
    if data.get("version") != STATE_VERSION:
        raise ValueError(f"unsupported state version {data.get('version')!r}")
    device_id = data["device_id"]
    if not isinstance(device_id, str) or not device_id:
        raise TypeError("device_id is a non-empty string")
    last = data.get("last_attestation")
    if last is None:
        return AgentState(
            device_id=device_id,
            certificate_not_after=_moment(data.get("certificate_not_after")),
        )
    if not isinstance(last, dict):
        raise TypeError("last_attestation is an object")
    reason = last.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise TypeError("reason is a string")
    return AgentState(
        device_id=device_id,
        last_result=AttestationResult(last["result"]),
        last_reason=reason,
        last_attempt_at=_moment(last["at"]),
        certificate_not_after=_moment(data.get("certificate_not_after")),
    )
