"""Run one install-backend operation in its own process, killed at a checkpoint.

Usage: ``python -m tests.support.install_driver ROOT PLAN OPERATION KILL_AT``

OPERATION is ``boot``, ``stage-os``, ``commit-os`` or ``install-apps``; all but
``boot`` start with an (unkilled) ``boot()``, as the agent does. KILL_AT is a
checkpoint name, or ``-`` to run to the end. At KILL_AT the process sends itself
SIGKILL: no cleanup, no buffered writes, as with a power cut.
"""

import json
import os
import signal
import sys
from pathlib import Path

from sevenfold.agent.install import DirInstallBackend
from sevenfold.agent.install.records import target_from_json

BOOTLIMIT = 3


class KillSwitch:
    """A checkpoint that kills the process at one step once armed."""

    def __init__(self, kill_at: str) -> None:
        self.kill_at = kill_at
        self.armed = False

    def __call__(self, step: str) -> None:
        if self.armed and step == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


def main(root: Path, plan_path: Path, operation: str, kill_at: str) -> None:
    plan = json.loads(plan_path.read_text())
    switch = KillSwitch(kill_at)
    backend = DirInstallBackend(root, bootlimit=BOOTLIMIT, checkpoint=switch)
    if operation == "boot":
        switch.armed = True
    backend.boot()
    switch.armed = True
    if operation == "stage-os":
        backend.stage_os(
            Path(plan["os"]["package"]), target_from_json(plan["os"]["target"])
        )
    elif operation == "commit-os":
        backend.commit_os()
    elif operation == "install-apps":
        backend.install_apps(
            [
                (Path(app["package"]), target_from_json(app["target"]))
                for app in plan["apps"]
            ]
        )
    elif operation != "boot":
        raise SystemExit(f"unknown operation {operation}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4])
