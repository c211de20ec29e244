"""``sevenfold demo`` as a user runs it: a real process, real HTTP, real signals."""

import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

SEVENFOLD = str(Path(sys.executable).parent / "sevenfold")
DEMO_TIMEOUT_S = 120.0
GROUPS = (
    "Development",
    "Field Test",
    "Production",
    "Field Test OS Evaluation",
    "Production OS Evaluation",
)


def _group_counts(stdout: str) -> dict[str, int]:
    counts = {}
    for name in GROUPS:
        match = re.search(
            rf"^  {re.escape(name)} +retail(?:-eval)? +(\d+) ", stdout, re.M
        )
        assert match, f"group {name} missing from:\n{stdout}"
        counts[name] = int(match.group(1))
    return counts


def _data_dir(stdout: str) -> Path:
    match = re.search(r"^Data directory: (\S+) ", stdout, re.M)
    assert match, stdout
    return Path(match.group(1))


class _Demo:
    """A running demo whose output is read line by line in the background."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [SEVENFOLD, "demo", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._stderr: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._pumps = [
            threading.Thread(target=self._pump_stdout, daemon=True),
            threading.Thread(target=self._pump_stderr, daemon=True),
        ]
        for pump in self._pumps:
            pump.start()

    def _pump_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def _pump_stderr(self) -> None:
        assert self.process.stderr is not None
        self._stderr.extend(self.process.stderr)

    def wait_for_line(self, pattern: str, timeout_s: float = DEMO_TIMEOUT_S) -> str:
        """Return the next line matching ``pattern``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r} in:\n{self.stdout}")

    def finish(self, timeout_s: float = 30.0) -> tuple[int, str]:
        """Wait for exit; return the exit code and everything on stderr."""
        returncode = self.process.wait(timeout=timeout_s)
        for pump in self._pumps:
            pump.join(timeout=10)
        while (line := self._queue.get(timeout=5)) is not None:
            self.lines.append(line)
        return returncode, "".join(self._stderr)

    @property
    def stdout(self) -> str:
        """Everything read from stdout so far."""
        return "".join(self.lines)

    def kill(self) -> None:
        """Make sure the process is gone (after a failed assertion)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def test_demo_claims_and_groups_the_fleet_then_exits() -> None:
    result = subprocess.run(
        [SEVENFOLD, "demo", "--exit-after", "0"],
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    out = result.stdout
    assert re.search(r"^Tenant: Demo \([0-9a-f-]{36}\)$", out, re.M)
    assert re.search(r"^Product: Demo Gateway \([0-9a-f-]{36}\)$", out, re.M)
    assert "Registered at the factory: 12 new" in out
    assert re.search(r"operation \S+ complete \(12 devices: claimed 12\)", out)
    assert "Devices claimed: 12; moved to other groups: 8" in out
    assert _group_counts(out) == {
        "Development": 0,
        "Field Test": 4,
        "Production": 6,
        "Field Test OS Evaluation": 0,
        "Production OS Evaluation": 2,
    }
    url = re.search(r"^Service: (http://127\.0\.0\.1:\d+)$", out, re.M)
    assert url
    assert f"{url.group(1)}/docs" in out
    assert f"sevenfold login --server {url.group(1)}" in out
    assert re.search(r"^    sf_\S+$", out, re.M), "the demo prints its admin token"
    assert "throwaway demo tenant" in out
    assert not _data_dir(out).exists(), "the temporary data directory is removed"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_demo_serves_until_signalled_then_stops_cleanly(signum: int) -> None:
    demo = _Demo("--devices", "5")
    try:
        service = demo.wait_for_line(r"^Service: ").split()[1]
        token = demo.wait_for_line(r"^    sf_").strip()
        demo.wait_for_line(r"^Serving until Ctrl-C")
        devices = httpx.get(
            f"{service}/api/v1/devices",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert devices.status_code == 200
        assert len(devices.json()["items"]) == 5
        assert demo.process.poll() is None, "still serving"

        demo.process.send_signal(signum)
        returncode, stderr = demo.finish()
    finally:
        demo.kill()
    assert returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "Stopping." in demo.stdout
    assert not _data_dir(demo.stdout).exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{service}/healthz", timeout=2)


def test_ctrl_c_during_the_scenario_stops_cleanly() -> None:
    demo = _Demo("--devices", "3000")
    try:
        demo.wait_for_line(r"^== Fleet")
        demo.process.send_signal(signal.SIGINT)
        returncode, stderr = demo.finish()
    finally:
        demo.kill()
    assert returncode == 0, stderr
    assert "Traceback" not in stderr
    # Usually the fleet is still being claimed; if it was already done, the demo
    # stops from serving instead. Either way it ends cleanly.
    assert "Interrupted; stopping." in demo.stdout or "Stopping." in demo.stdout
    assert not _data_dir(demo.stdout).exists()


def test_exit_after_seconds_serves_then_stops() -> None:
    demo = _Demo("--devices", "2", "--exit-after", "1.5")
    try:
        demo.wait_for_line(r"^Serving for 1\.5 s")
        started = time.monotonic()
        returncode, stderr = demo.finish()
        waited_s = time.monotonic() - started
    finally:
        demo.kill()
    assert returncode == 0, stderr
    assert waited_s >= 1.0


def test_data_dir_is_kept_and_not_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    command = [SEVENFOLD, "demo", "--port", "0", "--exit-after", "0", "--devices", "2"]
    first = subprocess.run(
        [*command, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        check=False,
    )
    assert first.returncode == 0, first.stderr
    assert (data_dir / "sevenfold.db").is_file()
    assert f"sevenfold serve --data-dir {data_dir}" in first.stdout

    second = subprocess.run(
        [*command, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        check=False,
    )
    assert second.returncode == 2
    assert "already holds a Sevenfold database" in second.stderr
    assert "Traceback" not in second.stderr


def test_a_taken_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [SEVENFOLD, "demo", "--port", str(port), "--exit-after", "0"],
            capture_output=True,
            text=True,
            timeout=DEMO_TIMEOUT_S,
            check=False,
        )
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
