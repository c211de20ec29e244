"""Failure-report ingestion (docs/failures.md §2): each event stored once however
often it is re-sent, the device's context copied from its record, malformed and
malicious batches refused whole, and a device writing only into its own tenant."""

import json
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.failures import FailureBatch, FailureKind
from sevenfold.service.db.engine import make_session_factory
from sevenfold.service.failures import service
from sevenfold.service.failures.models import FailureEventRecord
from sevenfold.service.releases.models import OsRelease
from tests.api.failure_support import (
    EVENTS,
    REPORTS,
    Reporter,
    failure,
    reporter,
    reporter_of,
)
from tests.api.update_support import add_release, settings
from tests.conftest import TenantAccess
from tests.support.fleet import assert_problem

__all__ = ["settings"]
UPLOADERS = 4


def _stored(app: FastAPI) -> list[FailureEventRecord]:
    with make_session_factory(app.state.sevenfold.engine)() as session:
        return list(session.scalars(select(FailureEventRecord)))


def _event_json(**fields: Any) -> dict[str, Any]:
    body = failure(datetime(2026, 11, 25, 12, tzinfo=UTC)).to_json()
    body.update(fields)
    return body


@pytest.fixture
def device(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> Reporter:
    """A certified device of the first tenant."""
    return reporter(app, client, admin, clock)


def test_events_are_stored_once_however_often_they_are_resent(
    app: FastAPI, device: Reporter, clock: ManualClock
) -> None:
    first = failure(clock.now())
    second = failure(clock.now(), FailureKind.UPDATE_FAILURE)
    answer = device.send(first, second)
    assert answer == {
        "acknowledged": [first.event_id, second.event_id],
        "stored": 2,
        "duplicates": 0,
    }
    third = failure(clock.now(), FailureKind.ROLLBACK)
    for _ in range(3):  # the device did not see the answers: it sends again
        again = device.send(second, first, third)
        assert again["acknowledged"] == [
            second.event_id,
            first.event_id,
            third.event_id,
        ]
    assert again["stored"] == 0
    assert again["duplicates"] == 3
    assert sorted(row.event_id for row in _stored(app)) == sorted(
        [first.event_id, second.event_id, third.event_id]
    )


def test_stored_event_carries_the_device_context_and_its_os_release(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    device: Reporter,
    clock: ManualClock,
) -> None:
    image = add_release(app, clock, "26.1")
    with make_session_factory(app.state.sevenfold.engine)() as session:
        release_ids = list(
            session.scalars(select(OsRelease.id).where(OsRelease.image_id == image.id))
        )
    known = failure(clock.now(), os_version="26.1.0", image_id=image.id)
    unknown = failure(clock.now(), os_version="99.1", exit_code=-1, signal=11)
    device.send(known, unknown)
    rows = {row.event_id: row for row in _stored(app)}
    stored = rows[known.event_id]
    shown = client.get(f"/api/v1/devices/{device.device_id}", headers=admin.headers)
    assert (stored.tenant_id, stored.device_id) == (admin.tenant_id, device.device_id)
    assert stored.product_id == device.product_id
    assert stored.device_group_id == shown.json()["device_group_id"] is not None
    assert [stored.os_release_id] == release_ids
    assert (stored.event_type, stored.event_class) == ("unplanned", "application")
    assert rows[unknown.event_id].os_release_id is None
    assert (rows[unknown.event_id].exit_code, rows[unknown.event_id].signal) == (-1, 11)


def test_concurrent_resend_of_one_event_stores_it_once_without_error(
    app: FastAPI, device: Reporter, clock: ManualClock, admin: TenantAccess
) -> None:
    """Two uploads of one record race: the loser's insert hits the unique
    constraint after it looked (and found nothing); it runs again and answers the
    record as a duplicate."""
    event_ = failure(clock.now())
    batch = FailureBatch(events=(event_,))
    factory = make_session_factory(app.state.sevenfold.engine)
    who = service.Reporter(
        device_id=device.device_id,
        tenant_id=admin.tenant_id,
        product_id=device.product_id,
        device_group_id=None,
    )
    with factory() as loser:
        raced: list[bool] = []

        @event.listens_for(loser, "before_flush")
        def winner_commits_first(session: Session, *_: object) -> None:
            if not raced:
                raced.append(True)
                with factory() as winner:
                    service.ingest_batch(
                        session=winner, clock=clock, reporter=who, batch=batch
                    )

        result = service.ingest_batch(
            session=loser, clock=clock, reporter=who, batch=batch
        )
    assert raced == [True]
    assert (result.stored, result.duplicate_ids) == ([], [event_.event_id])
    assert [row.event_id for row in _stored(app)] == [event_.event_id]


def test_dropped_counter_keeps_the_highest_reported(
    client: TestClient, admin: TenantAccess, device: Reporter, clock: ManualClock
) -> None:
    path = f"/api/v1/devices/{device.device_id}/failure-queue"
    before = client.get(path, headers=admin.headers)
    assert before.status_code == 200, before.text
    assert before.json() == {
        "device_id": device.device_id,
        "dropped_total": 0,
        "last_upload_at": None,
    }
    device.send(failure(clock.now()), dropped_total=5)
    device.send(dropped_total=3)  # a late, lower report does not lower it
    assert client.get(path, headers=admin.headers).json()["dropped_total"] == 5
    clock.advance(60)
    device.send(dropped_total=8)
    shown = client.get(path, headers=admin.headers).json()
    assert shown["dropped_total"] == 8
    assert shown["last_upload_at"].startswith(clock.now().isoformat()[:19])


def _hundred_and_one() -> dict[str, Any]:
    return {"events": [_event_json(event_id=secrets.token_hex(16)) for _ in range(101)]}


def _repeated_id() -> dict[str, Any]:
    one = _event_json()
    return {"events": [one, {**one, "count": 2}]}


MALFORMED_BATCHES: dict[str, Any] = {
    "unknown_batch_field": {"events": [], "tenant_id": "other"},
    "unknown_event_field_naming_another_tenant": {
        "events": [_event_json(tenant_id="someone-else")]
    },
    "unknown_event_field_naming_another_device": {
        "events": [_event_json(device_id="ab" * 64)]
    },
    "event_id_not_hex": {"events": [_event_json(event_id="Z" * 32)]},
    "event_id_upper_case": {"events": [_event_json(event_id="AB" * 16)]},
    "event_id_too_short": {"events": [_event_json(event_id="ab" * 8)]},
    "event_id_sql_injection": {"events": [_event_json(event_id="' OR 1=1 --")]},
    "count_bool_as_int": {"events": [_event_json(count=True)]},
    "count_float": {"events": [_event_json(count=1.0)]},
    "count_zero": {"events": [_event_json(count=0)]},
    "count_past_int32": {"events": [_event_json(count=2**31)]},
    "dropped_total_bool_as_int": {"events": [], "dropped_total": True},
    "dropped_total_negative": {"events": [], "dropped_total": -1},
    "exit_code_bool_as_int": {"events": [_event_json(exit_code=False)]},
    "batch_of_101_events": _hundred_and_one(),
    "duplicate_ids_in_one_batch": _repeated_id(),
    "huge_description": {"events": [_event_json(description="x" * 201)]},
    "unknown_kind": {"events": [_event_json(kind="meltdown")]},
    "time_without_zone": {"events": [_event_json(last_at="2026-11-25T12:00:00")]},
    "time_overflowing_utc_before_year_1": {
        "events": [
            _event_json(
                first_at="0001-01-01T00:00:00+05:00",
                last_at="0001-01-01T00:00:00+05:00",
            )
        ]
    },
    "time_overflowing_utc_after_year_9999": {
        "events": [_event_json(last_at="9999-12-31T23:59:59-05:00")]
    },
    "last_before_first": {
        "events": [
            _event_json(
                first_at="2026-11-25T12:00:00+00:00",
                last_at="2026-11-25T11:00:00+00:00",
            )
        ]
    },
    "host_with_control_characters": {"events": [_event_json(host="evil\nhost")]},
    "events_not_a_list": {"events": _event_json()},
    "events_null": {"events": None},
}


@pytest.mark.parametrize("name", sorted(MALFORMED_BATCHES))
def test_malformed_or_malicious_batch_is_refused_and_nothing_stored(
    app: FastAPI, device: Reporter, clock: ManualClock, name: str
) -> None:
    good = failure(clock.now()).to_json()
    body = MALFORMED_BATCHES[name]
    if isinstance(body, dict) and isinstance(body.get("events"), list):
        body = {**body, "events": [good, *body["events"]]}  # one bad spoils all
    response = device.post(body)
    assert_problem(response, 422, "invalid-failure-report")
    assert "nothing of this batch was stored" in response.json()["detail"]
    assert _stored(app) == []


def test_oversized_batch_is_refused_by_the_body_limit(
    app: FastAPI, device: Reporter
) -> None:
    padding = "x" * (app.state.sevenfold.settings.max_body_bytes + 1)
    response = device.post({"events": [], "padding": padding})
    assert_problem(response, 413, "body-too-large")
    assert _stored(app) == []


def test_body_that_is_not_an_object_is_refused(app: FastAPI, device: Reporter) -> None:
    response = device.post([_event_json()])
    assert_problem(response, 422, "validation-error")
    assert _stored(app) == []


def test_body_that_is_not_json_is_refused(app: FastAPI, device: Reporter) -> None:
    response = device.client.post(
        "/api/v1/device/failure-reports",
        content=b"{not json",
        headers={**device.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert _stored(app) == []


def test_revoked_device_cannot_report_failures(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    device: Reporter,
    clock: ManualClock,
) -> None:
    revoked = client.post(
        f"/api/v1/devices/{device.device_id}/revoke", headers=admin.headers
    )
    assert revoked.status_code == 200, revoked.text
    response = device.post(FailureBatch(events=(failure(clock.now()),)).to_json())
    assert_problem(response, 409, "device-revoked")
    assert _stored(app) == []


def test_api_token_cannot_report_failures_for_a_device(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    body = FailureBatch(events=(failure(clock.now()),)).to_json()
    response = client.post(
        "/api/v1/device/failure-reports", json=body, headers=admin.headers
    )
    assert_problem(response, 400, "authorization-not-accepted")
    assert_problem(client.post("/api/v1/device/failure-reports", json=body), 401,
                   "device-unauthenticated")  # fmt: skip
    assert _stored(app) == []


def test_device_of_one_tenant_cannot_write_or_read_another_tenants_events(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    other_tenant: TenantAccess,
    device: Reporter,
    clock: ManualClock,
) -> None:
    intruder = reporter_of(
        app, client, platform=admin, owner=other_tenant, clock=clock,
        uds=b"\x09" * 32, product_name="Fabrikam gateway",
    )  # fmt: skip
    mine = failure(clock.now())
    device.send(mine)
    # B's device re-sends A's event id: stored as B's own event (ids are per
    # device), it neither touches nor reveals A's record.
    answer = intruder.send(failure(clock.now(), event_id=mine.event_id))
    assert (answer["stored"], answer["duplicates"]) == (1, 0)
    rows = _stored(app)
    assert sorted((r.tenant_id, r.device_id) for r in rows) == sorted(
        [
            (admin.tenant_id, device.device_id),
            (other_tenant.tenant_id, intruder.device_id),
        ]
    )
    seen_by_b = client.get(EVENTS, headers=other_tenant.headers).json()["items"]
    assert [e["device_id"] for e in seen_by_b] == [intruder.device_id]
    seen_by_a = client.get(EVENTS, headers=admin.headers).json()["items"]
    assert [e["device_id"] for e in seen_by_a] == [device.device_id]
    by_device = client.get(
        EVENTS, params={"device_id": device.device_id}, headers=other_tenant.headers
    )
    assert by_device.json()["items"] == []
    queue = client.get(
        f"/api/v1/devices/{device.device_id}/failure-queue",
        headers=other_tenant.headers,
    )
    assert_problem(queue, 404, "not-found")
    with make_session_factory(app.state.sevenfold.engine)() as session:
        count = session.scalar(select(func.count()).select_from(FailureEventRecord))
    assert count == 2


@pytest.mark.parametrize("field", ["key", "description"])
@pytest.mark.parametrize("text", ["nul\x00byte", "lone \ud800 surrogate"])
def test_nul_or_lone_surrogate_in_text_is_refused_not_a_server_error(
    app: FastAPI, device: Reporter, field: str, text: str
) -> None:
    """PostgreSQL's text refuses NUL and no database stores a lone surrogate: a
    device sending one must get a 422, not crash the request (and nothing is
    stored on SQLite, which would have taken the NUL)."""
    body = {"events": [_event_json(**{field: text})], "dropped_total": 0}
    response = device.client.post(
        "/api/v1/device/failure-reports",
        content=json.dumps(body).encode("ascii"),  # \u0000 and \ud800 escapes
        headers={**device.headers, "Content-Type": "application/json"},
    )
    assert_problem(response, 422, "invalid-failure-report")
    assert _stored(app) == []


def test_concurrent_uploads_of_one_batch_over_http_store_it_once(
    device: Reporter, live_url: str, app: FastAPI, clock: ManualClock
) -> None:
    """Several connections re-send one batch at the same moment (a device that
    retried while its first upload was still in flight): every one is answered
    200, and each event is stored exactly once."""
    events = tuple(failure(clock.now()) for _ in range(20))
    body = FailureBatch(events=events).to_json()
    start = threading.Barrier(UPLOADERS)

    def upload() -> tuple[int, dict[str, Any]]:
        with httpx.Client(base_url=live_url, timeout=60) as http:
            start.wait()
            response = http.post(REPORTS, json=body, headers=device.headers)
            return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=UPLOADERS) as pool:
        answers = list(pool.map(lambda _: upload(), range(UPLOADERS)))
    assert [status for status, _ in answers] == [200] * UPLOADERS, answers
    ids = [event.event_id for event in events]
    assert all(answer["acknowledged"] == ids for _, answer in answers)
    assert sum(answer["stored"] for _, answer in answers) == len(events)
    assert sorted(row.event_id for row in _stored(app)) == sorted(ids)
