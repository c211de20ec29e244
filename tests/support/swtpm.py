"""A software TPM (swtpm) the tests start themselves, on free loopback ports.

With ``CI=true`` in the environment a missing swtpm or tpm2-pytss fails the run:
CI installs both through ``./dev test``, so their absence there is a broken install,
not a reason to skip the TPM tests silently.
"""

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path

import pytest

START_TIMEOUT_S = 10.0


def require_tpm_tools() -> None:
    """Skip (fail on CI) the calling test module unless swtpm and tpm2-pytss exist."""
    missing = [
        name
        for name, present in (
            ("swtpm", shutil.which("swtpm") is not None),
            ("tpm2-pytss", find_spec("tpm2_pytss") is not None),
        )
        if not present
    ]
    if not missing:
        return
    reason = f"TPM tests need {' and '.join(missing)} (./dev test installs them)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def _free_port_pair() -> int:
    """Return a port P such that P and P+1 were free on the loopback a moment ago."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if port >= 65535:
            continue
        with socket.socket() as neighbour:
            try:
                neighbour.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def _wait_for(process: subprocess.Popen[bytes], port: int) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            time.sleep(0.05)
        else:
            return True
    return False


@contextmanager
def swtpm(state_dir: Path) -> Iterator[str]:
    """Run swtpm on ``state_dir`` (its NVRAM persists there); yield its TCTI string.

    ``startup-clear`` has swtpm send TPM2_Startup itself, as firmware does for a
    hardware TPM, so clients start from a TPM that is ready.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    for _ in range(5):
        port = _free_port_pair()
        process = subprocess.Popen(
            [
                "swtpm", "socket", "--tpm2",
                "--tpmstate", f"dir={state_dir}",
                "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
                "--ctrl", f"type=tcp,port={port + 1},bindaddr=127.0.0.1",
                "--flags", "not-need-init,startup-clear",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if _wait_for(process, port):
            break
        process.kill()
        process.wait()
    else:
        raise RuntimeError("swtpm did not start on a free loopback port")
    try:
        yield f"swtpm:host=127.0.0.1,port={port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
