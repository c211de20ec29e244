"""The automatic halt (docs/failures.md §4): a running rollout pauses itself when
strictly more than ``threshold_percent`` of at least ``min_devices`` devices that
ran the update failed; the halt is recorded and audited by the system, flags a
``retail-eval`` release for review (no automatic promotion, never due on the retail
feed), and resuming accepts the failures before it."""

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.failures import FailureKind
from sevenfold.protocol.updates import ReleaseState
from sevenfold.protocol.vocabulary import OsFeed
from sevenfold.service.audit.models import AuditEvent
from sevenfold.service.db.engine import make_session_factory
from sevenfold.service.releases.promotion import promote_due
from sevenfold.service.releases.service import (
    effective_state,
    newest_release_for_feed,
)
from sevenfold.service.rollouts.service import EVALUATOR_ACTOR
from sevenfold.service.settings import ServiceSettings
from tests.api.evaluator_support import (
    evaluator,
    fail,
    members_of_wave,
    opened_at,
    os_rollout,
    quiet,
    release_row,
    rollout_row,
    run,
    wait_for_tick,
)
from tests.api.rollout_support import API
from tests.conftest import TenantAccess


@pytest.fixture
def settings(settings: ServiceSettings) -> ServiceSettings:
    """The lifespan evaluator ticks once at start-up, then only when woken."""
    return quiet(settings)


@pytest.fixture
def client(client: TestClient, app: FastAPI) -> TestClient:
    """The client, once the lifespan evaluator's start-up tick is over."""
    wait_for_tick(app)
    return client


def test_no_halt_below_the_minimum_of_devices_that_ran(
    app: FastAPI, client: TestClient, clock: ManualClock, admin: TenantAccess
) -> None:
    rollout = os_rollout(
        app, client, clock, admin, policy={"min_devices": 5, "threshold_percent": 20}
    )
    evaluator(app).run_once()
    devices = sorted(rollout.devices)
    run(app, clock, rollout, *devices[:4])
    fail(app, clock, rollout, FailureKind.UPDATE_FAILURE, *devices[:4])

    assert evaluator(app).run_once().halted == []  # 4 of 4, but only 4 ran
    run(app, clock, rollout, *devices[4:10])
    assert evaluator(app).run_once().halted == [rollout.rollout_id]  # 4 of 10


def test_halt_exactly_when_strictly_more_than_the_threshold_failed(
    app: FastAPI, client: TestClient, clock: ManualClock, admin: TenantAccess
) -> None:
    rollout = os_rollout(
        app, client, clock, admin, policy={"min_devices": 5, "threshold_percent": 20}
    )
    evaluator(app).run_once()
    devices = sorted(rollout.devices)[:10]
    run(app, clock, rollout, *devices)
    fail(app, clock, rollout, FailureKind.ROLLBACK, *devices[:2])

    assert evaluator(app).run_once().halted == []  # 2 of 10 is 20 %, not more
    assert rollout_row(app, rollout.rollout_id).state == "running"
    fail(app, clock, rollout, FailureKind.BAD_SLOT_BOOT, devices[2])
    assert evaluator(app).run_once().halted == [rollout.rollout_id]  # 30 %
    assert rollout_row(app, rollout.rollout_id).state == "paused"


def test_network_failures_never_halt_a_rollout(
    app: FastAPI, client: TestClient, clock: ManualClock, admin: TenantAccess
) -> None:
    rollout = os_rollout(app, client, clock, admin, policy={"threshold_percent": 0})
    evaluator(app).run_once()
    run(app, clock, rollout, *rollout.devices)
    fail(app, clock, rollout, FailureKind.NETWORK_FAILURE, *rollout.devices)

    assert evaluator(app).run_once().halted == []


def test_a_halt_records_its_reason_and_is_audited_by_the_system(
    app: FastAPI, client: TestClient, clock: ManualClock, admin: TenantAccess
) -> None:
    rollout = os_rollout(
        app,
        client,
        clock,
        admin,
        devices=20,
        waves=[
            {"size": 12, "unit": "count", "min_soak_s": 600},
            {"size": 100, "unit": "percent"},
        ],
    )
    evaluator(app).run_once()
    wave = members_of_wave(app, rollout.rollout_id, 0)
    run(app, clock, rollout, *wave)
    fail(app, clock, rollout, FailureKind.UPDATE_FAILURE, *wave[:2])
    fail(app, clock, rollout, FailureKind.ROLLBACK, wave[2])
    clock.advance(600)  # wave 1 is due, but the halt comes first

    assert evaluator(app).run_once().halted == [rollout.rollout_id]

    halted = rollout_row(app, rollout.rollout_id)
    assert halted.state == "paused"
    assert halted.halted_at == clock.now()
    assert halted.halt_reason == (
        "3 of 12 devices (25.0 %) that ran the update failed (update-failure 2, "
        "rollback 1); threshold 10 %, minimum 5"
    )
    assert opened_at(app, rollout.rollout_id)[1] is None
    with make_session_factory(app.state.sevenfold.engine)() as session:
        entry = session.scalars(
            select(AuditEvent).where(
                AuditEvent.target_id == rollout.rollout_id,
                AuditEvent.action == "rollout.halt",
            )
        ).one()
    assert entry.actor_name == EVALUATOR_ACTOR
    assert entry.details["reason"] == halted.halt_reason
    shown = client.get(f"{API}/rollouts/{rollout.rollout_id}", headers=admin.headers)
    assert shown.json()["state"] == "paused"
    assert evaluator(app).run_once().halted == []  # a paused rollout is not judged


