"""``sevenfold agent init|run|status --backend tpm`` against swtpm and a live service:
the agent attests with a TPM quote over real HTTP and saves a certificate for the
identity key, which never leaves the TPM.

With ``CI=true`` a missing swtpm or tpm2-pytss fails the run instead of skipping it.
"""

import json
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.support.swtpm import require_tpm_tools, swtpm

require_tpm_tools()

from sevenfold.agent.state import CERTIFICATE_FILE  # noqa: E402
from sevenfold.protocol.clock import ManualClock  # noqa: E402
from tests.api.attestation_support import enroll, recorded, running  # noqa: E402
from tests.conftest import TenantAccess  # noqa: E402

SEVENFOLD = str(Path(sys.executable).parent / "sevenfold")
POINT = (serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def _agent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SEVENFOLD, "agent", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_agent_attests_with_the_tpm_and_writes_its_certificate(
    live_url: str, client: TestClient, admin: TenantAccess, clock: ManualClock,
    app: FastAPI, tmp_path: Path,
) -> None:  # fmt: skip
    clock.advance((datetime.now(UTC) - clock.now()).total_seconds())  # real time
    state_dir = tmp_path / "device"
    software = running()
    with swtpm(tmp_path / "swtpm") as tcti:
        init = _agent(
            "init", "--state-dir", str(state_dir), "--backend", "tpm",
            "--tcti", tcti, "--output", "json",
        )  # fmt: skip
        assert init.returncode == 0, init.stderr
        device_id = json.loads(init.stdout)["device_id"]
        enroll(client, admin, device_id, software)
        process = subprocess.Popen(
            [
                SEVENFOLD, "agent", "run", "--state-dir", str(state_dir),
                "--backend", "tpm", "--tcti", tcti,
                "--server", live_url, "--output", "json",
                "--os-sha256", software.os_image_sha256.hex(),
                "--agent-sha256", software.agent_sha256.hex(),
                *(f"--app-sha256={d.hex()}" for d in software.app_image_sha256s),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            first = json.loads(process.stdout.readline())
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
        finally:
            process.kill()
            process.wait()
    assert (first["device_id"], first["last_result"]) == (device_id, "certified")
    assert recorded(app, device_id) == [("certified", None)]
    leaf = x509.load_pem_x509_certificate((state_dir / CERTIFICATE_FILE).read_bytes())
    # The certificate is for the identity key: its public key is the device ID.
    assert leaf.public_key().public_bytes(*POINT)[1:].hex() == device_id
    subject = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert subject.value.get_values_for_type(x509.UniformResourceIdentifier) == [
        f"urn:sevenfold:device:{device_id}"
    ]
    status = _agent("status", "--state-dir", str(state_dir), "--output", "json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["last_result"] == "certified"
    assert json.loads(status.stdout)["certificate_not_after"] == (
        leaf.not_valid_after_utc.isoformat()
    )


def test_tpm_backend_needs_a_tcti(tmp_path: Path) -> None:
    result = _agent(
        "run", "--state-dir", str(tmp_path), "--server", "http://127.0.0.1:1",
        "--backend", "tpm", "--os-sha256", "00" * 32, "--agent-sha256", "00" * 32,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--tcti" in result.stderr
