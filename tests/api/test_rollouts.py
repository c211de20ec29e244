"""Rollouts (docs/failures.md §3): creation with a fixed, deterministic membership,
the refusals, who may see and move what, per-wave progress, and the state machine
(every invalid transition is a 409 that changes nothing)."""

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.problems import ProblemCode
from sevenfold.protocol.rollouts import (
    ROLLOUT_TRANSITIONS,
    FailurePolicy,
    RolloutAction,
    RolloutState,
    WaveSpec,
    WaveUnit,
    assign_waves,
    wave_sizes,
)
from sevenfold.protocol.updates import ImageType, ReleaseState
from sevenfold.service.audit.models import AuditEvent
from sevenfold.service.db.engine import make_session_factory
from sevenfold.service.devices.models import Device
from sevenfold.service.errors import ConflictError
from sevenfold.service.products.models import DeviceGroup
from sevenfold.service.rollouts import service as rollouts
from sevenfold.service.rollouts.models import Rollout, RolloutMember
from tests.api.release_support import insert_image, publish
from tests.api.rollout_support import (
    API,
    add_devices,
    open_wave,
    percent_waves,
    post_rollout,
    product_with_groups,
)
from tests.api.tenancy_support import access_with_role, assert_problem
from tests.conftest import TenantAccess


def _release(
    client: TestClient, app: FastAPI, clock: ManualClock, admin: TenantAccess, v: str
) -> dict[str, Any]:
    image = insert_image(app, clock, tenant_id=None, kind=ImageType.OS, version=v)
    return publish(client, admin, image.id)


def _deployment(
    client: TestClient,
    app: FastAPI,
    clock: ManualClock,
    access: TenantAccess,
    group_id: str,
) -> dict[str, Any]:
    image = insert_image(app, clock, tenant_id=access.tenant_id, kind=ImageType.APP)
    response = client.post(
        f"{API}/device-groups/{group_id}/deployments",
        json={"image_ids": [image.id]},
        headers=access.headers,
    )
    assert response.status_code == 201, response.text
    deployment: dict[str, Any] = response.json()
    return deployment


def _members(app: FastAPI, rollout_id: str) -> dict[str, int]:
    with make_session_factory(app.state.sevenfold.engine)() as session:
        rows = session.execute(
            select(RolloutMember.device_id, RolloutMember.wave).where(
                RolloutMember.rollout_id == rollout_id
            )
        ).all()
    return {device_id: wave for device_id, wave in rows}


def _set_group_policy(app: FastAPI, group_id: str, policy: str) -> None:
    with make_session_factory(app.state.sevenfold.engine)() as session:
        session.execute(
            update(DeviceGroup)
            .where(DeviceGroup.id == group_id)
            .values(update_policy=policy)
        )
        session.commit()


def test_os_rollout_members_are_the_feeds_devices_across_tenants_in_hash_order(
    app: FastAPI,
    client: TestClient,
    clock: ManualClock,
    admin: TenantAccess,
    other_tenant: TenantAccess,
) -> None:
    """Eligible: devices of every tenant in groups on the feed whose policy takes
    OS updates; each device's wave is ``assign_waves``' answer and the waves hold
    ``wave_sizes`` devices."""
    ours = product_with_groups(client, admin)
    theirs = product_with_groups(client, other_tenant, "Kettle")
    retail = add_devices(app, clock, ours, "Production", 30)
    retail += add_devices(app, clock, ours, "Development", 5)
    retail += add_devices(app, clock, theirs, "Field Test", 12)
    add_devices(app, clock, ours, "Production OS Evaluation", 7)  # retail-eval
    add_devices(app, clock, theirs, "Production", 4)
    _set_group_policy(app, theirs.group_ids["Production"], "no-updates")
    release = _release(client, app, clock, admin, "27.1")

    waves = [
        {"size": 3, "unit": "count", "min_soak_s": 60},
        {"size": 25, "unit": "percent"},
        {"size": 50, "unit": "percent"},
    ]
    rollout = post_rollout(
        client,
        admin,
        {"os_release_id": release["id"], "os_feed": "retail", "waves": waves},
    )

    specs = [
        WaveSpec(size=3, unit=WaveUnit.COUNT, min_soak_s=60),
        WaveSpec(size=25, unit=WaveUnit.PERCENT),
        WaveSpec(size=50, unit=WaveUnit.PERCENT),
    ]
    assert _members(app, rollout["id"]) == assign_waves(rollout["id"], retail, specs)
    sizes = wave_sizes(specs, len(retail))
    assert [w["devices"] for w in rollout["waves"]] == sizes
    assert sum(sizes) < len(retail)  # the rest get it when the rollout completes
    assert rollout["state"] == "running"
    assert rollout["tenant_id"] is None
    assert rollout["os_release_version"] == "27.1"
    assert rollout["policy"]["min_devices"] == FailurePolicy().min_devices
    assert rollout["waves"][0]["min_soak_s"] == 60
    assert all(w["opened_at"] is None for w in rollout["waves"])


