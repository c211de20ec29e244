"""The director: per device, signed targets naming exactly what it should run now
(Uptane-style, docs/updates.md §4).

One root per tenant; targets, snapshot and timestamp per device (``device_id`` on
the metadata rows, versions mirrored in ``DirectorDeviceState``). Each entry carries
the image repository's ``custom`` plus ``deviceId``; the targets role carries
``x-sevenfold-device-id`` and ``x-sevenfold-apps-managed`` even when it lists
nothing, so one device's metadata cannot be replayed to another.

A check computes the desired state and its digest (entries, apps-managed, device,
and the IDs of the director's online keys, so a key rotation re-signs each device on
its next check). An unchanged digest with a timestamp that has 12 hours left signs
nothing and writes nothing.
"""

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session
from tuf.api.metadata import TargetFile, Targets

from sevenfold.protocol.updates import (
    CUSTOM_DEVICE_ID,
    DIRECTOR_APPS_MANAGED_FIELD,
    DIRECTOR_DEVICE_ID_FIELD,
    ImageType,
    InstalledImage,
)
from sevenfold.service.ca.key_encryption_key import KeyEncryptionKey
from sevenfold.service.updates import metadata_store, signing_keys
from sevenfold.service.updates.desired_state import DesiredState, desired_state
from sevenfold.service.updates.image_repository import image_custom, target_file
from sevenfold.service.updates.metadata_store import (
    TIMESTAMP_REFRESH_BEFORE,
    ChainRequest,
)
from sevenfold.service.updates.models import DeviceUpdateStatus, DirectorDeviceState
from sevenfold.service.updates.signing_keys import Repository, TufRole

_ONLINE_ROLES = (TufRole.TARGETS, TufRole.SNAPSHOT, TufRole.TIMESTAMP)


def director_entries(device_id: str, desired: DesiredState) -> dict[str, TargetFile]:
    """The device's target entries: image ``custom`` plus ``deviceId``."""
    entries: dict[str, TargetFile] = {}
    for image in desired.images:
        custom = {**image_custom(image), CUSTOM_DEVICE_ID: device_id}
        entry = target_file(image, custom)
        entries[entry.path] = entry
    return entries


def targeted_images(desired: DesiredState) -> list[dict[str, Any]]:
    """The desired images in the status API's ``InstalledImage`` form."""
    return [
        InstalledImage(
            image_id=image.id,
            component_id=image.component_id,
            version=image.version,
            kind=ImageType(image.kind),
            sha256=image.sha256,
        ).to_json()
        for image in desired.images
    ]


def _digest(
    device_id: str,
    desired: DesiredState,
    entries: dict[str, TargetFile],
    keyids: list[str],
) -> str:
    document = {
        "device": device_id,
        "apps_managed": desired.apps_managed,
        "targets": {path: entry.to_dict() for path, entry in entries.items()},
        "keyids": keyids,
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def ensure_device_metadata(
    *,
    session: Session,
    kek: KeyEncryptionKey,
    tenant_id: str,
    device_id: str,
    device_group_id: str | None,
    now: datetime,
) -> DirectorDeviceState:
    """Bring a device's director metadata up to date; the caller commits."""
    metadata_store.keep_root_current(
        session=session,
        kek=kek,
        tenant_id=tenant_id,
        repository=Repository.DIRECTOR,
        now=now,
    )
    reported = session.get(DeviceUpdateStatus, device_id)
    desired = desired_state(
        session,
        device_id=device_id,
        device_group_id=device_group_id,
        running_os_version=reported.os_version if reported else None,
        now=now,
    )
    entries = director_entries(device_id, desired)
    active = signing_keys.active_keyids(
        session=session, tenant_id=tenant_id, repository=Repository.DIRECTOR
    )
    keyids = [active.get(role.value, "") for role in _ONLINE_ROLES]
    digest = _digest(device_id, desired, entries, keyids)
    state = session.get(DirectorDeviceState, device_id)
    fresh = state is not None and (
        state.timestamp_expires_at - now >= TIMESTAMP_REFRESH_BEFORE
    )
    if state is not None and state.desired_digest == digest and fresh:
        return state
    versions = metadata_store.chain_versions(
        session,
        tenant_id=tenant_id,
        repository=Repository.DIRECTOR,
        device_id=device_id,
    )
    changed = state is None or state.desired_digest != digest
    request = ChainRequest()
    if changed:
        request = ChainRequest(
            new_targets=Targets(
                targets=entries,
                unrecognized_fields={
                    DIRECTOR_DEVICE_ID_FIELD: device_id,
                    DIRECTOR_APPS_MANAGED_FIELD: desired.apps_managed,
                },
            )
        )
    published = metadata_store.publish_chain(
        session=session,
        kek=kek,
        tenant_id=tenant_id,
        repository=Repository.DIRECTOR,
        device_id=device_id,
        now=now,
        versions=versions,
        request=request,
    )
    if state is None:
        state = DirectorDeviceState(device_id=device_id, tenant_id=tenant_id)
        session.add(state)
    state.desired_digest = digest
    state.targeted = targeted_images(desired)
    state.targets_version = published.targets_version
    state.snapshot_version = published.snapshot_version
    state.timestamp_version = published.timestamp_version
    state.timestamp_expires_at = published.timestamp_expires_at
    state.updated_at = now
    return state
