"""Enumerations that appear on the wire: roles, feeds, policies, statuses."""

from enum import StrEnum


class Role(StrEnum):
    """A tenant role (Azure Sphere semantics: contributors can do all but delete)."""

    ADMINISTRATOR = "administrator"
    CONTRIBUTOR = "contributor"
    READER = "reader"


class PlatformRole(StrEnum):
    """A platform-level role that stands above tenants."""

    PLATFORM_ADMINISTRATOR = "platform-administrator"
    MANUFACTURER = "manufacturer"


class OsFeed(StrEnum):
    """The OS feed a device group follows."""

    RETAIL = "retail"
    RETAIL_EVAL = "retail-eval"


class UpdatePolicy(StrEnum):
    """What a device group accepts from the cloud."""

    UPDATE_ALL = "update-all"
    OS_ONLY = "os-only"
    NO_UPDATES = "no-updates"


class DeviceStatus(StrEnum):
    """Where a device stands in its tenant."""

    CLAIMED = "claimed"
    REVOKED = "revoked"


class OperationStatus(StrEnum):
    """The status of an asynchronous operation (Azure Sphere bulk-claim semantics)."""

    NOT_STARTED = "not-started"
    IN_PROGRESS = "in-progress"
    COMPLETE = "complete"
    FAILED = "failed"
    COMPLETE_WITH_ERRORS = "complete-with-errors"

    @property
    def finished(self) -> bool:
        """True once the operation will change no more."""
        return self not in {OperationStatus.NOT_STARTED, OperationStatus.IN_PROGRESS}


class ClaimOutcome(StrEnum):
    """The per-device result of a claim inside a bulk claim."""

    CLAIMED = "claimed"
    ALREADY_CLAIMED = "already-claimed"
    ALREADY_CLAIMED_BY_THIS_TENANT = "already-claimed-by-this-tenant"
    NOT_REGISTERED = "not-registered"
    INVALID_DEVICE_ID = "invalid-device-id"


MAX_BULK_CLAIM_DEVICES = 1000
"""Azure Sphere's bulk claim limit, which we keep."""