def test_deployment_rollout_members_are_the_groups_devices(
    app: FastAPI, client: TestClient, clock: ManualClock, admin: TenantAccess
) -> None:
    product = product_with_groups(client, admin)
    devices = add_devices(app, clock, product, "Field Test", 20)
    add_devices(app, clock, product, "Production", 5)
    deployment = _deployment(client, app, clock, admin, product.group_ids["Field Test"])
    contributor = access_with_role(client, admin, "contributor")

    rollout = post_rollout(
        client,
        contributor,
        {"deployment_id": deployment["id"], "waves": percent_waves(10, 90)},
    )

    assert set(_members(app, rollout["id"])) == set(devices)
    assert [w["devices"] for w in rollout["waves"]] == [2, 18]
    assert rollout["tenant_id"] == admin.tenant_id
    assert rollout["device_group_id"] == product.group_ids["Field Test"]
    events = client.get(f"{API}/audit-events?limit=1000", headers=admin.headers).json()[
        "items"
    ]
    created = next(e for e in events if e["action"] == "rollout.create")
    assert created["target_id"] == rollout["id"]
    assert created["details"]["members"] == len(devices)


def test_revoked_devices_are_not_members(
    app: FastAPI, client: TestClient, clock: ManualClock, admin: TenantAccess
) -> None:
    product = product_with_groups(client, admin)
    kept, revoked = add_devices(app, clock, product, "Production", 2)
    with make_session_factory(app.state.sevenfold.engine)() as session:
        session.execute(
            update(Device).where(Device.id == revoked).values(revoked_at=clock.now())
        )
        session.commit()
    release = _release(client, app, clock, admin, "27.1")

    rollout = post_rollout(
        client,
        admin,
        {
            "os_release_id": release["id"],
            "os_feed": "retail",
            "waves": percent_waves(100),
        },
    )

    assert _members(app, rollout["id"]) == {kept: 0}


def test_membership_of_thousands_of_devices_is_stored_in_one_create(
    app: FastAPI, client: TestClient, clock: ManualClock, admin: TenantAccess
) -> None:
    product = product_with_groups(client, admin)
    add_devices(app, clock, product, "Production", 6000)
    release = _release(client, app, clock, admin, "27.1")

    rollout = post_rollout(
        client,
        admin,
        {
            "os_release_id": release["id"],
            "os_feed": "retail",
            "waves": percent_waves(1, 9, 90),
        },
    )

    assert [w["devices"] for w in rollout["waves"]] == [60, 540, 5400]
    assert len(_members(app, rollout["id"])) == 6000


def test_a_second_unfinished_rollout_of_the_same_target_is_refused(
    app: FastAPI, client: TestClient, clock: ManualClock, admin: TenantAccess
) -> None:
    product = product_with_groups(client, admin)
    add_devices(app, clock, product, "Production", 3)
    release = _release(client, app, clock, admin, "27.1")
    body = {"os_release_id": release["id"], "os_feed": "retail"}
    first = post_rollout(client, admin, {**body, "waves": percent_waves(100)})

    again = client.post(
        f"{API}/rollouts",
        json={**body, "waves": percent_waves(50)},
        headers=admin.headers,
    )
    assert_problem(again, 409, "conflict")
    other_feed = {**body, "os_feed": "retail-eval", "waves": percent_waves(100)}
    post_rollout(client, admin, other_feed)

    client.post(
        f"{API}/rollouts/{first['id']}/pause", headers=admin.headers
    ).raise_for_status()
    paused_again = client.post(
        f"{API}/rollouts",
        json={**body, "waves": percent_waves(50)},
        headers=admin.headers,
    )
    assert_problem(paused_again, 409, "conflict")
    client.post(
        f"{API}/rollouts/{first['id']}/abort", headers=admin.headers
    ).raise_for_status()
    post_rollout(client, admin, {**body, "waves": percent_waves(50)})


