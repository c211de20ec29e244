"""Errors raised by the crypto package.

CryptoError
└── InvalidDeviceIdError   the text is not a P-256 public key in device-ID form
"""


class CryptoError(Exception):
    """Base of every crypto failure."""


class InvalidDeviceIdError(CryptoError, ValueError):
    """The text is not 128 hex characters naming a point on P-256."""
