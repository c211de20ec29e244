"""Errors raised by the protocol package when wire text is not well formed.

ProtocolError (ValueError)
├── RecordFormatError   the text is not a well-formed registration record
└── PackageFormatError  the bytes are not a well-formed image package
"""


class ProtocolError(ValueError):
    """Base of every protocol parsing failure."""


class RecordFormatError(ProtocolError):
    """The text is not a well-formed registration record."""


class PackageFormatError(ProtocolError):
    """The bytes are not a well-formed image package (docs/updates.md §1)."""
