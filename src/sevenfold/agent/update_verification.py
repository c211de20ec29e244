"""Uptane full verification on metadata ngclient has already verified (pure, no I/O).

The director says what this device should run; the image repository says what
exists and was released. Neither alone is enough (docs/updates.md §4-5): every
director target must exist in the image repository with the same length, hashes
and agreeing ``custom`` fields, and the director's targets role must be bound to
this device, so a compromised director key cannot install arbitrary software and
one device's director metadata cannot be replayed to another.
"""

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tuf.api.metadata import TargetFile, Targets

from sevenfold.agent.errors import (
    DirectorBindingError,
    DirectorImageDisagreementError,
    DirectorTargetsInvalidError,
)
from sevenfold.protocol.errors import ProtocolError
from sevenfold.protocol.updates import (
    AGREEING_CUSTOM_KEYS,
    CUSTOM_COMPONENT_ID,
    CUSTOM_DEVICE_ID,
    CUSTOM_IMAGE_ID,
    CUSTOM_KIND,
    CUSTOM_NAME,
    CUSTOM_SECURITY_VERSION,
    CUSTOM_VERSION,
    DIRECTOR_APPS_MANAGED_FIELD,
    DIRECTOR_DEVICE_ID_FIELD,
    MAX_SECURITY_VERSION,
    ImageType,
    TargetDescription,
    is_sha256_hex,
    parse_version,
    target_path,
)

ImageLookup = Callable[[str], TargetFile | None]
"""Finds a target path in the (verified) image repository; ``None`` if absent."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AgreedTargets:
    """What the director and image repository agree this device should run."""

    os: TargetDescription | None
    apps: tuple[TargetDescription, ...]
    apps_managed: bool

    @property
    def all(self) -> tuple[TargetDescription, ...]:
        """The OS target (if any) followed by the apps."""
        return ((self.os,) if self.os is not None else ()) + self.apps


def agreed_targets(
    director: Targets, image_lookup: ImageLookup, device_id: str
) -> AgreedTargets:
    """Cross-check the director's targets against the image repository.

    Raises:
        DirectorBindingError: the role or an entry names another device (or none).
        DirectorImageDisagreementError: an entry is missing from, or differs from,
            the image repository.
        DirectorTargetsInvalidError: more than one OS image, two images of one app,
            or a malformed custom field.
    """
    bound_to = director.unrecognized_fields.get(DIRECTOR_DEVICE_ID_FIELD)
    if not _same_device(bound_to, device_id):
        raise DirectorBindingError(
            f"director metadata is bound to another device ({str(bound_to)[:16]})"
        )
    apps_managed = director.unrecognized_fields.get(DIRECTOR_APPS_MANAGED_FIELD)
    if not isinstance(apps_managed, bool):
        raise DirectorTargetsInvalidError(
            f"{DIRECTOR_APPS_MANAGED_FIELD} must be true or false"
        )
    os_target: TargetDescription | None = None
    apps: dict[str, TargetDescription] = {}
    for path in sorted(director.targets):
        entry = director.targets[path]
        if not _same_device(_custom(entry).get(CUSTOM_DEVICE_ID), device_id):
            raise DirectorBindingError(f"director target {path} is for another device")
        image_entry = image_lookup(path)
        if image_entry is None:
            raise DirectorImageDisagreementError(
                f"director target {path} is not in the image repository"
            )
        _require_agreement(path, entry, image_entry)
        description = describe(entry)
        if description.kind is ImageType.OS:
            if os_target is not None:
                raise DirectorTargetsInvalidError("the director lists two OS images")
            os_target = description
        elif description.component_id in apps:
            raise DirectorTargetsInvalidError(
                f"the director lists two images of app {description.component_id}"
            )
        else:
            apps[description.component_id] = description
    ordered_apps = tuple(apps[key] for key in sorted(apps))
    return AgreedTargets(os=os_target, apps=ordered_apps, apps_managed=apps_managed)


def describe(entry: TargetFile) -> TargetDescription:
    """The ``TargetDescription`` of one verified target entry.

    Raises:
        DirectorTargetsInvalidError: the path or a custom field is malformed.
    """
    custom = _custom(entry)
    sha256 = entry.hashes.get("sha256", "")
    try:
        _require_content_addressed(entry.path, sha256)
        kind = ImageType(_text(custom, CUSTOM_KIND))
        version = _text(custom, CUSTOM_VERSION)
        parse_version(version)
        return TargetDescription(
            kind=kind,
            component_id=_text(custom, CUSTOM_COMPONENT_ID),
            image_id=_text(custom, CUSTOM_IMAGE_ID),
            name=_text(custom, CUSTOM_NAME),
            version=version,
            security_version=_security_version(custom),
            sha256=sha256,
            length=entry.length,
        )
    except (ProtocolError, ValueError) as err:
        raise DirectorTargetsInvalidError(f"target {entry.path}: {err}") from err


def _require_content_addressed(path: str, sha256: str) -> None:
    if target_path(sha256) != path:
        raise ProtocolError("a target path is blobs/<its sha256>")


def _security_version(custom: Mapping[str, Any]) -> int:
    value = custom.get(CUSTOM_SECURITY_VERSION)
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or not 0 <= value <= MAX_SECURITY_VERSION
    ):
        raise ProtocolError("securityVersion is an integer 0-2^31")
    return value


def _require_agreement(path: str, director: TargetFile, image: TargetFile) -> None:
    if director.length != image.length:
        raise DirectorImageDisagreementError(
            f"{path}: director length {director.length} != image {image.length}"
        )
    if director.hashes != image.hashes:
        raise DirectorImageDisagreementError(
            f"{path}: director and image hashes differ"
        )
    for key in AGREEING_CUSTOM_KEYS:
        if _custom(director).get(key) != _custom(image).get(key):
            raise DirectorImageDisagreementError(
                f"{path}: director and image repository disagree on {key}"
            )
    sha256 = director.hashes.get("sha256")
    if not isinstance(sha256, str) or not is_sha256_hex(sha256):
        raise DirectorTargetsInvalidError(f"{path}: no SHA-256 hash")


def _custom(entry: TargetFile) -> Mapping[str, Any]:
    custom = entry.custom
    return custom if isinstance(custom, dict) else {}


def _text(custom: Mapping[str, Any], key: str) -> str:
    value = custom.get(key)
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"custom.{key} must be a non-empty string")
    return value


def _same_device(claimed: object, device_id: str) -> bool:
    if not isinstance(claimed, str):
        return False
    return hmac.compare_digest(claimed.encode(), device_id.encode())
