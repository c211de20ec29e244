"""Stable problem types (RFC 9457) returned by the service and understood by clients.

The ``type`` member of every ``application/problem+json`` body is
``PROBLEM_TYPE_PREFIX + code``. Codes never change meaning once released; clients (the
CLI maps them to exit codes) may rely on them.
"""

from enum import StrEnum

PROBLEM_TYPE_PREFIX = "urn:sevenfold:problem:"
PROBLEM_CONTENT_TYPE = "application/problem+json"


class ProblemCode(StrEnum):
    """Every problem code the API can return, with its HTTP status in ``status``."""

    VALIDATION_ERROR = "validation-error"
    BODY_TOO_LARGE = "body-too-large"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not-found"
    METHOD_NOT_ALLOWED = "method-not-allowed"
    CONFLICT = "conflict"
    NAME_CONFLICT = "name-conflict"
    DEVICE_ALREADY_CLAIMED = "device-already-claimed"
    DEVICE_NOT_REGISTERED = "device-not-registered"
    DEVICE_REVOKED = "device-revoked"
    DEVICE_GROUP_NOT_EMPTY = "device-group-not-empty"
    PRODUCT_NOT_EMPTY = "product-not-empty"
    WRONG_PRODUCT = "wrong-product"
    DATABASE_NOT_READY = "database-not-ready"
    CA_UNAVAILABLE = "ca-unavailable"
    ATTESTATION_FAILED = "attestation-failed"
    AUTHORIZATION_NOT_ACCEPTED = "authorization-not-accepted"
    UNTRUSTED_REGISTRATION = "untrusted-registration"
    DEVICE_UNAUTHENTICATED = "device-unauthenticated"
    INVALID_RELEASE_TRANSITION = "invalid-release-transition"
    RELEASE_VERSION_NOT_NEWER = "release-version-not-newer"
    INVALID_ROLLOUT_TRANSITION = "invalid-rollout-transition"
    INVALID_FAILURE_REPORT = "invalid-failure-report"
    INVALID_IMAGE_PACKAGE = "invalid-image-package"
    UNTRUSTED_IMAGE_SIGNATURE = "untrusted-image-signature"
    RANGE_NOT_SATISFIABLE = "range-not-satisfiable"
    UPDATE_ROLE_OFFLINE = "update-role-offline"
    NO_PENDING_METADATA = "no-pending-metadata"
    STALE_PENDING_METADATA = "stale-pending-metadata"
    UNEXPECTED_SIGNING_KEY = "unexpected-signing-key"
    INVALID_METADATA_SIGNATURE = "invalid-metadata-signature"
    INTERNAL = "internal"

    @property
    def type_uri(self) -> str:
        """The problem's ``type`` member."""
        return PROBLEM_TYPE_PREFIX + self.value

    @property
    def status(self) -> int:
        """The HTTP status that always accompanies this code."""
        return _STATUS[self]


_STATUS: dict[ProblemCode, int] = {
    ProblemCode.VALIDATION_ERROR: 422,
    ProblemCode.BODY_TOO_LARGE: 413,
    ProblemCode.UNAUTHENTICATED: 401,
    ProblemCode.FORBIDDEN: 403,
    ProblemCode.NOT_FOUND: 404,
    ProblemCode.METHOD_NOT_ALLOWED: 405,
    ProblemCode.CONFLICT: 409,
    ProblemCode.NAME_CONFLICT: 409,
    ProblemCode.DEVICE_ALREADY_CLAIMED: 409,
    ProblemCode.DEVICE_NOT_REGISTERED: 404,
    ProblemCode.DEVICE_REVOKED: 409,
    ProblemCode.DEVICE_GROUP_NOT_EMPTY: 409,
    ProblemCode.PRODUCT_NOT_EMPTY: 409,
    ProblemCode.WRONG_PRODUCT: 409,
    ProblemCode.DATABASE_NOT_READY: 503,
    ProblemCode.CA_UNAVAILABLE: 503,
    ProblemCode.ATTESTATION_FAILED: 403,
    ProblemCode.AUTHORIZATION_NOT_ACCEPTED: 400,
    ProblemCode.UNTRUSTED_REGISTRATION: 403,
    ProblemCode.DEVICE_UNAUTHENTICATED: 401,
    ProblemCode.INVALID_RELEASE_TRANSITION: 409,
    ProblemCode.RELEASE_VERSION_NOT_NEWER: 409,
    ProblemCode.INVALID_ROLLOUT_TRANSITION: 409,
    ProblemCode.INVALID_FAILURE_REPORT: 422,
    ProblemCode.INVALID_IMAGE_PACKAGE: 422,
    ProblemCode.UNTRUSTED_IMAGE_SIGNATURE: 403,
    ProblemCode.RANGE_NOT_SATISFIABLE: 416,
    ProblemCode.UPDATE_ROLE_OFFLINE: 409,
    ProblemCode.NO_PENDING_METADATA: 404,
    ProblemCode.STALE_PENDING_METADATA: 409,
    ProblemCode.UNEXPECTED_SIGNING_KEY: 403,
    ProblemCode.INVALID_METADATA_SIGNATURE: 422,
    ProblemCode.INTERNAL: 500,
}


def code_from_type(type_uri: str) -> ProblemCode | None:
    """Return the code of a problem ``type`` URI, or None for a foreign one."""
    if not type_uri.startswith(PROBLEM_TYPE_PREFIX):
        return None
    try:
        return ProblemCode(type_uri.removeprefix(PROBLEM_TYPE_PREFIX))
    except ValueError:
        return None
