"""The TUF/Uptane threats, each against the real updater (``UpdateClient`` +
``UpdateCycle``) and a real ``dir`` install backend, served by the in-memory Uptane
simulator playing the attacker. In every case nothing is installed, the device stays
on its verified slot, and the failure is reported with its reason."""

import asyncio
import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
from tuf.api.metadata import Metadata, Snapshot, Timestamp

from sevenfold.agent.update_cycle import CycleResult
from sevenfold.protocol.updates import (
    CUSTOM_DEVICE_ID,
    CUSTOM_SECURITY_VERSION,
    CUSTOM_VERSION,
    ImageType,
    target_path,
)
from tests.agent.update_support import (
    OTHER_DEVICE_ID,
    UpdateDevice,
    make_device,
    make_image,
)
from tests.support.uptane_simulator import custom_of, expires_in, target_entry

METADATA_REFUSED = "metadata-refused"
TARGET_REFUSED = "target-refused"
DISAGREEMENT = "director-image-disagreement"
EXPECTED_DISAGREEMENT = {
    "length": "director length",
    "hash": "hashes differ",
    "version": "disagree on version",
    "securityVersion": "disagree on securityVersion",
}


async def healthy() -> None:
    """A trial boot that attests and reaches the service."""


@pytest.fixture
def device(tmp_path: Path) -> UpdateDevice:
    device = make_device(tmp_path)
    assert device.check().result is CycleResult.UP_TO_DATE  # roots pinned, cached
    return device


def test_rollback_attack_replayed_old_timestamp_is_refused(
    device: UpdateDevice,
) -> None:
    director = device.simulator.director
    old_timestamp = director.timestamps[-2]  # validly signed, one version older
    device.simulator.overrides[device.simulator.url("director", "timestamp.json")] = (
        lambda: iter([old_timestamp])
    )

    outcome = device.check()

    device.assert_refused(outcome, METADATA_REFUSED, "BadVersionNumberError")
    device.assert_untouched()


def test_freeze_attack_expired_timestamp_is_refused(device: UpdateDevice) -> None:
    new_os = device.release(ImageType.OS, "26.11", security_version=2)
    device.simulator.set_director_targets((new_os,), publish=False)
    # The newest timestamp the attacker can keep serving has expired.
    device.simulator.director.publish(timestamp_expires=expires_in(-1))

    outcome = device.check()

    device.assert_refused(outcome, METADATA_REFUSED, "ExpiredMetadataError")
    device.assert_untouched()


def test_mix_and_match_attack_snapshot_pinning_refuses_other_targets_version(
    device: UpdateDevice,
) -> None:
    simulator = device.simulator
    rogue = device.release(ImageType.APP, "6.6.6")
    simulator.set_director_targets((device.factory_os, rogue))
    rogue_version = simulator.director.targets.signed.version
    simulator.set_director_targets((device.factory_os,))
    pinned_version = simulator.director.targets.signed.version
    # Served as the version the snapshot pins: an older targets file that lists
    # an app the director no longer wants on this device.
    rogue_targets = simulator.director.files[f"{rogue_version}.targets.json"]
    simulator.overrides[simulator.url("director", f"{pinned_version}.targets.json")] = (
        lambda: iter([rogue_targets])
    )

    outcome = device.check()

    device.assert_refused(outcome, METADATA_REFUSED, "BadVersionNumberError")
    device.assert_untouched()