@pytest.mark.parametrize("state", [ReleaseState.CANCELLED, ReleaseState.WITHDRAWN])
def test_a_cancelled_or_withdrawn_release_is_not_rolled_out(
    app: FastAPI,
    client: TestClient,
    clock: ManualClock,
    admin: TenantAccess,
    state: ReleaseState,
) -> None:
    release = _release(client, app, clock, admin, "27.1")
    actions = ["cancel"] if state is ReleaseState.CANCELLED else ["promote", "withdraw"]
    for action in actions:
        client.post(
            f"{API}/os-releases/{release['id']}/{action}", headers=admin.headers
        ).raise_for_status()

    response = client.post(
        f"{API}/rollouts",
        json={
            "os_release_id": release["id"],
            "os_feed": "retail",
            "waves": percent_waves(100),
        },
        headers=admin.headers,
    )

    assert_problem(response, 409, "invalid-release-transition")


@pytest.mark.parametrize(
    "changes",
    [
        {"waves": []},
        {"waves": percent_waves(60, 50)},
        {"waves": percent_waves(*([1] * 21))},
        {"waves": [{"size": 0, "unit": "count"}]},
        {"waves": [{"size": 101, "unit": "percent"}]},
        {"waves": [{"size": 5, "unit": "devices"}]},
        {"waves": [{"size": 5, "unit": "count", "min_soak_s": -1}]},
        {"waves": [{"size": 5, "unit": "count", "earliest_start_at": "2026-01-01"}]},
        {"waves": [{"size": 5, "unit": "count", "color": "red"}]},
        {"policy": {"counted_kinds": ["network-failure"]}},
        {"policy": {"threshold_percent": 101}},
        {"policy": {"min_devices": 0}},
        {"policy": {"counted_kinds": []}},
        {"os_feed": None},
        {"os_feed": "beta"},
        {"deployment_id": "d1"},
        {"priority": 1},
    ],
)
def test_invalid_rollouts_are_refused_and_nothing_is_stored(
    app: FastAPI,
    client: TestClient,
    clock: ManualClock,
    admin: TenantAccess,
    changes: dict[str, Any],
) -> None:
    release = _release(client, app, clock, admin, "27.1")
    body = {
        "os_release_id": release["id"],
        "os_feed": "retail",
        "waves": percent_waves(100),
        **changes,
    }

    response = client.post(f"{API}/rollouts", json=body, headers=admin.headers)

    assert_problem(response, 422, "validation-error")
    with make_session_factory(app.state.sevenfold.engine)() as session:
        assert session.scalar(select(func.count()).select_from(Rollout)) == 0


def test_tenant_roles_decide_who_creates_which_rollout(
    app: FastAPI,
    client: TestClient,
    clock: ManualClock,
    admin: TenantAccess,
    other_tenant: TenantAccess,
) -> None:
    """Readers create nothing; only the platform administrator rolls out OS
    releases; another tenant's deployment does not exist for the caller."""
    product = product_with_groups(client, admin)
    deployment = _deployment(client, app, clock, admin, product.group_ids["Production"])
    release = _release(client, app, clock, admin, "27.1")
    reader = access_with_role(client, admin, "reader")
    contributor = access_with_role(client, admin, "contributor")
    os_body = {
        "os_release_id": release["id"],
        "os_feed": "retail",
        "waves": percent_waves(100),
    }
    deployment_body = {"deployment_id": deployment["id"], "waves": percent_waves(100)}

    for access in (reader, contributor, other_tenant):
        refused = client.post(f"{API}/rollouts", json=os_body, headers=access.headers)
        assert_problem(refused, 403, "forbidden")
    refused = client.post(
        f"{API}/rollouts", json=deployment_body, headers=reader.headers
    )
    assert_problem(refused, 403, "forbidden")
    cross_tenant = client.post(
        f"{API}/rollouts", json=deployment_body, headers=other_tenant.headers
    )
    assert_problem(cross_tenant, 404, "not-found")


def test_a_superseded_deployment_is_not_rolled_out(
    app: FastAPI, client: TestClient, clock: ManualClock, admin: TenantAccess
) -> None:
    product = product_with_groups(client, admin)
    old = _deployment(client, app, clock, admin, product.group_ids["Production"])
    _deployment(client, app, clock, admin, product.group_ids["Production"])

    response = client.post(
        f"{API}/rollouts",
        json={"deployment_id": old["id"], "waves": percent_waves(100)},
        headers=admin.headers,
    )

    assert_problem(response, 409, "conflict")


