"""``sevenfold agent init|status|run`` as an operator of a device would run them."""

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sevenfold.agent.state import STATE_FILE
from sevenfold.entry.main import root
from sevenfold.protocol.clock import ManualClock
from tests.agent.agent_support import config_for, enroll, run_agent
from tests.api.attestation_support import recorded, running
from tests.conftest import TenantAccess

SEVENFOLD = str(Path(sys.executable).parent / "sevenfold")


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(root, ["agent", *args])
    return result.exit_code, result.output


def test_init_creates_an_identity_and_status_shows_it(tmp_path: Path) -> None:
    state_dir = str(tmp_path / "device")
    code, output = _invoke("init", "--state-dir", state_dir, "--output", "json")
    assert code == 0, output
    device_id = json.loads(output)["device_id"]
    assert len(device_id) == 128
    code, output = _invoke("status", "--state-dir", state_dir, "--output", "json")
    assert code == 0, output
    assert json.loads(output) == {
        "device_id": device_id,
        "certificate_not_after": None,
        "last_result": None,
        "last_reason": None,
        "last_attempt_at": None,
    }
    code, output = _invoke("init", "--state-dir", state_dir)
    assert code == 1
    assert "never replaced" in output


def test_status_shows_the_certificate_and_last_result(
    live_url: str, client: TestClient, admin: TenantAccess, clock: ManualClock,
    tmp_path: Path,
) -> None:  # fmt: skip
    state_dir = tmp_path / "device"
    device_id = enroll(client, admin, clock, state_dir)
    run_agent(config_for(state_dir, live_url), clock, max_sleeps=1)
    code, output = _invoke("status", "--state-dir", str(state_dir))
    assert code == 0, output
    assert device_id in output
    assert "certified" in output
    code, output = _invoke("status", "--state-dir", str(state_dir), "--output", "json")
    status = json.loads(output)
    expiry = datetime.fromisoformat(status["certificate_not_after"])
    attested = datetime.fromisoformat(status["last_attempt_at"])
    assert abs((expiry - attested).total_seconds() - 86400) < 1


def test_status_reports_corrupt_or_missing_state_clearly(tmp_path: Path) -> None:
    code, output = _invoke("status", "--state-dir", str(tmp_path))
    assert code == 1
    assert "no agent state" in output
    (tmp_path / STATE_FILE).write_text("{broken")
    code, output = _invoke("status", "--state-dir", str(tmp_path))
    assert code == 1
    assert "agent state is corrupt" in output
    assert "Traceback" not in output


def test_run_attests_and_stops_cleanly_on_sigterm(
    live_url: str, client: TestClient, admin: TenantAccess, clock: ManualClock,
    app: FastAPI, tmp_path: Path,
) -> None:  # fmt: skip
    clock.advance((datetime.now(UTC) - clock.now()).total_seconds())  # real time
    state_dir = tmp_path / "device"
    device_id = enroll(client, admin, clock, state_dir)
    software = running()
    process = subprocess.Popen(
        [
            SEVENFOLD, "agent", "run", "--state-dir", str(state_dir),
            "--server", live_url, "--output", "json",
            "--os-sha256", software.os_image_sha256.hex(),
            "--agent-sha256", software.agent_sha256.hex(),
            *(f"--app-sha256={digest.hex()}" for digest in software.app_image_sha256s),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "SEVENFOLD_AGENT_PROXY_PASSWORD": "unused"},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        process.kill()
    assert first["device_id"] == device_id
    assert first["last_result"] == "certified"
    assert recorded(app, device_id) == [("certified", None)]


def test_run_refuses_unusable_options(tmp_path: Path) -> None:
    code, output = _invoke(
        "run", "--state-dir", str(tmp_path), "--server", "http://127.0.0.1:1"
    )
    assert code == 1
    assert "--os-image" in output
    code, output = _invoke(
        "run", "--state-dir", str(tmp_path), "--server", "http://127.0.0.1:1",
        "--os-sha256", "00" * 32, "--agent-sha256", "00" * 32,
        "--proxy", "http://user:pw@127.0.0.1:3128",
    )  # fmt: skip
    assert code == 1
    assert "not in the proxy URL" in output
    assert "pw@" not in output.replace("user:pw@127", "")