def test_arbitrary_software_attack_unsigned_target_is_not_installed(
    device: UpdateDevice,
) -> None:
    simulator = device.simulator
    # 1. The director lists an image the image repository never released.
    package, unreleased = make_image(device.key, kind=ImageType.APP, version="1.0")
    simulator.blobs[unreleased.sha256] = package
    simulator.set_director_targets((device.factory_os, unreleased))

    outcome = device.check()

    device.assert_refused(outcome, DISAGREEMENT, "not in the image repository")
    device.assert_untouched()

    # 2. A released image, but the bytes served are another package's.
    released = device.release(ImageType.APP, "1.1")
    other, _ = make_image(device.key, kind=ImageType.APP, version="1.1")
    forged = other[: released.length].ljust(released.length, b"\0")
    simulator.overrides[simulator.url("targets", target_path(released.sha256))] = (
        lambda: iter([forged])
    )
    simulator.set_director_targets((device.factory_os, released))

    outcome = device.check()

    device.assert_refused(outcome, TARGET_REFUSED, "LengthOrHashMismatchError")
    device.assert_untouched()


def test_endless_data_attack_is_cut_at_the_signed_length(device: UpdateDevice) -> None:
    simulator = device.simulator
    new_os = device.release(ImageType.OS, "26.11", security_version=2)
    simulator.set_director_targets((new_os,))
    signed_bytes = simulator.blobs[new_os.sha256]
    served: list[int] = []

    def endless() -> Iterator[bytes]:
        yield signed_bytes
        while True:
            served.append(65_536)
            yield b"\0" * 65_536

    simulator.overrides[simulator.url("targets", target_path(new_os.sha256))] = endless

    outcome = device.check()

    device.assert_refused(outcome, TARGET_REFUSED, "DownloadLengthMismatchError")
    assert len(served) == 1  # the first byte past the signed length ends it
    device.assert_untouched()

    # Endless metadata is cut at ngclient's cap as well.
    simulator.overrides.clear()
    simulator.overrides[simulator.url("image", "timestamp.json")] = endless
    device.assert_refused(
        device.check(), METADATA_REFUSED, "DownloadLengthMismatchError"
    )
    device.assert_untouched()


def test_fast_forward_attack_recovered_by_rotating_the_timestamp_key_in_root(
    device: UpdateDevice,
) -> None:
    simulator = device.simulator
    director = simulator.director
    stolen_timestamp_key = director.signers[Timestamp.type]
    forged: Metadata[Timestamp] = copy.deepcopy(director.timestamp)
    forged.signed.version += 10_000
    forged_bytes = director.signed_bytes(forged, stolen_timestamp_key)
    timestamp_url = simulator.url("director", "timestamp.json")
    simulator.overrides[timestamp_url] = lambda: iter([forged_bytes])
    assert device.check().result is CycleResult.UP_TO_DATE  # validly signed
    simulator.overrides.clear()
    new_os = device.release(ImageType.OS, "26.11", security_version=2)
    simulator.set_director_targets((new_os,))

    outcome = device.check()  # the real timestamp now looks like a rollback

    device.assert_refused(outcome, METADATA_REFUSED, "BadVersionNumberError")
    device.assert_untouched()

    director.rotate_keys(Timestamp.type)  # root (offline) names a new timestamp key

    assert device.check().result is CycleResult.REBOOT_REQUIRED
    assert device.reboot().trial == new_os


@pytest.mark.parametrize("field", ["length", "hash", "version", "securityVersion"])
def test_director_image_disagreement_is_refused(
    device: UpdateDevice, field: str
) -> None:
    simulator = device.simulator
    new_os = device.release(ImageType.OS, "26.11", security_version=2)
    simulator.set_director_targets((new_os,), publish=False)
    entry = simulator.director.targets.signed.targets[target_path(new_os.sha256)]
    custom = entry.unrecognized_fields["custom"]
    if field == "length":
        entry.length += 1
    elif field == "hash":
        entry.hashes = {"sha256": "0" * 64}
    elif field == "version":
        custom[CUSTOM_VERSION] = "26.12"
    else:
        custom[CUSTOM_SECURITY_VERSION] = 9
    simulator.director.publish()

    outcome = device.check()

    device.assert_refused(outcome, DISAGREEMENT, EXPECTED_DISAGREEMENT[field])
    device.assert_untouched()


