"""Errors the service's domains raise; ``api/problems.py`` turns them into responses.

ServiceError                         500 internal
├── InvalidRequestError              422 validation-error
├── UnauthenticatedError             401 unauthenticated
├── PermissionDeniedError            403 forbidden
├── NotFoundError                    404 not-found (or a more precise code)
├── ConflictError                    409 conflict (or a more precise code)
├── DatabaseNotReadyError            503 database-not-ready
├── CaUnavailableError               503 ca-unavailable
├── AttestationFailedError           403 attestation-failed (with a ``reason``)
├── AuthorizationNotAcceptedError    400 authorization-not-accepted
├── UntrustedRegistrationError       403 untrusted-registration (``index``, ``reason``)
├── DeviceUnauthenticatedError       401 device-unauthenticated (with a ``reason``)
├── DeviceRevokedError               409 device-revoked
├── ArtifactTooLargeError            413 body-too-large (an image upload past its cap)
├── InvalidImagePackageError         422 invalid-image-package
├── InvalidFailureReportError        422 invalid-failure-report
├── UntrustedImageSignatureError     403 untrusted-image-signature
└── RangeNotSatisfiableError         416 range-not-satisfiable (``size_bytes``)

Each error carries a stable :class:`ProblemCode`; the message is safe to show a client
and never contains secrets or internal details.

Errors that never reach a client directly: ``BodyTooLargeError`` (the body-limit
middleware answers 413 itself), ``KeyEncryptionKeyError`` and ``TlsSetupError``
(start-up refusals), ``AttestationCheckError`` (turned into ``AttestationFailedError``
once the attempt is recorded).
"""

from typing import Any

from sevenfold.protocol.attestation import AttestationFailure
from sevenfold.protocol.problems import ProblemCode


class ServiceError(Exception):
    """Base of every domain error; carries a problem code and a client-safe detail."""

    default_code = ProblemCode.INTERNAL

    def __init__(
        self,
        detail: str,
        *,
        code: ProblemCode | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.extra = extra or {}


class InvalidRequestError(ServiceError):
    """The request is well-formed JSON but asks for something invalid."""

    default_code = ProblemCode.VALIDATION_ERROR


class UnauthenticatedError(ServiceError):
    """No usable credential was presented."""

    default_code = ProblemCode.UNAUTHENTICATED


class PermissionDeniedError(ServiceError):
    """The credential is valid but its role does not allow this."""

    default_code = ProblemCode.FORBIDDEN


class NotFoundError(ServiceError):
    """The thing does not exist, or not in the caller's tenant."""

    default_code = ProblemCode.NOT_FOUND


class ConflictError(ServiceError):
    """The request conflicts with the current state; nothing was changed."""

    default_code = ProblemCode.CONFLICT


class DatabaseNotReadyError(ServiceError):
    """The database is unreachable or not migrated to the code's revision."""

    default_code = ProblemCode.DATABASE_NOT_READY


class CaUnavailableError(ServiceError):
    """The tenant CA cannot be used: the service has no key-encryption key."""

    default_code = ProblemCode.CA_UNAVAILABLE


class AttestationFailedError(ServiceError):
    """A device's attestation was refused; ``reason`` says which check failed."""

    default_code = ProblemCode.ATTESTATION_FAILED

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__(detail, extra={"reason": reason})
        self.reason = reason


class AuthorizationNotAcceptedError(ServiceError):
    """A device route was sent an Authorization header; tokens never go there."""

    default_code = ProblemCode.AUTHORIZATION_NOT_ACCEPTED


class UntrustedRegistrationError(ServiceError):
    """A registration record is not vouched for by a trusted manufacturer key.

    ``index`` is the position of the first refused record in the request; ``reason``
    is ``unknown-manufacturer-key`` or ``bad-signature``. Nothing was registered.
    """

    default_code = ProblemCode.UNTRUSTED_REGISTRATION

    def __init__(self, detail: str, *, index: int, reason: str) -> None:
        super().__init__(detail, extra={"index": index, "reason": reason})
        self.index = index
        self.reason = reason


class DeviceUnauthenticatedError(ServiceError):
    """A device route got no usable device certificate; ``reason`` says why."""

    default_code = ProblemCode.DEVICE_UNAUTHENTICATED

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__(detail, extra={"reason": reason})
        self.reason = reason


class DeviceRevokedError(ServiceError):
    """The device's certificate is valid but the device has been revoked."""

    default_code = ProblemCode.DEVICE_REVOKED


class ArtifactTooLargeError(ServiceError):
    """A streamed artifact passed its size cap; nothing was stored."""

    default_code = ProblemCode.BODY_TOO_LARGE


class InvalidImagePackageError(ServiceError):
    """The upload is not a well-formed package, or its payload is not what it says."""

    default_code = ProblemCode.INVALID_IMAGE_PACKAGE


class InvalidFailureReportError(ServiceError):
    """A device's failure batch is malformed (``protocol.failures``); nothing of it
    was stored."""

    default_code = ProblemCode.INVALID_FAILURE_REPORT


class UntrustedImageSignatureError(ServiceError):
    """The package is not signed by an image-signing key registered for it."""

    default_code = ProblemCode.UNTRUSTED_IMAGE_SIGNATURE


class RangeNotSatisfiableError(ServiceError):
    """The ``Range`` asks for bytes outside the representation (RFC 9110 §15.5.17)."""

    default_code = ProblemCode.RANGE_NOT_SATISFIABLE

    def __init__(self, detail: str, *, size_bytes: int) -> None:
        super().__init__(detail, extra={"size_bytes": size_bytes})
        self.size_bytes = size_bytes


class BodyTooLargeError(Exception):
    """Raised inside ``receive`` when a streamed body passes the limit."""


class KeyEncryptionKeyError(Exception):
    """The KEK file is missing, readable by others, or does not hold a 32-byte key."""


class TlsSetupError(Exception):
    """The TLS files are unusable or unsafe."""


class AttestationCheckError(Exception):
    """An attestation check failed; carries the reason to record and return.

    Internal to the attestation domain, which turns it into ``AttestationFailedError``
    after recording the attempt.
    """

    def __init__(self, reason: AttestationFailure, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
