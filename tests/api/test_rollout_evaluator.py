"""The rollout evaluator's clockwork and what the failure policy knows of members
(docs/failures.md §3-4): waves open after their earliest start and the previous
wave's soak, only while running; a rollout completes when the last wave soaked;
status reports mark who ran and succeeded, failure events who failed (never before
the run, never for a network failure, an app crash only within its window); the
lifespan task runs at once when woken."""

import time
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.failures import FailureKind
from sevenfold.protocol.rollouts import CLOCK_SKEW_S
from sevenfold.protocol.updates import ImageType, UpdateState
from sevenfold.service.audit.models import AuditEvent
from sevenfold.service.db.engine import make_session_factory
from sevenfold.service.devices.models import Device
from sevenfold.service.rollouts.service import EVALUATOR_ACTOR
from sevenfold.service.settings import ServiceSettings
from tests.api.evaluator_support import (
    ONE_SOAKING_WAVE,
    RolloutCase,
    evaluator,
    event,
    member,
    members_of_wave,
    opened_at,
    os_rollout,
    quiet,
    report,
    rollout_row,
    run,
    upload,
    wait_for_tick,
)
from tests.api.failure_support import reporter
from tests.api.release_support import insert_image
from tests.api.rollout_support import (
    API,
    add_devices,
    post_rollout,
    product_with_groups,
)
from tests.conftest import TenantAccess
from tests.support.fleet import groups_by_name


@pytest.fixture
def settings(settings: ServiceSettings) -> ServiceSettings:
    """The lifespan evaluator ticks once at start-up, then only when woken."""
    return quiet(settings, trusted_proxy_addresses=["127.0.0.1/32"])


@pytest.fixture
def client(client: TestClient, app: FastAPI) -> TestClient:
    """The client, once the lifespan evaluator's start-up tick is over."""
    wait_for_tick(app)
    return client


def test_waves_open_after_the_earliest_start_and_the_previous_soak(
    app: FastAPI, client: TestClient, clock: ManualClock, admin: TenantAccess
) -> None:
    start = clock.now() + timedelta(seconds=60)
    rollout = os_rollout(
        app,
        client,
        clock,
        admin,
        waves=[
            {
                "size": 2,
                "unit": "count",
                "min_soak_s": 300,
                "earliest_start_at": start.isoformat(),
            },
            {"size": 100, "unit": "percent", "min_soak_s": 600},
        ],
    )
    tick = evaluator(app).run_once

    assert tick().opened == []
    clock.advance(60)
    assert tick().opened == [(rollout.rollout_id, 0)]
    clock.advance(299)
    assert tick().opened == []
    clock.advance(1)
    assert tick().opened == [(rollout.rollout_id, 1)]
    assert opened_at(app, rollout.rollout_id) == [start, start + timedelta(seconds=300)]
    assert rollout_row(app, rollout.rollout_id).state == "running"


def test_a_rollout_completes_once_every_wave_is_open_and_the_last_soaked(
    app: FastAPI, client: TestClient, clock: ManualClock, admin: TenantAccess
) -> None:
    rollout = os_rollout(
        app,
        client,
        clock,
        admin,
        waves=[
            {"size": 50, "unit": "percent"},
            {"size": 50, "unit": "percent", "min_soak_s": 100},
        ],
    )
    tick = evaluator(app).run_once

    first = tick()
    assert first.opened == [(rollout.rollout_id, 0), (rollout.rollout_id, 1)]
    assert first.completed == []
    clock.advance(100)
    assert tick().completed == [rollout.rollout_id]

    assert rollout_row(app, rollout.rollout_id).state == "completed"
    with make_session_factory(app.state.sevenfold.engine)() as session:
        entry = session.scalars(
            select(AuditEvent).where(
                AuditEvent.target_id == rollout.rollout_id,
                AuditEvent.action == "rollout.complete",
            )
        ).one()
    assert entry.actor_name == EVALUATOR_ACTOR
    assert tick().completed == []  # a completed rollout is left alone


