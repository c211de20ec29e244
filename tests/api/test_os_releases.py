"""OS releases (docs/updates.md §3): the state machine, versions that only go up,
platform-only changes, tenant reads, and promotion when the window ends."""

import time
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.updates import (
    RELEASE_TRANSITIONS,
    ImageType,
    ReleaseAction,
    ReleaseState,
)
from sevenfold.protocol.vocabulary import OsFeed
from sevenfold.service.app import create_app
from sevenfold.service.audit.models import AuditEvent
from sevenfold.service.db.engine import make_session_factory
from sevenfold.service.releases.promotion import ReleasePromoter, promote_due
from sevenfold.service.releases.service import (
    PROMOTER_ACTOR,
    newest_release_for_feed,
)
from sevenfold.service.settings import ServiceSettings
from tests.api.release_support import (
    API,
    insert_image,
    insert_update_status,
    publish,
)
from tests.api.tenancy_support import (
    access_with_role,
    assert_problem,
    build_fleet,
    register_devices,
)
from tests.conftest import TenantAccess

DAY_S = 86_400
# How to reach each state from a fresh retail-eval release.
PATH_TO_STATE: dict[ReleaseState, tuple[ReleaseAction, ...]] = {
    ReleaseState.RETAIL_EVAL: (),
    ReleaseState.RETAIL: (ReleaseAction.PROMOTE,),
    ReleaseState.CANCELLED: (ReleaseAction.CANCEL,),
    ReleaseState.WITHDRAWN: (ReleaseAction.PROMOTE, ReleaseAction.WITHDRAW),
}


def _os_image(app: FastAPI, clock: ManualClock, version: str) -> str:
    return insert_image(
        app, clock, tenant_id=None, kind=ImageType.OS, version=version
    ).id


def _act(
    client: TestClient,
    access: TenantAccess,
    release_id: str,
    action: ReleaseAction,
    reason: str | None = None,
) -> Any:
    body = {"reason": reason} if reason else None
    return client.post(
        f"{API}/os-releases/{release_id}/{action.value}",
        json=body,
        headers=access.headers,
    )


def _audit(client: TestClient, access: TenantAccess) -> list[dict[str, Any]]:
    response = client.get(f"{API}/audit-events?limit=1000", headers=access.headers)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["items"]
    return events


