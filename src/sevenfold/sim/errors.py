"""Errors the simulator raises when the service answers with a problem or stalls."""

from sevenfold.protocol.problems import ProblemCode


class SimError(Exception):
    """Base of every simulator error."""


class ServiceProblemError(SimError):
    """The service refused a request; carries its RFC 9457 problem."""

    def __init__(
        self,
        *,
        status: int,
        code: ProblemCode | None,
        detail: str,
        method: str,
        path: str,
    ) -> None:
        label = code.value if code else "unknown-problem"
        super().__init__(f"{method} {path} -> {status} {label}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


class ServiceUnreachableError(SimError):
    """The request did not get an HTTP answer (refused, reset, timed out)."""


class OperationTimeoutError(SimError):
    """An asynchronous operation did not finish within the allowed time."""


class ScenarioError(SimError):
    """The service's state contradicts what the scenario just did."""