def test_a_halted_retail_eval_release_is_flagged_and_never_promoted_by_itself(
    app: FastAPI, client: TestClient, clock: ManualClock, admin: TenantAccess
) -> None:
    rollout = os_rollout(app, client, clock, admin, feed="retail-eval")
    evaluator(app).run_once()
    run(app, clock, rollout, *rollout.devices)
    fail(app, clock, rollout, FailureKind.UPDATE_FAILURE, *rollout.devices[:5])
    assert evaluator(app).run_once().halted == [rollout.rollout_id]

    flagged = release_row(app, rollout.release_id)
    assert flagged.review_flagged_at == clock.now()
    assert flagged.review_reason is not None
    assert rollout.rollout_id in flagged.review_reason
    clock.advance((flagged.promote_at - clock.now()).total_seconds() + 1)

    with make_session_factory(app.state.sevenfold.engine)() as session:
        assert promote_due(session, clock) == []
        release = session.get_one(type(flagged), rollout.release_id)
        assert release.state == ReleaseState.RETAIL_EVAL.value
        assert effective_state(release, clock.now()) is ReleaseState.RETAIL_EVAL
        newest = newest_release_for_feed(session, OsFeed.RETAIL, clock.now())
        assert newest is None or newest.id != rollout.release_id
        flag_entry = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "os-release.review-flag")
        ).one()
    assert flag_entry.actor_name == EVALUATOR_ACTOR
    shown = client.get(f"{API}/os-releases/{rollout.release_id}", headers=admin.headers)
    assert shown.json()["effective_state"] == "retail-eval"
    assert shown.json()["review_reason"] == flagged.review_reason
    assert shown.json()["review_flagged_at"] is not None

    cancelled = client.post(
        f"{API}/os-releases/{rollout.release_id}/cancel",
        json={"reason": "halted in evaluation"},
        headers=admin.headers,
    )
    assert cancelled.status_code == 200, cancelled.text


def test_a_release_past_its_window_without_a_flag_is_still_promoted(
    app: FastAPI, client: TestClient, clock: ManualClock, admin: TenantAccess
) -> None:
    """The control case of the flag: the same release, not halted, is promoted."""
    rollout = os_rollout(app, client, clock, admin, feed="retail-eval")
    promote_at = release_row(app, rollout.release_id).promote_at
    clock.advance((promote_at - clock.now()).total_seconds() + 1)

    with make_session_factory(app.state.sevenfold.engine)() as session:
        promoted = promote_due(session, clock)
    assert [release.id for release in promoted] == [rollout.release_id]


def test_resuming_accepts_the_failures_before_it(
    app: FastAPI, client: TestClient, clock: ManualClock, admin: TenantAccess
) -> None:
    rollout = os_rollout(app, client, clock, admin, devices=20)
    evaluator(app).run_once()
    devices = sorted(rollout.devices)
    run(app, clock, rollout, *devices[:10])
    fail(app, clock, rollout, FailureKind.UPDATE_FAILURE, *devices[:5])
    assert evaluator(app).run_once().halted == [rollout.rollout_id]
    clock.advance(60)

    resumed = client.post(
        f"{API}/rollouts/{rollout.rollout_id}/resume",
        json={"reason": "known flaky power supply"},
        headers=admin.headers,
    )
    assert resumed.status_code == 200, resumed.text
    assert rollout_row(app, rollout.rollout_id).judged_since == clock.now()
    assert evaluator(app).run_once().halted == []  # the old failures are accepted

    clock.advance(timedelta(minutes=1).total_seconds())
    run(app, clock, rollout, *devices[10:20])
    fail(app, clock, rollout, FailureKind.ROLLBACK, *devices[10:12])
    assert evaluator(app).run_once().halted == [rollout.rollout_id]  # 2 of 10 new
    reason = rollout_row(app, rollout.rollout_id).halt_reason
    assert reason is not None
    assert reason.startswith("2 of 10 devices (20.0 %)")
