"""Errors raised by the protocol package when wire text is not well formed.

ProtocolError (ValueError)
├── RecordFormatError   the text is not a well-formed registration record
├── PackageFormatError  the bytes are not a well-formed image package
├── CapabilityFormatError  the bytes are not a well-formed capability grant
├── FailureReportError  a failure batch or event is not well formed
└── RolloutError        a rollout's waves, policy or transition are not acceptable
"""


class ProtocolError(ValueError):
    """Base of every protocol parsing failure."""


class RecordFormatError(ProtocolError):
    """The text is not a well-formed registration record."""


class PackageFormatError(ProtocolError):
    """The bytes are not a well-formed image package (docs/updates.md §1)."""


class CapabilityFormatError(ProtocolError):
    """The bytes are not a well-formed signed capability grant."""


class FailureReportError(ProtocolError):
    """A failure batch or event is not well formed (docs/failures.md §1)."""


class RolloutError(ProtocolError):
    """A rollout's waves, policy or transition are not acceptable (§3)."""