def test_waves_open_only_while_the_rollout_runs(
    app: FastAPI, client: TestClient, clock: ManualClock, admin: TenantAccess
) -> None:
    rollout = os_rollout(app, client, clock, admin)
    paused = client.post(
        f"{API}/rollouts/{rollout.rollout_id}/pause", json={}, headers=admin.headers
    )
    assert paused.status_code == 200, paused.text

    assert evaluator(app).run_once().opened == []
    assert opened_at(app, rollout.rollout_id) == [None]

    resumed = client.post(
        f"{API}/rollouts/{rollout.rollout_id}/resume", json={}, headers=admin.headers
    )
    assert resumed.status_code == 200, resumed.text
    assert evaluator(app).run_once().opened == [(rollout.rollout_id, 0)]


def test_status_reports_mark_who_ran_and_who_succeeded(
    app: FastAPI, client: TestClient, clock: ManualClock, admin: TenantAccess
) -> None:
    rollout = os_rollout(
        app,
        client,
        clock,
        admin,
        waves=[
            {"size": 2, "unit": "count", "min_soak_s": 3600},
            {"size": 100, "unit": "percent"},
        ],
    )
    evaluator(app).run_once()  # opens wave 0 only
    first, second = members_of_wave(app, rollout.rollout_id, 0)
    later = members_of_wave(app, rollout.rollout_id, 1)[0]
    ran_at = clock.now()

    report(app, clock, rollout, first, UpdateState.IDLE, installed=["other"])
    assert member(app, rollout.rollout_id, first).ran_at is None
    report(
        app, clock, rollout, first, UpdateState.DOWNLOADING, targeted=["other-image"]
    )
    assert member(app, rollout.rollout_id, first).ran_at is None
    report(
        app, clock, rollout, first, UpdateState.DOWNLOADING, targeted=[rollout.image_id]
    )
    clock.advance(30)
    report(
        app, clock, rollout, first, UpdateState.INSTALLING, targeted=[rollout.image_id]
    )
    assert member(app, rollout.rollout_id, first).ran_at == ran_at  # first time only
    assert member(app, rollout.rollout_id, first).succeeded_at is None
    clock.advance(30)
    report(
        app, clock, rollout, first, UpdateState.COMMITTED, installed=[rollout.image_id]
    )
    assert member(app, rollout.rollout_id, first).succeeded_at == clock.now()

    report(
        app,
        clock,
        rollout,
        second,
        UpdateState.ROLLED_BACK,
        targeted=[rollout.image_id],
    )
    assert member(app, rollout.rollout_id, second).ran_at == clock.now()
    assert member(app, rollout.rollout_id, second).succeeded_at is None

    report(
        app, clock, rollout, later, UpdateState.DOWNLOADING, targeted=[rollout.image_id]
    )
    assert member(app, rollout.rollout_id, later).ran_at is None  # wave not open


def test_a_deployment_rollout_counts_a_run_of_any_of_its_images(
    app: FastAPI, client: TestClient, clock: ManualClock, admin: TenantAccess
) -> None:
    product = product_with_groups(client, admin)
    devices = sorted(add_devices(app, clock, product, "Field Test", 2))
    image = insert_image(app, clock, tenant_id=admin.tenant_id, kind=ImageType.APP)
    deployed = client.post(
        f"{API}/device-groups/{product.group_ids['Field Test']}/deployments",
        json={"image_ids": [image.id]},
        headers=admin.headers,
    )
    assert deployed.status_code == 201, deployed.text
    created = post_rollout(
        client,
        admin,
        {"deployment_id": deployed.json()["id"], "waves": [ONE_SOAKING_WAVE]},
    )
    rollout = RolloutCase(created["id"], "", image.id, admin.tenant_id, devices)
    evaluator(app).run_once()

    run(app, clock, rollout, devices[0])
    report(app, clock, rollout, devices[1], UpdateState.DOWNLOADING, targeted=["x"])

    assert member(app, rollout.rollout_id, devices[0]).ran_at == clock.now()
    assert member(app, rollout.rollout_id, devices[1]).ran_at is None