def _show(client: TestClient, access: TenantAccess, release_id: str) -> Any:
    response = client.get(f"{API}/os-releases/{release_id}", headers=access.headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("action", list(ReleaseAction))
@pytest.mark.parametrize("state", list(ReleaseState))
def test_every_state_and_action_follows_the_transition_table(
    client: TestClient,
    app: FastAPI,
    clock: ManualClock,
    admin: TenantAccess,
    state: ReleaseState,
    action: ReleaseAction,
) -> None:
    """Allowed moves change state and are audited; every other is a 409 that
    changes neither the release nor the audit log."""
    release = publish(client, admin, _os_image(app, clock, "26.11"))
    for step in PATH_TO_STATE[state]:
        assert _act(client, admin, release["id"], step).status_code == 200
    before = _show(client, admin, release["id"])
    audit_before = _audit(client, admin)
    assert before["state"] == state.value

    response = _act(client, admin, release["id"], action, reason="field reports")

    target = RELEASE_TRANSITIONS.get((state, action))
    if target is None:
        assert_problem(response, 409, "invalid-release-transition")
        assert _show(client, admin, release["id"]) == before
        assert _audit(client, admin) == audit_before
        return
    assert response.status_code == 200, response.text
    assert response.json()["state"] == target.value
    newest = _audit(client, admin)[0]
    assert newest["action"] == f"os-release.{action.value}"
    assert newest["target_id"] == release["id"]
    assert newest["actor_token_id"] is not None
    assert newest["details"] == {
        "version": "26.11",
        "from": state.value,
        "to": target.value,
        "reason": "field reports",
    }


def test_versions_only_go_up_even_past_a_cancelled_release(
    client: TestClient, app: FastAPI, clock: ManualClock, admin: TenantAccess
) -> None:
    """A cancelled 26.11 still holds its version: 26.11 and 26.10 are refused."""
    release = publish(client, admin, _os_image(app, clock, "26.11"))
    assert _act(client, admin, release["id"], ReleaseAction.CANCEL).status_code == 200
    for older in ("26.11", "26.11.0", "26.10.5", "9.0"):
        response = client.post(
            f"{API}/os-releases",
            json={"image_id": _os_image(app, clock, older)},
            headers=admin.headers,
        )
        assert_problem(response, 409, "release-version-not-newer")
    assert publish(client, admin, _os_image(app, clock, "26.11.1"))["version"] == (
        "26.11.1"
    )


def test_tenant_administrator_cannot_publish_or_move_a_release(
    client: TestClient,
    app: FastAPI,
    clock: ManualClock,
    admin: TenantAccess,
    other_tenant: TenantAccess,
) -> None:
    """Releases are platform data: a plain tenant administrator gets 403."""
    image_id = _os_image(app, clock, "26.11")
    response = client.post(
        f"{API}/os-releases", json={"image_id": image_id}, headers=other_tenant.headers
    )
    assert_problem(response, 403, "forbidden")
    release = publish(client, admin, image_id)
    for action in ReleaseAction:
        assert_problem(
            _act(client, other_tenant, release["id"], action), 403, "forbidden"
        )
    assert _show(client, admin, release["id"])["state"] == "retail-eval"


def test_publish_takes_only_platform_os_images(
    client: TestClient,
    app: FastAPI,
    clock: ManualClock,
    admin: TenantAccess,
) -> None:
    """A tenant's app image is no OS release; an unknown image is a 404."""
    app_image = insert_image(app, clock, tenant_id=admin.tenant_id, kind=ImageType.APP)
    platform_app = insert_image(app, clock, tenant_id=None, kind=ImageType.APP)
    for image_id, status, code in (
        (app_image.id, 404, "not-found"),
        (platform_app.id, 422, "validation-error"),
        ("4f3c1bd8-0000-4000-8000-000000000000", 404, "not-found"),
    ):
        response = client.post(
            f"{API}/os-releases", json={"image_id": image_id}, headers=admin.headers
        )
        assert_problem(response, status, code)


def test_tenants_read_releases_with_only_their_own_device_counts(
    client: TestClient,
    app: FastAPI,
    clock: ManualClock,
    admin: TenantAccess,
    other_tenant: TenantAccess,
) -> None:
    """Any principal lists releases; device counts are the caller's tenant's."""
    fleet = build_fleet(client, admin, admin)
    release = publish(client, admin, _os_image(app, clock, "26.11"))
    insert_update_status(
        app,
        clock,
        device_id=fleet.device_id,
        tenant_id=admin.tenant_id,
        state="committed",
        os_image_id=release["image_id"],
    )
    reader = access_with_role(client, other_tenant, "reader")
    listed = client.get(f"{API}/os-releases", headers=reader.headers)
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()] == [release["id"]]
    assert _show(client, reader, release["id"])["device_counts"] == {}
    assert _show(client, admin, release["id"])["device_counts"] == {"committed": 1}
    filtered = client.get(
        f"{API}/os-releases", params={"state": "retail"}, headers=reader.headers
    )
    assert filtered.json() == []


def test_release_is_retail_when_its_window_ends_and_promote_due_records_it(
    client: TestClient, app: FastAPI, clock: ManualClock, admin: TenantAccess
) -> None:
    """Readers see a due release as retail at once; promote_due stores and audits
    it with the system actor."""
    release = publish(client, admin, _os_image(app, clock, "26.11"), eval_window_days=7)
    factory = make_session_factory(app.state.sevenfold.engine)
    with factory() as session:
        assert promote_due(session, clock) == []
        assert newest_release_for_feed(session, OsFeed.RETAIL, clock.now()) is None
    clock.advance(7 * DAY_S)
    assert _show(client, admin, release["id"])["effective_state"] == "retail"
    with factory() as session:
        on_retail = newest_release_for_feed(session, OsFeed.RETAIL, clock.now())
        assert on_retail is not None
        assert on_retail.id == release["id"]
        promoted = promote_due(session, clock)
        assert [item.id for item in promoted] == [release["id"]]
        assert promote_due(session, clock) == []
    assert _system_promotions(app, release["id"]) == 1
    shown = _show(client, admin, release["id"])
    assert (shown["state"], shown["promoted_at"] is not None) == ("retail", True)


def test_promoter_task_in_the_lifespan_promotes_due_releases(
    app: FastAPI, settings: ServiceSettings, clock: ManualClock, admin: TenantAccess
) -> None:
    """The app's background promoter stores the promotion without being asked."""
    fast = settings.model_copy(update={"release_promotion_interval_s": 0.02})
    fast_app = create_app(fast, clock=clock, engine=app.state.sevenfold.engine)
    with TestClient(fast_app) as client:
        release = publish(
            client, admin, _os_image(app, clock, "26.11"), eval_window_days=1
        )
        clock.advance(DAY_S)
        deadline = time.monotonic() + 20
        while _show(client, admin, release["id"])["state"] != "retail":
            assert time.monotonic() < deadline, "the promoter never promoted"
            time.sleep(0.02)
    promoter = ReleasePromoter(
        session_factory=make_session_factory(app.state.sevenfold.engine),
        clock=clock,
        poll_interval_s=1,
    )
    assert promoter.run_once() == []