def test_tenants_see_their_rollouts_and_os_rollouts_of_their_devices(
    app: FastAPI,
    client: TestClient,
    clock: ManualClock,
    admin: TenantAccess,
    other_tenant: TenantAccess,
) -> None:
    """A tenant sees an OS rollout its devices are in, counting only its devices,
    and never another tenant's deployment rollout."""
    ours = product_with_groups(client, admin)
    theirs = product_with_groups(client, other_tenant, "Kettle")
    add_devices(app, clock, ours, "Production", 8)
    add_devices(app, clock, theirs, "Production", 3)
    release = _release(client, app, clock, admin, "27.1")
    eval_release = _release(client, app, clock, admin, "27.2")
    os_rollout = post_rollout(
        client,
        admin,
        {
            "os_release_id": release["id"],
            "os_feed": "retail",
            "waves": percent_waves(100),
        },
    )
    eval_rollout = post_rollout(
        client,
        admin,
        {
            "os_release_id": eval_release["id"],
            "os_feed": "retail-eval",
            "waves": percent_waves(100),
        },
    )
    deployment = _deployment(client, app, clock, admin, ours.group_ids["Production"])
    ours_rollout = post_rollout(
        client, admin, {"deployment_id": deployment["id"], "waves": percent_waves(100)}
    )

    seen = client.get(f"{API}/rollouts", headers=other_tenant.headers)
    assert seen.status_code == 200, seen.text
    assert [r["id"] for r in seen.json()] == [os_rollout["id"]]
    assert seen.json()[0]["waves"][0]["devices"] == 3
    everything = client.get(f"{API}/rollouts", headers=admin.headers).json()
    assert {r["id"] for r in everything} == {
        os_rollout["id"],
        eval_rollout["id"],
        ours_rollout["id"],
    }
    by_admin = client.get(f"{API}/rollouts/{os_rollout['id']}", headers=admin.headers)
    assert by_admin.json()["waves"][0]["devices"] == 11
    for hidden in (eval_rollout, ours_rollout):
        response = client.get(
            f"{API}/rollouts/{hidden['id']}", headers=other_tenant.headers
        )
        assert_problem(response, 404, "not-found")
    pause = client.post(
        f"{API}/rollouts/{ours_rollout['id']}/pause", headers=other_tenant.headers
    )
    assert_problem(pause, 404, "not-found")
    pause_os = client.post(
        f"{API}/rollouts/{os_rollout['id']}/pause", headers=other_tenant.headers
    )
    assert_problem(pause_os, 403, "forbidden")
    reader = access_with_role(client, admin, "reader")
    assert client.get(
        f"{API}/rollouts/{ours_rollout['id']}", headers=reader.headers
    ).is_success
    assert_problem(
        client.post(
            f"{API}/rollouts/{ours_rollout['id']}/pause", headers=reader.headers
        ),
        403,
        "forbidden",
    )


def test_list_filters_by_state_release_and_deployment(
    app: FastAPI, client: TestClient, clock: ManualClock, admin: TenantAccess
) -> None:
    product = product_with_groups(client, admin)
    add_devices(app, clock, product, "Production", 2)
    release = _release(client, app, clock, admin, "27.1")
    deployment = _deployment(client, app, clock, admin, product.group_ids["Production"])
    os_rollout = post_rollout(
        client,
        admin,
        {
            "os_release_id": release["id"],
            "os_feed": "retail",
            "waves": percent_waves(100),
        },
    )
    app_rollout = post_rollout(
        client, admin, {"deployment_id": deployment["id"], "waves": percent_waves(100)}
    )
    client.post(
        f"{API}/rollouts/{app_rollout['id']}/pause", headers=admin.headers
    ).raise_for_status()

    def ids(**params: str) -> list[str]:
        response = client.get(f"{API}/rollouts", params=params, headers=admin.headers)
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()]

    assert ids(state="paused") == [app_rollout["id"]]
    assert ids(state="running") == [os_rollout["id"]]
    assert ids(os_release_id=release["id"]) == [os_rollout["id"]]
    assert ids(deployment_id=deployment["id"]) == [app_rollout["id"]]
    assert_problem(
        client.get(f"{API}/rollouts?state=halted", headers=admin.headers),
        422,
        "validation-error",
    )