@pytest.mark.parametrize("binding", ["role", "entry"])
def test_director_metadata_for_another_device_is_refused(
    device: UpdateDevice, binding: str
) -> None:
    simulator = device.simulator
    new_os = device.release(ImageType.OS, "26.11", security_version=2)
    if binding == "role":
        # Another device's director metadata, replayed to this one.
        simulator.set_director_targets((new_os,), device_id=OTHER_DEVICE_ID)
    else:
        simulator.set_director_targets((new_os,), publish=False)
        entry = simulator.director.targets.signed.targets[target_path(new_os.sha256)]
        entry.unrecognized_fields["custom"][CUSTOM_DEVICE_ID] = OTHER_DEVICE_ID
        simulator.director.publish()

    outcome = device.check()

    device.assert_refused(outcome, "director-binding", "another device")
    device.assert_untouched()


def test_compromised_online_director_key_recovered_through_offline_root(
    device: UpdateDevice,
) -> None:
    simulator = device.simulator
    director = simulator.director
    stolen = dict(director.signers)  # targets, snapshot and timestamp are online
    package, rogue = make_image(device.key, kind=ImageType.OS, version="99.0")
    simulator.blobs[rogue.sha256] = package
    simulator.set_director_targets((rogue,), publish=False)
    director.publish(signers=stolen)

    # The image repository (offline-rooted) never released it.
    device.assert_refused(device.check(), DISAGREEMENT, "not in the image repository")
    device.assert_untouched()

    # Recovery: the offline root key signs a root naming new online keys.
    simulator.set_director_targets((device.factory_os,), publish=False)
    director.rotate_keys("targets", "snapshot", Timestamp.type)
    assert device.check().result is CycleResult.UP_TO_DATE
    forged: Metadata[Timestamp] = copy.deepcopy(director.timestamp)
    forged.signed.version += 1
    forged_bytes = director.signed_bytes(forged, stolen[Timestamp.type])
    simulator.overrides[simulator.url("director", "timestamp.json")] = lambda: iter(
        [forged_bytes]
    )

    outcome = device.check()

    device.assert_refused(outcome, METADATA_REFUSED, "UnsignedMetadataError")
    device.assert_untouched()


def test_security_version_rollback_is_refused_even_if_both_repositories_sign_it(
    device: UpdateDevice,
) -> None:
    patched = device.release(ImageType.OS, "26.11", security_version=3)
    device.simulator.set_director_targets((patched,))
    assert device.check().reboot_required
    device.reboot()
    booted = asyncio.run(device.cycle().after_boot(device.boots[-1], healthy))
    assert booted.result is CycleResult.COMMITTED
    assert device.backend.committed_security_version() == 3
    vulnerable = device.release(ImageType.OS, "26.12", security_version=2)
    device.simulator.set_director_targets((vulnerable,))

    outcome = device.check()

    device.assert_refused(outcome, "security-version-rollback", "below this device")
    device.assert_untouched(running=patched)
    assert device.backend.committed_os() == patched


def test_attacker_with_the_online_snapshot_and_timestamp_keys_cannot_add_a_target(
    device: UpdateDevice,
) -> None:
    """Every online key is stolen (the director's, the image repository's snapshot
    and timestamp): the attacker lists a rogue OS image in ``images`` and signs it
    with a key it holds, but only the key the top-level targets delegate
    ``blobs/*`` to makes the device believe an image was released."""
    simulator = device.simulator
    image = simulator.image
    package, rogue = make_image(device.key, kind=ImageType.OS, version="99.0")
    simulator.blobs[rogue.sha256] = package
    entry = target_entry(rogue, custom_of(rogue))
    image.listing.targets[entry.path] = entry
    image.publish(signers={"images": image.signers[Snapshot.type]})
    simulator.set_director_targets((rogue,))

    outcome = device.check()

    device.assert_refused(outcome, METADATA_REFUSED, "UnsignedMetadataError")
    device.assert_untouched()
