"""The CLI under test: the real ``sevenfold`` command group against a real server.

``cli`` runs commands in-process with click's runner, logged in (through ``sevenfold
login``) as the first tenant's administrator of a service served over real HTTP on a
loopback port, on each database backend.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from sevenfold.entry.main import root
from tests.conftest import TenantAccess


@dataclass(frozen=True, slots=True)
class Cli:
    """Runs ``sevenfold`` commands with one profile file (and optionally a token)."""

    server_url: str
    profile: Path
    token: str | None = None

    def __call__(self, *args: str, input: str | None = None) -> Result:
        env = {"SEVENFOLD_PROFILE": str(self.profile), "SEVENFOLD_SERVER": None}
        env["SEVENFOLD_TOKEN"] = self.token
        return CliRunner().invoke(root, list(args), input=input, env=env)

    def ok(self, *args: str, input: str | None = None) -> Result:
        """Run a command that must succeed."""
        result = self(*args, input=input)
        assert result.exit_code == 0, (result.exit_code, result.output)
        return result

    def json(self, *args: str, input: str | None = None) -> Any:
        """Run a command with ``--output json`` that must succeed; parse stdout."""
        return json.loads(self.ok(*args, "--output", "json", input=input).stdout)

    def as_token(self, token: str) -> "Cli":
        """The same CLI acting with another token (through $SEVENFOLD_TOKEN)."""
        return Cli(self.server_url, self.profile, token)


def login(server_url: str, profile: Path, token: str) -> Cli:
    """Log in with ``sevenfold login`` (token on stdin); return the logged-in CLI."""
    cli = Cli(server_url, profile)
    result = cli("login", "--server", server_url, input=token + "\n")
    assert result.exit_code == 0, result.output
    return cli


@pytest.fixture
def cli(live_url: str, admin: TenantAccess, tmp_path: Path) -> Cli:
    """The CLI, logged in as the first tenant's (platform) administrator."""
    return login(live_url, tmp_path / "profile.json", admin.token)


def first_line_error(result: Result) -> str:
    """The one error line a failed command printed: the last on stderr.

    Progress and notes may come before it; no traceback, no second error.
    """
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error: ")]
    assert errors == lines[-1:], result.stderr
    assert "Traceback" not in result.output
    return errors[0]


IdWriter = Callable[[Sequence[str]], Path]
