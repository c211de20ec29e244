"""Errors of update-key management and offline signing (docs/updates.md §4)."""

from sevenfold.protocol.problems import ProblemCode
from sevenfold.service.errors import ServiceError


class RoleOfflineError(ServiceError):
    """The role's key is offline: the service cannot sign for it by itself."""

    default_code = ProblemCode.UPDATE_ROLE_OFFLINE


class NoPendingMetadataError(ServiceError):
    """No metadata of that repository and role waits for a signature."""

    default_code = ProblemCode.NO_PENDING_METADATA


class StalePendingMetadataError(ServiceError):
    """The signature is for another version than the one pending."""

    default_code = ProblemCode.STALE_PENDING_METADATA


class UnexpectedSigningKeyError(ServiceError):
    """The key is not one whose signature the pending metadata needs."""

    default_code = ProblemCode.UNEXPECTED_SIGNING_KEY


class InvalidMetadataSignatureError(ServiceError):
    """The signature does not verify over the pending metadata's signed bytes."""

    default_code = ProblemCode.INVALID_METADATA_SIGNATURE
