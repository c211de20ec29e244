"""Uptane full verification on TUF objects (pure), the trust anchor the agent pins,
and the update-status client's handling of the service's answers."""

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from tuf.api.metadata import TargetFile, Targets

from sevenfold.agent.errors import (
    DirectorBindingError,
    DirectorTargetsInvalidError,
    UpdateError,
    UpdateMetadataRefusedError,
    UpdateUnreachableError,
)
from sevenfold.agent.measurements import FixedMeasurementSource
from sevenfold.agent.update_client import (
    IMAGE_REPOSITORY,
    TRUSTED_ROOT_FILE,
    metadata_dir,
    pin_trusted_root,
)
from sevenfold.agent.update_status_client import (
    UPDATE_STATUS_PATH,
    UpdateStatusClient,
)
from sevenfold.agent.update_verification import agreed_targets
from sevenfold.protocol.attestation import Measurements
from sevenfold.protocol.updates import (
    CUSTOM_DEVICE_ID,
    DIRECTOR_APPS_MANAGED_FIELD,
    DIRECTOR_DEVICE_ID_FIELD,
    ImageType,
    TargetDescription,
    UpdateState,
    UpdateStatusReport,
)
from tests.agent.agent_support import config_for
from tests.agent.update_support import DEVICE_ID, make_device, make_image
from tests.support.images import make_signing_key
from tests.support.uptane_simulator import (
    SimulatedRepository,
    custom_of,
    target_entry,
)

KEY = make_signing_key()


def director_for(
    *targets: TargetDescription, apps_managed: object = True
) -> tuple[Targets, dict[str, TargetFile]]:
    """Director targets for DEVICE_ID and the image repository's entries."""
    image: dict[str, TargetFile] = {}
    director = Targets(
        unrecognized_fields={
            DIRECTOR_DEVICE_ID_FIELD: DEVICE_ID,
            DIRECTOR_APPS_MANAGED_FIELD: apps_managed,
        }
    )
    for target in targets:
        entry = target_entry(target, custom_of(target))
        image[entry.path] = entry
        director.targets[entry.path] = target_entry(
            target, custom_of(target) | {CUSTOM_DEVICE_ID: DEVICE_ID}
        )
    return director, image


def image(kind: ImageType, version: str, component_id: str | None = None) -> (
    TargetDescription
):  # fmt: skip
    return make_image(KEY, kind=kind, version=version, component_id=component_id)[1]


def test_agreed_targets_split_the_os_from_the_apps_sorted_by_component() -> None:
    os_target = image(ImageType.OS, "26.11")
    apps = [image(ImageType.APP, "1.0"), image(ImageType.APP, "2.0")]
    director, image_repository = director_for(os_target, *apps)

    agreed = agreed_targets(director, image_repository.get, DEVICE_ID)

    assert agreed.os == os_target
    assert agreed.apps == tuple(sorted(apps, key=lambda app: app.component_id))
    assert agreed.apps_managed is True
    assert agreed.all == (os_target, *agreed.apps)


def test_an_empty_director_still_binds_the_device_and_says_who_manages_apps() -> None:
    director, _ = director_for(apps_managed=False)

    agreed = agreed_targets(director, lambda path: None, DEVICE_ID)

    assert (agreed.os, agreed.apps, agreed.apps_managed) == (None, (), False)
    with pytest.raises(DirectorBindingError):
        agreed_targets(director, lambda path: None, "f" * 64)


@pytest.mark.parametrize(
    "targets",
    [
        pytest.param("two-os", id="two OS images"),
        pytest.param("two-of-one-app", id="two images of one app"),
        pytest.param("apps-managed-missing", id="apps-managed not a boolean"),
    ],
)
def test_director_target_sets_the_agent_cannot_use_are_refused(targets: str) -> None:
    if targets == "two-os":
        director, repository = director_for(
            image(ImageType.OS, "26.11"), image(ImageType.OS, "26.12")
        )
    elif targets == "two-of-one-app":
        first = image(ImageType.APP, "1.0")
        director, repository = director_for(
            first, image(ImageType.APP, "1.1", component_id=first.component_id)
        )
    else:
        director, repository = director_for(apps_managed="yes")

    with pytest.raises(DirectorTargetsInvalidError):
        agreed_targets(director, repository.get, DEVICE_ID)


def test_a_device_provisioned_with_its_root_refuses_another_repository(
    tmp_path: Path,
) -> None:
    device = make_device(tmp_path)
    impostor = SimulatedRepository("image")
    pin_trusted_root(device.state_dir, IMAGE_REPOSITORY, impostor.files["1.root.json"])

    outcome = device.check()

    device.assert_refused(outcome, "metadata-refused", "UnsignedMetadataError")
    device.assert_untouched()


def test_only_self_signed_root_metadata_can_be_pinned(tmp_path: Path) -> None:
    repository = SimulatedRepository("image")
    root = json.loads(repository.files["1.root.json"])
    root["signatures"] = []

    with pytest.raises(UpdateMetadataRefusedError):
        pin_trusted_root(tmp_path, IMAGE_REPOSITORY, json.dumps(root).encode())
    with pytest.raises(UpdateMetadataRefusedError):
        pin_trusted_root(tmp_path, IMAGE_REPOSITORY, b"{}")
    assert not (metadata_dir(tmp_path, IMAGE_REPOSITORY) / TRUSTED_ROOT_FILE).exists()


def status_client(handler: httpx.MockTransport, tmp_path: Path) -> UpdateStatusClient:
    measurements = Measurements(os_image_sha256=bytes(32), agent_sha256=bytes(32))
    config = config_for(
        tmp_path,
        "http://updates.test",
        measurements=FixedMeasurementSource(measurements=measurements),
    )
    return UpdateStatusClient(config, transport=handler)


def test_status_client_posts_the_report_and_reads_check_requested(
    tmp_path: Path,
) -> None:
    received: list[dict[str, object]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == UPDATE_STATUS_PATH
        received.append(json.loads(request.content))
        return httpx.Response(200, json={"check_requested": True})

    report = UpdateStatusReport(state=UpdateState.IDLE, os_version="26.10")
    client = status_client(httpx.MockTransport(answer), tmp_path)

    assert asyncio.run(client.report(report)) is True
    assert received == [report.to_json()]


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(503), UpdateUnreachableError),
        (httpx.Response(401, json={"code": "device-unauthenticated"}), UpdateError),
        (httpx.Response(200, json={"check_requested": "yes"}), UpdateError),
        (httpx.Response(200, content=b"x" * 70_000), UpdateError),
    ],
)
def test_status_client_refuses_answers_it_cannot_use(
    tmp_path: Path, response: httpx.Response, error: type[UpdateError]
) -> None:
    client = status_client(httpx.MockTransport(lambda request: response), tmp_path)
    report = UpdateStatusReport(state=UpdateState.IDLE, os_version=None)

    with pytest.raises(error):
        asyncio.run(client.report(report))
