"""The real ``sevenfold agent run`` as a child process, for end-to-end update tests.

The child runs the ``agent`` click group itself (``sevenfold.agent.commands``), the
same command ``sevenfold agent run`` dispatches to, without importing the service
and simulator the top-level ``sevenfold`` entry point also loads (seconds per start
on a busy CI box; the power-loss tests start dozens of agents).
"""

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.agent.live_update_service import AGENT_SHA256, EnrolledDevice

AGENT_MAIN = (
    "import sys; from sevenfold.agent.commands import agent_group; "
    "sys.exit(agent_group(prog_name='sevenfold agent'))"
)
RUN_TIMEOUT_S = 60.0
POLL_INTERVAL_S = 0.3


@dataclass(frozen=True)
class AgentRun:
    """How one agent process ended."""

    returncode: int
    fault_kill_at: str | None
    stopped_in_steady_state: bool
    output: str
    elapsed_s: float

    @property
    def killed(self) -> bool:
        """Died by SIGKILL (the injected power cut)."""
        return self.returncode == -signal.SIGKILL


def agent_run_command(
    device: EnrolledDevice,
    server_url: str,
    server_ca: Path,
    *,
    fault_kill_at: str | None = None,
    extra: tuple[str, ...] = (),
) -> list[str]:
    """``sevenfold agent run --exit-on-reboot`` for ``device`` over mTLS."""
    command = [
        sys.executable, "-c", AGENT_MAIN, "run",
        "--state-dir", str(device.state_dir),
        "--install-root", str(device.install_root),
        "--server", server_url, "--server-ca", str(server_ca),
        "--agent-sha256", AGENT_SHA256.hex(),
        "--connect-timeout-s", "5", "--read-timeout-s", "15", "--deadline-s", "30",
        "--backoff-base-s", "0.5", "--backoff-max-s", "2",
        "--update-check-interval-s", "3600", "--bootlimit", "3",
        "--exit-on-reboot", "--output", "json",
    ]  # fmt: skip
    if fault_kill_at is not None:
        command += ["--fault-kill-at", fault_kill_at]
    return command + list(extra)


def run_agent_once(
    command: list[str],
    log_file: Path,
    steady: Callable[[], bool],
    fault_kill_at: str | None = None,
) -> AgentRun:
    """Run the agent until it exits (killed, or exit-on-reboot) or ``steady()``
    holds, then stop it with SIGTERM as an operator would."""
    with log_file.open("ab") as log:
        log.write(f"\n--- {' '.join(command[3:])}\n".encode())
        log.flush()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        stopped = False
        started = time.monotonic()
        deadline = time.monotonic() + RUN_TIMEOUT_S
        try:
            while process.poll() is None:
                if time.monotonic() > deadline:
                    raise AssertionError(f"the agent did not settle: {command}")
                if steady():
                    process.send_signal(signal.SIGTERM)
                    stopped = True
                    process.wait(timeout=RUN_TIMEOUT_S)
                    break
                time.sleep(POLL_INTERVAL_S)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    return AgentRun(
        returncode=process.returncode,
        fault_kill_at=fault_kill_at,
        stopped_in_steady_state=stopped,
        output=log_file.read_text(errors="replace"),
        elapsed_s=time.monotonic() - started,
    )
