"""The director under rollouts (docs/failures.md §3): a rolled-out release or
deployment goes to members of opened waves of a running rollout, to everyone once
it completed, to no one new while paused or aborted; the others get the next older
release or the group's previous deployment, and a device that already runs it
keeps it."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.rollouts import RolloutAction
from sevenfold.protocol.updates import ImageType, InstalledImage, target_path
from sevenfold.service.db.engine import make_session_factory
from sevenfold.service.images.models import Image
from sevenfold.service.rollouts import service as rollouts
from sevenfold.service.rollouts.models import Rollout, RolloutMember
from sevenfold.service.updates.desired_state import DesiredState, desired_state
from sevenfold.service.updates.models import DeviceUpdateStatus
from tests.api.device_auth_support import certified
from tests.api.release_support import insert_image, publish
from tests.api.rollout_support import (
    API,
    ProductGroups,
    add_devices,
    open_wave,
    post_rollout,
    product_with_groups,
)
from tests.api.update_support import DeviceUpdaters, add_release, deploy, settings
from tests.conftest import TenantAccess
from tests.support.fleet import groups_by_name

__all__ = ["settings"]

WAVES = [{"size": 4, "unit": "count"}, {"size": 100, "unit": "percent"}]


@pytest.fixture
def session(app: FastAPI) -> Iterator[Session]:
    """A session on the app's database (the director's reads)."""
    with make_session_factory(app.state.sevenfold.engine)() as db:
        yield db


@dataclass(frozen=True, slots=True)
class Fleet:
    """A product whose Production group holds 12 devices."""

    product: ProductGroups
    devices: list[str]

    @property
    def group_id(self) -> str:
        """The Production group (retail feed, update-all, app updates on)."""
        return self.product.group_ids["Production"]


@pytest.fixture
def fleet(
    app: FastAPI, client: TestClient, clock: ManualClock, admin: TenantAccess
) -> Fleet:
    """Twelve devices in one retail, update-all group."""
    product = product_with_groups(client, admin)
    return Fleet(product, add_devices(app, clock, product, "Production", 12))


def _desired(
    session: Session,
    clock: ManualClock,
    device_id: str,
    group_id: str,
    running: str | None = "27.1",
) -> DesiredState:
    session.expire_all()
    return desired_state(
        session,
        device_id=device_id,
        device_group_id=group_id,
        running_os_version=running,
        now=clock.now(),
    )


def _os_version(desired: DesiredState) -> str | None:
    return None if desired.os_image is None else desired.os_image.version


def _waves(session: Session, rollout_id: str) -> dict[int, list[str]]:
    by_wave: dict[int, list[str]] = {}
    for device_id, wave in session.execute(
        select(RolloutMember.device_id, RolloutMember.wave).where(
            RolloutMember.rollout_id == rollout_id
        )
    ).all():
        by_wave.setdefault(wave, []).append(device_id)
    return by_wave


def _act(session: Session, clock: ManualClock, rollout_id: str, action: str) -> None:
    rollout = session.get(Rollout, rollout_id)
    assert rollout is not None
    rollouts.apply_action(
        session, rollout, RolloutAction(action), principal=None, clock=clock
    )
    session.commit()


def _os_rollout(
    app: FastAPI, client: TestClient, clock: ManualClock, admin: TenantAccess
) -> str:
    """27.1 in retail with no rollout; 27.2 promoted to retail under a rollout."""
    add_release(app, clock, "27.1")
    image = insert_image(app, clock, tenant_id=None, kind=ImageType.OS, version="27.2")
    release = publish(client, admin, image.id)
    client.post(
        f"{API}/os-releases/{release['id']}/promote", headers=admin.headers
    ).raise_for_status()
    rollout_id: str = post_rollout(
        client,
        admin,
        {"os_release_id": release["id"], "os_feed": "retail", "waves": WAVES},
    )["id"]
    return rollout_id


def test_without_a_rollout_every_device_gets_the_newest_release(
    app: FastAPI, clock: ManualClock, fleet: Fleet, session: Session
) -> None:
    add_release(app, clock, "27.1")
    add_release(app, clock, "27.2")

    for device_id in fleet.devices:
        assert _os_version(_desired(session, clock, device_id, fleet.group_id)) == (
            "27.2"
        )


def test_a_release_goes_only_to_devices_of_opened_waves(
    app: FastAPI,
    client: TestClient,
    clock: ManualClock,
    admin: TenantAccess,
    fleet: Fleet,
    session: Session,
) -> None:
    rollout_id = _os_rollout(app, client, clock, admin)
    waves = _waves(session, rollout_id)
    assert (len(waves[0]), len(waves[1])) == (4, 8)

    for device_id in fleet.devices:
        assert _os_version(_desired(session, clock, device_id, fleet.group_id)) == (
            "27.1"
        )
    open_wave(app, rollout_id, 0, clock.now())
    for device_id in waves[0]:
        assert _os_version(_desired(session, clock, device_id, fleet.group_id)) == (
            "27.2"
        )
    for device_id in waves[1]:
        assert _os_version(_desired(session, clock, device_id, fleet.group_id)) == (
            "27.1"
        )
    open_wave(app, rollout_id, 1, clock.now())
    for device_id in fleet.devices:
        assert _os_version(_desired(session, clock, device_id, fleet.group_id)) == (
            "27.2"
        )


@pytest.mark.parametrize("action", ["pause", "halt", "abort"])
def test_a_stopped_rollout_offers_its_release_to_no_one_new(
    app: FastAPI,
    client: TestClient,
    clock: ManualClock,
    admin: TenantAccess,
    fleet: Fleet,
    session: Session,
    action: str,
) -> None:
    """Paused, halted or aborted: open-wave members that have not installed it go
    back to the older release; one that runs it keeps it (no entry, versions only
    go up)."""
    rollout_id = _os_rollout(app, client, clock, admin)
    open_wave(app, rollout_id, 0, clock.now())
    updated, waiting = _waves(session, rollout_id)[0][:2]

    _act(session, clock, rollout_id, action)

    assert _os_version(_desired(session, clock, waiting, fleet.group_id)) == "27.1"
    kept = _desired(session, clock, updated, fleet.group_id, running="27.2")
    assert kept.os_image is None
    if action != "abort":
        _act(session, clock, rollout_id, "resume")
        resumed = _desired(session, clock, waiting, fleet.group_id)
        assert _os_version(resumed) == "27.2"


def test_a_completed_rollout_offers_its_release_to_everyone(
    app: FastAPI,
    client: TestClient,
    clock: ManualClock,
    admin: TenantAccess,
    fleet: Fleet,
    session: Session,
) -> None:
    """Members of every wave and devices that joined the group after the rollout
    was created (members of no wave)."""
    rollout_id = _os_rollout(app, client, clock, admin)
    latecomers = add_devices(app, clock, fleet.product, "Production", 3)
    assert _os_version(_desired(session, clock, latecomers[0], fleet.group_id)) == (
        "27.1"
    )

    _act(session, clock, rollout_id, "complete")

    for device_id in fleet.devices + latecomers:
        assert _os_version(_desired(session, clock, device_id, fleet.group_id)) == (
            "27.2"
        )


def test_a_rollout_on_one_feed_leaves_the_other_feed_alone(
    app: FastAPI,
    client: TestClient,
    clock: ManualClock,
    admin: TenantAccess,
    fleet: Fleet,
    session: Session,
) -> None:
    _os_rollout(app, client, clock, admin)
    evaluators = add_devices(app, clock, fleet.product, "Production OS Evaluation", 2)
    eval_group = fleet.product.group_ids["Production OS Evaluation"]

    for device_id in evaluators:
        assert _os_version(_desired(session, clock, device_id, eval_group)) == "27.2"


def test_gated_releases_are_skipped_down_to_an_offered_one(
    app: FastAPI,
    client: TestClient,
    clock: ManualClock,
    admin: TenantAccess,
    fleet: Fleet,
    session: Session,
) -> None:
    """27.3 and 27.2 both roll out with nothing open: the device gets 27.1."""
    _os_rollout(app, client, clock, admin)
    image = insert_image(app, clock, tenant_id=None, kind=ImageType.OS, version="27.3")
    newer = publish(client, admin, image.id)
    client.post(
        f"{API}/os-releases/{newer['id']}/promote", headers=admin.headers
    ).raise_for_status()
    newer_rollout = post_rollout(
        client,
        admin,
        {"os_release_id": newer["id"], "os_feed": "retail", "waves": WAVES},
    )

    device = fleet.devices[0]
    assert _os_version(_desired(session, clock, device, fleet.group_id)) == "27.1"
    _act(session, clock, newer_rollout["id"], "complete")
    assert _os_version(_desired(session, clock, device, fleet.group_id)) == "27.3"


def _app_image(app: FastAPI, clock: ManualClock, tenant_id: str) -> Image:
    row = insert_image(app, clock, tenant_id=tenant_id, kind=ImageType.APP)
    with make_session_factory(app.state.sevenfold.engine)() as db:
        image = db.get(Image, row.id)
        assert image is not None
        db.expunge(image)
    return image


def _current_deployment(client: TestClient, admin: TenantAccess, group: str) -> str:
    response = client.get(
        f"{API}/device-groups/{group}/deployments", headers=admin.headers
    )
    assert response.status_code == 200, response.text
    deployment_id: str = next(d["id"] for d in response.json() if d["current"])
    return deployment_id


def _app_ids(desired: DesiredState) -> list[str]:
    return [image.id for image in desired.app_images]


def _report_installed(
    app: FastAPI, device_id: str, tenant_id: str, images: list[Image]
) -> None:
    installed: list[dict[str, Any]] = [
        InstalledImage(
            image_id=image.id,
            component_id=image.component_id,
            version=image.version,
            kind=ImageType(image.kind),
            sha256=image.sha256,
        ).to_json()
        for image in images
    ]
    with make_session_factory(app.state.sevenfold.engine)() as db:
        db.add(
            DeviceUpdateStatus(
                device_id=device_id,
                tenant_id=tenant_id,
                state="idle",
                os_version="27.1",
                os_image_id=None,
                installed=installed,
                reported_targeted=[],
                detail=None,
            )
        )
        db.commit()


def test_a_deployment_goes_only_to_open_waves_the_rest_keep_the_previous_one(
    app: FastAPI,
    client: TestClient,
    clock: ManualClock,
    admin: TenantAccess,
    fleet: Fleet,
    session: Session,
) -> None:
    old, new = (_app_image(app, clock, admin.tenant_id) for _ in range(2))
    deploy(app, clock, admin.tenant_id, fleet.group_id, [old])
    clock.advance(60)
    deploy(app, clock, admin.tenant_id, fleet.group_id, [new])
    deployment_id = _current_deployment(client, admin, fleet.group_id)
    rollout_id: str = post_rollout(
        client, admin, {"deployment_id": deployment_id, "waves": WAVES}
    )["id"]
    waves = _waves(session, rollout_id)
    already_there = waves[1][0]
    _report_installed(app, already_there, admin.tenant_id, [new])

    def apps(device_id: str) -> list[str]:
        desired = _desired(session, clock, device_id, fleet.group_id)
        assert desired.apps_managed
        return _app_ids(desired)

    assert apps(waves[0][0]) == [old.id]
    assert apps(already_there) == [new.id]
    open_wave(app, rollout_id, 0, clock.now())
    assert apps(waves[0][0]) == [new.id]
    assert apps(waves[1][1]) == [old.id]
    _act(session, clock, rollout_id, "pause")
    assert apps(waves[0][0]) == [old.id]
    assert apps(already_there) == [new.id]
    _act(session, clock, rollout_id, "resume")
    _act(session, clock, rollout_id, "complete")
    for device_id in fleet.devices:
        assert apps(device_id) == [new.id]


def test_a_first_deployment_under_rollout_leaves_other_devices_unmanaged(
    app: FastAPI,
    client: TestClient,
    clock: ManualClock,
    admin: TenantAccess,
    fleet: Fleet,
    session: Session,
) -> None:
    first = _app_image(app, clock, admin.tenant_id)
    deploy(app, clock, admin.tenant_id, fleet.group_id, [first])
    deployment_id = _current_deployment(client, admin, fleet.group_id)
    rollout_id: str = post_rollout(
        client, admin, {"deployment_id": deployment_id, "waves": WAVES}
    )["id"]
    open_wave(app, rollout_id, 0, clock.now())
    waves = _waves(session, rollout_id)

    member = _desired(session, clock, waves[0][0], fleet.group_id)
    outsider = _desired(session, clock, waves[1][0], fleet.group_id)

    assert (member.apps_managed, _app_ids(member)) == (True, [first.id])
    assert (outsider.apps_managed, outsider.app_images) == (False, ())
    _act(session, clock, rollout_id, "abort")
    aborted = _desired(session, clock, waves[0][0], fleet.group_id)
    assert (aborted.apps_managed, aborted.app_images) == (False, ())


def test_the_signed_director_targets_follow_the_wave(
    app: FastAPI,
    client: TestClient,
    clock: ManualClock,
    admin: TenantAccess,
    tmp_path: Path,
) -> None:
    """End to end through the device's TUF client: the director's signed targets
    name the older release until the device's wave opens, then the new one."""
    old = add_release(app, clock, "27.1")
    device = certified(client, admin, clock)
    group_id = groups_by_name(client, admin.headers, device.attester.product_id)[
        "Production"
    ]["id"]
    client.patch(
        f"{API}/devices/{device.device_id}",
        json={"device_group_id": group_id},
        headers=admin.headers,
    ).raise_for_status()
    image = insert_image(app, clock, tenant_id=None, kind=ImageType.OS, version="27.2")
    release = publish(client, admin, image.id)
    rollout_id: str = post_rollout(
        client,
        admin,
        {
            "os_release_id": release["id"],
            "os_feed": "retail",
            "waves": [{"size": 1, "unit": "count"}],
        },
    )["id"]
    client.post(
        f"{API}/os-releases/{release['id']}/promote", headers=admin.headers
    ).raise_for_status()
    updaters = DeviceUpdaters(app, clock, device.certificate, tmp_path)

    def targets() -> set[str]:
        director = updaters.refresh("director")._trusted_set.targets
        return set(director.targets)

    assert targets() == {target_path(old.sha256)}
    open_wave(app, rollout_id, 0, clock.now())
    assert targets() == {target_path(image.sha256)}