def test_failure_events_count_only_after_the_run_and_never_network_failures(
    app: FastAPI, client: TestClient, clock: ManualClock, admin: TenantAccess
) -> None:
    rollout = os_rollout(app, client, clock, admin, devices=3)
    evaluator(app).run_once()
    ran, idle, _ = sorted(rollout.devices)
    clock.advance(100)
    run(app, clock, rollout, ran)
    ran_at = clock.now()
    clock.advance(100)

    # A backlog from before the update never counts against it.
    before = event(
        FailureKind.UPDATE_FAILURE, ran_at - timedelta(seconds=CLOCK_SKEW_S + 1)
    )
    assert upload(app, clock, rollout, ran, before) is False
    network = event(FailureKind.NETWORK_FAILURE, clock.now())
    assert upload(app, clock, rollout, ran, network) is False
    assert member(app, rollout.rollout_id, ran).failed_at is None
    assert upload(app, clock, rollout, idle, event(FailureKind.ROLLBACK, ran_at)) is (
        False
    )  # never ran the update

    # At the run counts, and so does a device clock a little behind the service's.
    counted = event(FailureKind.ROLLBACK, ran_at - timedelta(seconds=CLOCK_SKEW_S))
    assert upload(app, clock, rollout, ran, counted) is True
    failed = member(app, rollout.rollout_id, ran)
    assert failed.failed_at == clock.now()
    assert failed.failure_kind == "rollback"
    again = event(FailureKind.UPDATE_FAILURE, clock.now())
    assert upload(app, clock, rollout, ran, again) is False  # already failed
    assert member(app, rollout.rollout_id, ran).failure_kind == "rollback"


def test_an_app_crash_counts_only_within_the_crash_window(
    app: FastAPI, client: TestClient, clock: ManualClock, admin: TenantAccess
) -> None:
    rollout = os_rollout(
        app, client, clock, admin, devices=2, policy={"crash_window_s": 600}
    )
    evaluator(app).run_once()
    late, inside = sorted(rollout.devices)
    run(app, clock, rollout, late, inside)
    ran_at = clock.now()
    clock.advance(3600)

    too_late = event(FailureKind.APP_CRASH, ran_at + timedelta(seconds=601))
    assert upload(app, clock, rollout, late, too_late) is False
    at_the_edge = event(FailureKind.APP_CRASH, ran_at + timedelta(seconds=600))
    assert upload(app, clock, rollout, inside, at_the_edge) is True
    assert member(app, rollout.rollout_id, late).failed_at is None
    assert member(app, rollout.rollout_id, inside).failure_kind == "app-crash"


def test_a_wake_runs_the_lifespan_evaluator_at_once(
    app: FastAPI, client: TestClient, clock: ManualClock, admin: TenantAccess
) -> None:
    start = clock.now() + timedelta(seconds=60)
    rollout = os_rollout(
        app,
        client,
        clock,
        admin,
        waves=[
            {"size": 100, "unit": "percent", "earliest_start_at": start.isoformat()}
        ],
    )
    ticks = evaluator(app).ticks
    clock.advance(60)  # due now, but the next tick is an hour away

    evaluator(app).wake()

    wait_for_tick(app, ticks + 1)
    assert opened_at(app, rollout.rollout_id) == [start]


def test_an_uploaded_counted_failure_halts_through_the_lifespan_evaluator(
    app: FastAPI, client: TestClient, clock: ManualClock, admin: TenantAccess
) -> None:
    """End to end over the device route: the crossing failure wakes the evaluator
    (its next regular tick is an hour away) and the rollout pauses itself."""
    device = reporter(app, client, admin, clock)
    groups = groups_by_name(client, admin.headers, device.product_id)
    with make_session_factory(app.state.sevenfold.engine)() as session:
        session.execute(
            update(Device)
            .where(Device.id == device.device_id)
            .values(device_group_id=groups["Production"]["id"])
        )
        session.commit()
    rollout = os_rollout(
        app, client, clock, admin, devices=0, policy={"min_devices": 1}
    )
    evaluator(app).run_once()
    run(app, clock, rollout, device.device_id)

    device.send(event(FailureKind.UPDATE_FAILURE, clock.now()))

    give_up = time.monotonic() + 30
    while rollout_row(app, rollout.rollout_id).state != "paused":
        assert time.monotonic() < give_up, "the rollout did not halt"
        time.sleep(0.01)
    assert rollout_row(app, rollout.rollout_id).halted_at == clock.now()
