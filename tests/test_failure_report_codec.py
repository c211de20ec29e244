"""The failure-report codec (docs/failures.md §1-2): what a device sends parses back
to the same events, and anything else raises only ``FailureReportError``."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sevenfold.protocol.errors import FailureReportError
from sevenfold.protocol.failures import (
    MAX_BATCH_EVENTS,
    FailureBatch,
    FailureEvent,
    FailureKind,
    NetworkFailureKind,
    parse_failure_batch,
)

moments = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - Hypothesis wants naive bounds
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
identifiers = st.text("abcdef0123456789-", min_size=1, max_size=36)
printable = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x2FF), max_size=200
)


@st.composite
def events(draw: st.DrawFn) -> FailureEvent:
    first_at = draw(moments)
    return FailureEvent(
        event_id=draw(st.text("0123456789abcdef", min_size=32, max_size=32)),
        kind=draw(st.sampled_from(FailureKind)),
        key=draw(printable.filter(bool)),
        count=draw(st.integers(1, 2**31 - 1)),
        first_at=first_at,
        last_at=first_at + draw(st.timedeltas(timedelta(0), timedelta(days=30))),
        description=draw(printable),
        component_id=draw(st.one_of(st.none(), identifiers)),
        image_id=draw(st.one_of(st.none(), identifiers)),
        os_version=draw(st.one_of(st.none(), st.just("26.11"), st.just("26.12.1"))),
        exit_code=draw(st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1))),
        signal=draw(st.one_of(st.none(), st.integers(1, 128))),
        network_kind=draw(st.one_of(st.none(), st.sampled_from(NetworkFailureKind))),
        host=draw(st.one_of(st.none(), st.just("service.example"), st.just("[::1]"))),
    )


@given(
    st.lists(events(), max_size=5, unique_by=lambda e: e.event_id),
    st.integers(0, 2**40),
)
def test_a_batch_round_trips_through_its_wire_form(
    batch_events: list[FailureEvent], dropped_total: int
) -> None:
    batch = FailureBatch(events=tuple(batch_events), dropped_total=dropped_total)
    wire = json.loads(json.dumps(batch.to_json()))
    assert parse_failure_batch(wire) == batch


json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=12), inner, max_size=4),
    ),
    max_leaves=20,
)


@given(json_values)
def test_arbitrary_json_raises_only_failure_report_errors(raw: Any) -> None:
    try:
        parsed = parse_failure_batch(raw)
    except FailureReportError:
        return
    assert isinstance(parsed, FailureBatch)


@given(events(), st.sampled_from(sorted(FailureEvent.__slots__)), json_values)
def test_a_mutated_field_is_either_valid_or_refused(
    event: FailureEvent, name: str, value: Any
) -> None:
    wire = event.to_json()
    wire[name.removeprefix("_")] = value
    try:
        parsed = parse_failure_batch({"events": [wire], "dropped_total": 0})
    except FailureReportError:
        return
    assert len(parsed.events) == 1


def test_bool_smuggled_as_a_count_is_refused() -> None:
    event = FailureEvent(
        event_id="0" * 32,
        kind=FailureKind.APP_CRASH,
        key="k",
        count=1,
        first_at=datetime(2026, 1, 1, tzinfo=UTC),
        last_at=datetime(2026, 1, 1, tzinfo=UTC),
    ).to_json()
    with pytest.raises(FailureReportError):
        parse_failure_batch({"events": [{**event, "count": True}]})


def test_a_batch_over_the_event_limit_is_refused_before_parsing_events() -> None:
    with pytest.raises(FailureReportError, match="at most"):
        parse_failure_batch({"events": [None] * (MAX_BATCH_EVENTS + 1)})
