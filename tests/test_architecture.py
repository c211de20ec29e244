"""Architecture rules: import boundaries, module sizes, no catch-all modules."""

import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "sevenfold"
MAX_MODULE_LINES = 600


def test_import_boundaries_hold() -> None:
    """agent, service and cli never import each other; protocol and crypto stay pure."""
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=SRC.parent.parent,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


def test_modules_stay_small() -> None:
    """No module passes 600 lines (the reviewers' split threshold)."""
    too_long = {
        str(path.relative_to(SRC)): lines
        for path in SRC.rglob("*.py")
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert too_long == {}


def test_no_catch_all_modules() -> None:
    """Modules are named after what they hold: no utils.py or helpers.py."""
    names = {path.name for path in SRC.rglob("*.py")}
    assert not names & {"utils.py", "helpers.py", "misc.py", "common.py"}


def test_every_package_keeps_its_errors_in_one_module() -> None:
    """Each runtime package that defines errors does so in errors.py only."""
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.name == "errors.py":
            continue
        text = path.read_text()
        if "(ServiceError)" in text or "(CliError)" in text or "(AgentError)" in text:
            offenders.append(str(path.relative_to(SRC)))
    assert offenders == []
