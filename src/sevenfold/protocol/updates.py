"""The update vocabulary both ends share (docs/updates.md).

Release states, update states, the TUF ``custom`` keys the director and the image
repository must agree on, target paths, version ordering, and the status report a
device sends. Pure: no I/O.
"""

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sevenfold.protocol.errors import ProtocolError

SHA256_HEX_CHARS = 64
MAX_VERSION_PART = 999_999
MAX_SECURITY_VERSION = 2**31
MAX_STATUS_IMAGES = 64
MAX_STATUS_DETAIL_CHARS = 200
TARGET_PREFIX = "blobs/"

# TUF ``custom`` keys on every target entry (image repository and director).
CUSTOM_KIND = "kind"
CUSTOM_COMPONENT_ID = "componentId"
CUSTOM_IMAGE_ID = "imageId"
CUSTOM_NAME = "name"
CUSTOM_VERSION = "version"
CUSTOM_SECURITY_VERSION = "securityVersion"
CUSTOM_DEVICE_ID = "deviceId"
#: The custom fields that must be equal in director and image metadata (Uptane
#: full verification, step 10).
AGREEING_CUSTOM_KEYS = (
    CUSTOM_KIND,
    CUSTOM_COMPONENT_ID,
    CUSTOM_IMAGE_ID,
    CUSTOM_VERSION,
    CUSTOM_SECURITY_VERSION,
)
# Fields of the director's per-device targets role (``Targets.unrecognized_fields``).
DIRECTOR_DEVICE_ID_FIELD = "x-sevenfold-device-id"
DIRECTOR_APPS_MANAGED_FIELD = "x-sevenfold-apps-managed"

_VERSION_RE = re.compile(
    r"^(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})(?:\.(0|[1-9][0-9]{0,5}))?$"
)
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class ImageType(StrEnum):
    """What an image package holds."""

    OS = "os"
    APP = "app"


class ReleaseState(StrEnum):
    """Where an OS release stands (docs/updates.md §3)."""

    RETAIL_EVAL = "retail-eval"
    RETAIL = "retail"
    CANCELLED = "cancelled"
    WITHDRAWN = "withdrawn"


class ReleaseAction(StrEnum):
    """The transitions an operator (or the promotion tick) can ask for."""

    PROMOTE = "promote"
    CANCEL = "cancel"
    WITHDRAW = "withdraw"


RELEASE_TRANSITIONS: dict[tuple[ReleaseState, ReleaseAction], ReleaseState] = {
    (ReleaseState.RETAIL_EVAL, ReleaseAction.PROMOTE): ReleaseState.RETAIL,
    (ReleaseState.RETAIL_EVAL, ReleaseAction.CANCEL): ReleaseState.CANCELLED,
    (ReleaseState.RETAIL, ReleaseAction.WITHDRAW): ReleaseState.WITHDRAWN,
}
"""The whole release state machine; anything not listed is refused."""


class UpdateState(StrEnum):
    """A device's update state as it reports it."""

    IDLE = "idle"
    DOWNLOADING = "downloading"
    INSTALLING = "installing"
    REBOOTING = "rebooting"
    COMMITTED = "committed"
    FAILED = "failed"
    ROLLED_BACK = "rolled-back"


def parse_version(text: str) -> tuple[int, int, int]:
    """Parse ``MAJOR.MINOR[.PATCH]`` into a sortable tuple (``26.11`` = ``26.11.0``).

    Raises:
        ProtocolError: not a version.
    """
    match = _VERSION_RE.match(text)
    if match is None:
        raise ProtocolError(
            f"a version is MAJOR.MINOR[.PATCH] with parts 0-{MAX_VERSION_PART}"
        )
    major, minor, patch = match.groups()
    return (int(major), int(minor), int(patch or 0))


def version_sort_key(text: str) -> str:
    """A fixed-width string that sorts like the version (for database ordering)."""
    major, minor, patch = parse_version(text)
    return f"{major:06d}.{minor:06d}.{patch:06d}"


def is_sha256_hex(text: str) -> bool:
    """True for 64 lower-case hex characters."""
    return _SHA256_RE.match(text) is not None


def target_path(sha256_hex: str) -> str:
    """The TUF target path of a content-addressed artifact."""
    if not is_sha256_hex(sha256_hex):
        raise ProtocolError("an artifact is named by its SHA-256 in lower-case hex")
    return TARGET_PREFIX + sha256_hex


@dataclass(frozen=True, slots=True, kw_only=True)
class InstalledImage:
    """An image a device runs or is targeted with, as reported."""

    image_id: str
    component_id: str
    version: str
    kind: ImageType
    sha256: str

    def to_json(self) -> dict[str, str]:
        """The wire form."""
        return {
            "image_id": self.image_id,
            "component_id": self.component_id,
            "version": self.version,
            "kind": self.kind.value,
            "sha256": self.sha256,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateStatusReport:
    """What a device says about its updates after a check or a transition."""

    state: UpdateState
    os_version: str | None
    installed: tuple[InstalledImage, ...] = ()
    targeted: tuple[InstalledImage, ...] = ()
    detail: str | None = None
    rolled_back_from: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The wire form (``POST /api/v1/device/update-status``)."""
        return {
            "state": self.state.value,
            "os_version": self.os_version,
            "installed": [image.to_json() for image in self.installed],
            "targeted": [image.to_json() for image in self.targeted],
            "detail": self.detail,
            "rolled_back_from": self.rolled_back_from,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetDescription:
    """One image a device should run, as the director and image repository agree.

    Built by the agent's updater from verified TUF metadata; handed to the install
    backend with the downloaded, verified file.
    """

    kind: ImageType
    component_id: str
    image_id: str
    name: str
    version: str
    security_version: int
    sha256: str
    length: int

    def as_installed(self) -> InstalledImage:
        """The status-report form."""
        return InstalledImage(
            image_id=self.image_id,
            component_id=self.component_id,
            version=self.version,
            kind=self.kind,
            sha256=self.sha256,
        )