def test_urgent_fix_with_zero_window_is_on_retail_at_once(
    client: TestClient, app: FastAPI, clock: ManualClock, admin: TenantAccess
) -> None:
    """eval_window_days 0: the fix reaches retail devices without waiting."""
    release = publish(client, admin, _os_image(app, clock, "26.11"), eval_window_days=0)
    assert release["effective_state"] == "retail"
    assert release["promote_at"] == release["published_at"]
    factory = make_session_factory(app.state.sevenfold.engine)
    with factory() as session:
        found = newest_release_for_feed(session, OsFeed.RETAIL, clock.now())
        assert found is not None
        assert found.id == release["id"]


def test_default_window_comes_from_settings(
    client: TestClient, app: FastAPI, clock: ManualClock, admin: TenantAccess
) -> None:
    """Without eval_window_days the release waits default_eval_window_days."""
    release = publish(client, admin, _os_image(app, clock, "26.11"))
    assert release["eval_window_s"] == 14 * DAY_S


def test_feeds_never_offer_cancelled_or_withdrawn_releases(
    client: TestClient, app: FastAPI, clock: ManualClock, admin: TenantAccess
) -> None:
    """retail-eval sees the newest good eval or retail release; retail only retail;
    a withdrawn newest release falls back to the previous retail one."""
    first = publish(client, admin, _os_image(app, clock, "26.10"), eval_window_days=1)
    _act(client, admin, first["id"], ReleaseAction.PROMOTE)
    second = publish(client, admin, _os_image(app, clock, "26.11"), eval_window_days=1)
    _act(client, admin, second["id"], ReleaseAction.PROMOTE)
    third = publish(client, admin, _os_image(app, clock, "26.12"), eval_window_days=1)
    factory = make_session_factory(app.state.sevenfold.engine)

    def newest(feed: OsFeed) -> str | None:
        with factory() as session:
            found = newest_release_for_feed(session, feed, clock.now())
            return found.version if found else None

    assert (newest(OsFeed.RETAIL), newest(OsFeed.RETAIL_EVAL)) == ("26.11", "26.12")
    _act(client, admin, third["id"], ReleaseAction.CANCEL)
    _act(client, admin, second["id"], ReleaseAction.WITHDRAW)
    assert (newest(OsFeed.RETAIL), newest(OsFeed.RETAIL_EVAL)) == ("26.10", "26.10")


def test_due_release_can_be_withdrawn_but_no_longer_cancelled(
    client: TestClient, app: FastAPI, clock: ManualClock, admin: TenantAccess
) -> None:
    """Past promote_at the feeds already offer it: cancel is refused, withdraw
    works (the system's promotion is audited first)."""
    release = publish(client, admin, _os_image(app, clock, "26.11"), eval_window_days=1)
    clock.advance(DAY_S)
    assert_problem(
        _act(client, admin, release["id"], ReleaseAction.CANCEL),
        409,
        "invalid-release-transition",
    )
    response = _act(client, admin, release["id"], ReleaseAction.WITHDRAW, "bad")
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "withdrawn"
    assert _audit(client, admin)[0]["details"]["from"] == "retail"
    assert _system_promotions(app, release["id"]) == 1


def _system_promotions(app: FastAPI, release_id: str) -> int:
    """Promotions of a release the system recorded (no tenant files them)."""
    factory = make_session_factory(app.state.sevenfold.engine)
    with factory() as session:
        return len(
            session.scalars(
                select(AuditEvent).where(
                    AuditEvent.target_id == release_id,
                    AuditEvent.action == "os-release.promote",
                    AuditEvent.actor_name == PROMOTER_ACTOR,
                    AuditEvent.actor_token_id.is_(None),
                )
            ).all()
        )


def test_device_counts_cover_every_tenant_for_the_platform_administrator(
    client: TestClient,
    app: FastAPI,
    clock: ManualClock,
    admin: TenantAccess,
    other_tenant: TenantAccess,
) -> None:
    """The platform administrator counts devices of all tenants."""
    release = publish(client, admin, _os_image(app, clock, "26.11"))
    device_a, device_b = register_devices(client, admin, 2)
    for device_id, tenant in ((device_a, admin), (device_b, other_tenant)):
        insert_update_status(
            app,
            clock,
            device_id=device_id,
            tenant_id=tenant.tenant_id,
            state="idle",
            os_image_id=release["image_id"],
        )
    assert _show(client, admin, release["id"])["device_counts"] == {"idle": 2}
    assert _show(client, other_tenant, release["id"])["device_counts"] == {"idle": 1}