def test_progress_counts_what_members_did_per_wave(
    app: FastAPI, client: TestClient, clock: ManualClock, admin: TenantAccess
) -> None:
    product = product_with_groups(client, admin)
    add_devices(app, clock, product, "Production", 10)
    release = _release(client, app, clock, admin, "27.1")
    rollout = post_rollout(
        client,
        admin,
        {
            "os_release_id": release["id"],
            "os_feed": "retail",
            "waves": percent_waves(50, 50),
        },
    )
    opened = clock.now()
    open_wave(app, rollout["id"], 0, opened)
    first_wave = sorted(d for d, w in _members(app, rollout["id"]).items() if w == 0)
    with make_session_factory(app.state.sevenfold.engine)() as session:
        for index, device_id in enumerate(first_wave[:4]):
            session.execute(
                update(RolloutMember)
                .where(
                    RolloutMember.rollout_id == rollout["id"],
                    RolloutMember.device_id == device_id,
                )
                .values(
                    ran_at=opened,
                    succeeded_at=opened if index < 3 else None,
                    failed_at=opened if index == 3 else None,
                )
            )
        session.commit()

    shown = client.get(f"{API}/rollouts/{rollout['id']}", headers=admin.headers)

    assert shown.status_code == 200, shown.text
    first, second = shown.json()["waves"]
    assert (first["devices"], first["ran"], first["succeeded"], first["failed"]) == (
        5,
        4,
        3,
        1,
    )
    assert first["opened_at"] is not None
    assert (second["devices"], second["ran"], second["opened_at"]) == (5, 0, None)


def _rollout_in_state(
    app: FastAPI,
    client: TestClient,
    clock: ManualClock,
    admin: TenantAccess,
    state: RolloutState,
) -> str:
    product = product_with_groups(client, admin, f"Product {uuid.uuid4().hex[:12]}")
    add_devices(app, clock, product, "Production", 2)
    deployment = _deployment(client, app, clock, admin, product.group_ids["Production"])
    rollout_id: str = post_rollout(
        client, admin, {"deployment_id": deployment["id"], "waves": percent_waves(100)}
    )["id"]
    path = {
        RolloutState.RUNNING: (),
        RolloutState.PAUSED: (RolloutAction.PAUSE,),
        RolloutState.ABORTED: (RolloutAction.ABORT,),
        RolloutState.COMPLETED: (RolloutAction.COMPLETE,),
    }[state]
    with make_session_factory(app.state.sevenfold.engine)() as session:
        rollout = session.get(Rollout, rollout_id)
        assert rollout is not None
        for action in path:
            rollouts.apply_action(session, rollout, action, principal=None, clock=clock)
        session.commit()
    return rollout_id


def _snapshot(app: FastAPI, rollout_id: str) -> tuple[Any, ...]:
    with make_session_factory(app.state.sevenfold.engine)() as session:
        rollout = session.get(Rollout, rollout_id)
        assert rollout is not None
        audits = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.target_id == rollout_id)
        )
        return (
            rollout.state,
            rollout.state_changed_at,
            rollout.judged_since,
            rollout.halted_at,
            audits,
        )


@pytest.mark.parametrize("state", list(RolloutState))
@pytest.mark.parametrize(
    "action", [RolloutAction.PAUSE, RolloutAction.RESUME, RolloutAction.ABORT]
)
def test_every_operator_action_follows_the_state_machine(
    app: FastAPI,
    client: TestClient,
    clock: ManualClock,
    admin: TenantAccess,
    state: RolloutState,
    action: RolloutAction,
) -> None:
    """Each (state, action) pair: the table's target and an audit row, or a 409
    ``invalid-rollout-transition`` that changes nothing."""
    rollout_id = _rollout_in_state(app, client, clock, admin, state)
    before = _snapshot(app, rollout_id)
    clock.advance(300)

    response = client.post(
        f"{API}/rollouts/{rollout_id}/{action.value}",
        json={"reason": "operator's call"},
        headers=admin.headers,
    )

    target = ROLLOUT_TRANSITIONS.get((state, action))
    if target is None:
        assert_problem(response, 409, "invalid-rollout-transition")
        assert _snapshot(app, rollout_id) == before
        return
    assert response.status_code == 200, response.text
    assert response.json()["state"] == target.value
    after = _snapshot(app, rollout_id)
    assert after[0] == target.value
    assert after[1] == clock.now()
    assert after[4] == before[4] + 1


@pytest.mark.parametrize("action", ["halt", "complete", "start"])
def test_the_evaluators_actions_are_not_routes(
    app: FastAPI,
    client: TestClient,
    clock: ManualClock,
    admin: TenantAccess,
    action: str,
) -> None:
    rollout_id = _rollout_in_state(app, client, clock, admin, RolloutState.RUNNING)
    before = _snapshot(app, rollout_id)

    response = client.post(
        f"{API}/rollouts/{rollout_id}/{action}", headers=admin.headers
    )

    assert response.status_code in (404, 405)
    assert _snapshot(app, rollout_id) == before


