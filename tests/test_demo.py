"""``sevenfold demo`` as a user runs it: a real process, real HTTP, real signals."""

import json
import queue
import re
import signal
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature

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


def _demo_ca(line: str) -> ssl.SSLContext:
    """A client context trusting the CA named on the demo's ``TLS CA:`` line."""
    return ssl.create_default_context(cafile=line.split()[2])


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


def test_demo_json_output_is_one_summary_object_on_stdout() -> None:
    result = subprocess.run(
        [SEVENFOLD, "demo", "--port", "0", "--exit-after", "0", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert sorted(summary) == [
        "acts",
        "administrator_token",
        "data_dir",
        "service_url",
        "tenant",
        "updates",
    ]
    assert summary["tenant"]["name"] == "Demo"
    assert summary["administrator_token"].startswith("sf_")
    titles = [act["title"] for act in summary["acts"]]
    assert titles[0].startswith("Fleet")
    assert titles[1].startswith("Attest")
    assert titles[2].startswith("Update")
    assert (
        "10 certified, 1 refused: unapproved-software, 1 refused: revoked"
        in (summary["acts"][1]["lines"])
    )
    assert "== Fleet" in result.stderr, "the story goes to stderr"


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
    url = re.search(r"^Service: (https://127\.0\.0\.1:\d+)$", out, re.M)
    assert url
    assert f"{url.group(1)}/docs" in out
    assert f"sevenfold login --server {url.group(1)}" in out
    assert re.search(r"^    sf_\S+$", out, re.M), "the demo prints its admin token"
    assert "throwaway demo tenant" in out
    assert "== Attest: devices prove their software and receive 24-hour" in out
    assert "Approved for Demo Gateway: OS 26.10 " in out
    assert "\n10 certified, 1 refused: unapproved-software, 1 refused: revoked\n" in out
    rows = re.findall(r"^  [0-9a-f]{16}… +(.+?) {2,}(valid until|refused: )", out, re.M)
    assert len(rows) == 12
    # Which group a device lands in depends on its (random) ID; any group will do.
    group = "(" + "|".join(map(re.escape, GROUPS)) + ")"
    assert re.search(rf"… +{group} +refused: revoked$", out, re.M)
    assert re.search(rf"… +{group} +refused: unapproved-software$", out, re.M)
    assert not _data_dir(out).exists(), "the temporary data directory is removed"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_demo_serves_until_signalled_then_stops_cleanly(signum: int) -> None:
    demo = _Demo("--devices", "5")
    try:
        service = demo.wait_for_line(r"^Service: ").split()[1]
        demo_ca = _demo_ca(demo.wait_for_line(r"^  TLS CA: "))
        token = demo.wait_for_line(r"^    sf_").strip()
        demo.wait_for_line(r"^Serving until Ctrl-C")
        devices = httpx.get(
            f"{service}/api/v1/devices",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
            verify=demo_ca,
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
        httpx.get(f"{service}/healthz", timeout=2, verify=demo_ca)


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


def _issued_by_one_of(certificate_pem: bytes, chain_pem: bytes) -> bool:
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    for ca in x509.load_pem_x509_certificates(chain_pem):
        try:
            certificate.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return True
    return False


def test_attested_devices_keep_certificates_that_chain_to_the_tenant_ca(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "demo"
    demo = _Demo("--devices", "5", "--data-dir", str(data_dir))
    try:
        service = demo.wait_for_line(r"^Service: ").split()[1]
        demo.wait_for_line(r"^3 certified, 1 refused: unapproved-software, 1 refused")
        demo_ca = _demo_ca(demo.wait_for_line(r"^  TLS CA: "))
        token = demo.wait_for_line(r"^    sf_").strip()
        demo.wait_for_line(r"^Serving until Ctrl-C")
        chain = httpx.get(
            f"{service}/api/v1/ca-certificates/chain",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
            verify=demo_ca,
        )
        assert chain.status_code == 200
        demo.process.send_signal(signal.SIGINT)
        returncode, stderr = demo.finish()
    finally:
        demo.kill()
    assert returncode == 0, stderr
    assert f"Certificates: {data_dir / 'devices'}/device-NNNNN/" in demo.stdout
    states = {
        path.parent.name: json.loads(path.read_text())
        for path in (data_dir / "devices").glob("device-*/agent-state.json")
    }
    results = {
        name: (state["last_attestation"]["result"], state["last_attestation"]["reason"])
        for name, state in states.items()
    }
    # The update act then boots every device that is not revoked into the signed
    # factory OS, so the odd device attests too (it was refused in the attest act).
    assert results == {
        "device-00000": ("refused", "revoked"),
        "device-00001": ("certified", None),
        "device-00002": ("certified", None),
        "device-00003": ("certified", None),
        "device-00004": ("certified", None),
    }
    for name in ("device-00000", "device-00001", "device-00002", "device-00003"):
        device_dir = data_dir / "devices" / name
        assert (device_dir / "chain.pem").read_bytes() == chain.content
        certificate = (device_dir / "certificate.pem").read_bytes()
        assert _issued_by_one_of(certificate, chain.content)
        assert stat.S_IMODE((device_dir / "uds").stat().st_mode) == 0o400


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
