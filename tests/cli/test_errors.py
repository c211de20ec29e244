"""Every failure is one line on stderr and an exit code that says what kind it was."""

import pytest

from sevenfold.cli.errors import ExitCode, error_for_problem
from sevenfold.protocol.problems import ProblemCode
from tests.cli.conftest import Cli, first_line_error
from tests.support.devices import new_device_ids


def test_usage_errors_exit_2(cli: Cli) -> None:
    assert cli("device", "list", "--status", "lost").exit_code == ExitCode.USAGE
    result = cli("device", "show", "not-a-device-id")
    assert result.exit_code == ExitCode.USAGE
    assert "128 hexadecimal characters" in first_line_error(result)


def test_service_validation_errors_exit_2(cli: Cli) -> None:
    result = cli("product", "create", "--name", "x" * 51)
    assert result.exit_code == ExitCode.USAGE
    assert "[validation-error]" in first_line_error(result)


def test_forbidden_exits_3(cli: Cli) -> None:
    reader = cli.json("token", "create", "--name", "ro", "--role", "reader")
    result = cli.as_token(reader["token"])("product", "create", "--name", "P")
    assert result.exit_code == ExitCode.AUTH
    assert "[forbidden]" in first_line_error(result)


def test_revoked_token_exits_3(cli: Cli) -> None:
    made = cli.json("token", "create", "--name", "temp", "--role", "contributor")
    cli.ok("token", "revoke", made["id"])
    result = cli.as_token(made["token"])("product", "list")
    assert result.exit_code == ExitCode.AUTH
    assert "[unauthenticated]" in first_line_error(result)
    assert made["token"] not in result.output


def test_not_found_exits_4(cli: Cli) -> None:
    (unknown,) = new_device_ids(1)
    result = cli("device", "show", unknown)
    assert result.exit_code == ExitCode.NOT_FOUND
    assert cli("product", "show", "Nothing").exit_code == ExitCode.NOT_FOUND
    missing_group = cli("device-group", "show", "00000000-0000-4000-8000-000000000000")
    assert missing_group.exit_code == ExitCode.NOT_FOUND


def test_conflicts_exit_5(cli: Cli) -> None:
    cli.ok("product", "create", "--name", "Gateway")
    result = cli("product", "create", "--name", "GATEWAY")
    assert result.exit_code == ExitCode.CONFLICT
    assert "[name-conflict]" in first_line_error(result)


def test_unreachable_service_exits_7(cli: Cli) -> None:
    result = cli(
        "product", "list", "--server", "http://127.0.0.1:9", "--timeout-s", "2"
    )
    assert result.exit_code == ExitCode.UNREACHABLE
    assert "no answer from http://127.0.0.1:9" in first_line_error(result)


@pytest.mark.parametrize(
    ("status", "code", "exit_code"),
    [
        (500, ProblemCode.INTERNAL, ExitCode.SERVER),
        (503, ProblemCode.DATABASE_NOT_READY, ExitCode.SERVER),
        (413, ProblemCode.BODY_TOO_LARGE, ExitCode.USAGE),
        (404, ProblemCode.DEVICE_NOT_REGISTERED, ExitCode.NOT_FOUND),
        (409, ProblemCode.DEVICE_ALREADY_CLAIMED, ExitCode.CONFLICT),
        (418, None, ExitCode.FAILED),
    ],
)
def test_problems_map_to_exit_codes(
    status: int, code: ProblemCode | None, exit_code: ExitCode
) -> None:
    error = error_for_problem(status, code, "detail")
    assert error.exit_code == exit_code
    assert error.message.startswith("detail [")
