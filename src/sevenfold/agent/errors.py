"""Errors raised by the agent outside its trusted core (``agent.trusted.errors``).

AgentError
├── AgentConfigError            the agent's settings are unusable
├── MeasurementError            a file to measure cannot be read
├── StateCorruptError           a state file exists but cannot be read or parsed
└── AttestationError            one attestation attempt failed
    ├── ServiceUnreachableError the service (or the proxy) did not answer in time
    ├── UnexpectedResponseError the service answered something the agent cannot use
    ├── ProxyAuthenticationError the proxy refused the agent's credentials (407)
    ├── KeyStoreFailedError     the key store could not make evidence (TPM refused)
    └── AttestationRefusedError the service refused the evidence; ``reason`` says why
"""


class AgentError(Exception):
    """Base of every agent failure outside the trusted core."""


class AgentConfigError(AgentError):
    """A setting is missing, malformed or contradicts another."""


class MeasurementError(AgentError):
    """The OS image, agent or an app image cannot be read to be measured."""


class StateCorruptError(AgentError):
    """A state file exists but is too large, not the expected format or version."""


class AttestationError(AgentError):
    """One attestation attempt failed; ``reason`` is what the agent records."""

    reason = "attestation-error"


class ServiceUnreachableError(AttestationError):
    """No answer: connection refused, proxy failure, timeout or deadline passed."""

    reason = "service-unreachable"


class UnexpectedResponseError(AttestationError):
    """The service answered with a status or body the agent does not understand."""

    reason = "unexpected-response"


class ProxyAuthenticationError(AttestationError):
    """The proxy answered 407: no, or wrong, basic-auth credentials."""

    reason = "proxy-authentication-failed"


class KeyStoreFailedError(AttestationError):
    """The key store could not make evidence (the TPM refused, or the measured
    software changed since the key store was opened)."""

    reason = "key-store-failed"


class AttestationRefusedError(AttestationError):
    """The service refused the evidence (403 ``attestation-failed``)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(
            f"attestation refused: {reason}" + (f" ({detail})" if detail else "")
        )
        self.reason = reason
