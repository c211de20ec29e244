"""The CLI's errors and exit codes (documented in docs/cli.md; scripts rely on them).

CliError                      1  a command failed for a reason of its own
├── InvalidInputError         2  bad arguments or input (also click's usage errors)
├── AuthError                 3  no usable credential, or its role does not allow it
├── NotFoundError             4  the thing does not exist (in the caller's tenant)
├── ConflictError             5  the request conflicts with the service's state
├── ServerError               6  the service failed (5xx) or answered nonsense
└── UnreachableError          7  no answer from the service (connection, timeout)

Each is a :class:`click.ClickException`, so click prints one ``Error: ...`` line on
stderr and exits with the class's code.
"""

from enum import IntEnum

import click

from sevenfold.protocol.problems import ProblemCode


class ExitCode(IntEnum):
    """Process exit codes of every operator command."""

    OK = 0
    FAILED = 1
    USAGE = 2
    AUTH = 3
    NOT_FOUND = 4
    CONFLICT = 5
    SERVER = 6
    UNREACHABLE = 7


class CliError(click.ClickException):
    """Base of every CLI failure: one line on stderr and a distinct exit code."""

    exit_code = ExitCode.FAILED


class InvalidInputError(CliError):
    """The arguments or the input file are invalid (or the service said so)."""

    exit_code = ExitCode.USAGE


class AuthError(CliError):
    """Not logged in, the token is refused, or its role does not allow the call."""

    exit_code = ExitCode.AUTH


class NotFoundError(CliError):
    """The named thing does not exist in the caller's tenant."""

    exit_code = ExitCode.NOT_FOUND


class ConflictError(CliError):
    """The service refused because of its current state; nothing was changed."""

    exit_code = ExitCode.CONFLICT


class ServerError(CliError):
    """The service failed or sent something that is not the API's JSON."""

    exit_code = ExitCode.SERVER


class UnreachableError(CliError):
    """The service did not answer."""

    exit_code = ExitCode.UNREACHABLE


_BY_STATUS: dict[int, type[CliError]] = {
    400: InvalidInputError,
    401: AuthError,
    403: AuthError,
    404: NotFoundError,
    405: InvalidInputError,
    409: ConflictError,
    413: InvalidInputError,
    422: InvalidInputError,
}


def error_for_problem(status: int, code: ProblemCode | None, detail: str) -> CliError:
    """Return the error a service problem maps to, its message naming the code."""
    if status >= 500:
        kind: type[CliError] = ServerError
    else:
        kind = _BY_STATUS.get(status, CliError)
    suffix = f" [{code.value}]" if code is not None else f" [HTTP {status}]"
    return kind(detail + suffix)