def test_halt_by_the_evaluator_is_audited_and_resume_restarts_the_judgement(
    app: FastAPI, client: TestClient, clock: ManualClock, admin: TenantAccess
) -> None:
    rollout_id = _rollout_in_state(app, client, clock, admin, RolloutState.RUNNING)
    clock.advance(3600)
    with make_session_factory(app.state.sevenfold.engine)() as session:
        rollout = session.get(Rollout, rollout_id)
        assert rollout is not None
        rollouts.apply_action(
            session,
            rollout,
            RolloutAction.HALT,
            principal=None,
            clock=clock,
            reason="3 of 5 devices failed",
        )
        session.commit()
        with pytest.raises(ConflictError) as refused:
            rollouts.apply_action(
                session, rollout, RolloutAction.HALT, principal=None, clock=clock
            )
        assert refused.value.code is ProblemCode.INVALID_ROLLOUT_TRANSITION
        session.rollback()
        audit = session.scalars(
            select(AuditEvent).where(
                AuditEvent.target_id == rollout_id, AuditEvent.action == "rollout.halt"
            )
        ).one()
        assert audit.actor_name == rollouts.EVALUATOR_ACTOR
        assert audit.details["to"] == "paused"

    halted = client.get(f"{API}/rollouts/{rollout_id}", headers=admin.headers).json()
    assert halted["state"] == "paused"
    assert halted["halt_reason"] == "3 of 5 devices failed"
    assert halted["halted_at"] is not None

    clock.advance(7200)
    resumed = client.post(
        f"{API}/rollouts/{rollout_id}/resume", headers=admin.headers
    ).json()
    assert resumed["state"] == "running"
    assert resumed["judged_since"] == resumed["state_changed_at"]
    assert resumed["judged_since"] != halted["judged_since"]
    assert resumed["halted_at"] is None
    audit_events = client.get(
        f"{API}/audit-events?limit=1000", headers=admin.headers
    ).json()["items"]
    resume = next(e for e in audit_events if e["action"] == "rollout.resume")
    assert resume["target_id"] == rollout_id


def test_an_unknown_rollout_is_not_found(
    client: TestClient, admin: TenantAccess
) -> None:
    for response in (
        client.get(f"{API}/rollouts/nope", headers=admin.headers),
        client.post(f"{API}/rollouts/nope/pause", headers=admin.headers),
    ):
        assert_problem(response, 404, "not-found")


@hypothesis_settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(actions=st.lists(st.sampled_from(list(RolloutAction)), max_size=8))
def test_any_sequence_of_actions_moves_as_the_table_says(
    app: FastAPI,
    client: TestClient,
    clock: ManualClock,
    admin: TenantAccess,
    actions: list[RolloutAction],
) -> None:
    """Random sequences: operator actions through the API, the evaluator's
    through ``apply_action``; the stored state always follows the model and a
    refused action changes nothing."""
    rollout_id = _rollout_in_state(app, client, clock, admin, RolloutState.RUNNING)
    model = RolloutState.RUNNING
    for action in actions:
        clock.advance(60)
        before = _snapshot(app, rollout_id)
        target = ROLLOUT_TRANSITIONS.get((model, action))
        if action in (RolloutAction.HALT, RolloutAction.COMPLETE):
            with make_session_factory(app.state.sevenfold.engine)() as session:
                rollout = session.get(Rollout, rollout_id)
                assert rollout is not None
                refusal: ConflictError | None = None
                try:
                    rollouts.apply_action(
                        session, rollout, action, principal=None, clock=clock
                    )
                    session.commit()
                except ConflictError as refused:
                    session.rollback()
                    refusal = refused
                accepted = refusal is None
                if refusal is not None:
                    assert refusal.code is ProblemCode.INVALID_ROLLOUT_TRANSITION
        else:
            response = client.post(
                f"{API}/rollouts/{rollout_id}/{action.value}", headers=admin.headers
            )
            accepted = response.status_code == 200
            if not accepted:
                assert_problem(response, 409, "invalid-rollout-transition")
        assert accepted == (target is not None)
        if target is None:
            assert _snapshot(app, rollout_id) == before
        else:
            model = target
            assert _snapshot(app, rollout_id)[0] == model.value
