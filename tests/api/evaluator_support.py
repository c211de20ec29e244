"""Builders for the rollout evaluator tests: an OS rollout over row devices, status
reports and failure uploads through the service functions the device routes call
(``updates.status.record_report``, ``failures.service.ingest_batch``), and reads
of the rows the evaluator writes."""

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.failures import FailureBatch, FailureEvent, FailureKind
from sevenfold.protocol.updates import ImageType, UpdateState
from sevenfold.service.db.engine import make_session_factory
from sevenfold.service.failures import service as failures
from sevenfold.service.releases.models import OsRelease
from sevenfold.service.rollouts.evaluator import RolloutEvaluator
from sevenfold.service.rollouts.models import Rollout, RolloutMember, RolloutWave
from sevenfold.service.settings import ServiceSettings
from sevenfold.service.updates.status import StatusReport, record_report
from tests.api.release_support import OS_COMPONENT_ID, insert_image, publish
from tests.api.rollout_support import add_devices, post_rollout, product_with_groups
from tests.conftest import TenantAccess

QUIET_INTERVAL_S = 3600.0
"""The lifespan evaluator's tick in these tests: after its start-up tick it runs
only when woken, so ``run_once`` called by a test is the only judge."""
ONE_SOAKING_WAVE = {"size": 100, "unit": "percent", "min_soak_s": 86_400}
"""Every device in one wave that soaks a day (the rollout stays running)."""
GROUP_OF_FEED = {"retail": "Production", "retail-eval": "Production OS Evaluation"}


def quiet(settings: ServiceSettings, **changes: Any) -> ServiceSettings:
    """``settings`` with the quiet evaluator tick (and ``changes``)."""
    return settings.model_copy(
        update={"rollout_evaluation_interval_s": QUIET_INTERVAL_S, **changes}
    )


def evaluator(app: FastAPI) -> RolloutEvaluator:
    """The app's evaluator (the one its lifespan runs)."""
    found: RolloutEvaluator = app.state.sevenfold.rollout_evaluator
    return found


def wait_for_tick(app: FastAPI, ticks: int = 1, deadline_s: float = 30.0) -> None:
    """Wait until the lifespan evaluator has finished ``ticks`` ticks."""
    give_up = time.monotonic() + deadline_s
    while evaluator(app).ticks < ticks:
        assert time.monotonic() < give_up, "the evaluator did not tick"
        time.sleep(0.01)


@dataclass(frozen=True, slots=True)
class RolloutCase:
    """A rollout and what the tests need of it (``release_id`` empty for a
    deployment rollout, ``image_id`` one of its images)."""

    rollout_id: str
    release_id: str
    image_id: str
    tenant_id: str
    devices: list[str]


def os_rollout(
    app: FastAPI,
    client: TestClient,
    clock: ManualClock,
    admin: TenantAccess,
    *,
    devices: int = 12,
    feed: str = "retail",
    waves: list[dict[str, Any]] | None = None,
    policy: dict[str, Any] | None = None,
    version: str = "27.1",
    product_name: str = "Thermostat",
) -> RolloutCase:
    """A new release rolled out on ``feed`` to ``devices`` row devices."""
    product = product_with_groups(client, admin, product_name)
    device_ids = (
        add_devices(app, clock, product, GROUP_OF_FEED[feed], devices)
        if devices
        else []
    )
    image = insert_image(app, clock, tenant_id=None, kind=ImageType.OS, version=version)
    release = publish(client, admin, image.id)
    body: dict[str, Any] = {
        "os_release_id": release["id"],
        "os_feed": feed,
        "waves": waves or [ONE_SOAKING_WAVE],
    }
    if policy is not None:
        body["policy"] = policy
    rollout = post_rollout(client, admin, body)
    return RolloutCase(
        rollout["id"], release["id"], image.id, admin.tenant_id, device_ids
    )


def os_image(image_id: str) -> dict[str, Any]:
    """An installed/targeted entry as a device reports it."""
    return {
        "image_id": image_id,
        "component_id": OS_COMPONENT_ID,
        "kind": "os",
        "version": "27.1",
    }


def report(
    app: FastAPI,
    clock: ManualClock,
    rollout: RolloutCase,
    device_id: str,
    state: UpdateState,
    *,
    installed: Sequence[str] = (),
    targeted: Sequence[str] = (),
) -> None:
    """A device's status report, stored as the status route stores it."""
    with make_session_factory(app.state.sevenfold.engine)() as session:
        record_report(
            session=session,
            clock=clock,
            device_id=device_id,
            tenant_id=rollout.tenant_id,
            report=StatusReport(
                state=state,
                os_version="27.1",
                installed=[os_image(i) for i in installed],
                targeted=[os_image(i) for i in targeted],
                detail=None,
                rolled_back_from=None,
            ),
        )
        session.commit()


def run(
    app: FastAPI, clock: ManualClock, rollout: RolloutCase, *device_ids: str
) -> None:
    """The devices download and then run the rollout's image."""
    for device_id in device_ids:
        report(
            app,
            clock,
            rollout,
            device_id,
            UpdateState.DOWNLOADING,
            targeted=[rollout.image_id],
        )


def event(kind: FailureKind, at: datetime) -> FailureEvent:
    """A failure record that last happened at ``at``."""
    return FailureEvent(
        event_id=secrets.token_hex(16),
        kind=kind,
        key=f"{kind.value}:test",
        count=1,
        first_at=at,
        last_at=at,
    )


def upload(
    app: FastAPI,
    clock: ManualClock,
    rollout: RolloutCase,
    device_id: str,
    *events: FailureEvent,
) -> bool:
    """Upload failure records as the failure route does; whether a counted
    failure was newly noted (the route then wakes the evaluator)."""
    with make_session_factory(app.state.sevenfold.engine)() as session:
        result = failures.ingest_batch(
            session=session,
            clock=clock,
            reporter=failures.Reporter(
                device_id=device_id,
                tenant_id=rollout.tenant_id,
                product_id=None,
                device_group_id=None,
            ),
            batch=FailureBatch(events=events),
        )
    return result.counted_failure


def fail(
    app: FastAPI,
    clock: ManualClock,
    rollout: RolloutCase,
    kind: FailureKind,
    *device_ids: str,
) -> None:
    """Each device uploads one failure of ``kind`` that happened now."""
    for device_id in device_ids:
        upload(app, clock, rollout, device_id, event(kind, clock.now()))


def rollout_row(app: FastAPI, rollout_id: str) -> Rollout:
    """The rollout as stored now."""
    with make_session_factory(app.state.sevenfold.engine)() as session:
        row = session.get(Rollout, rollout_id)
        assert row is not None
        session.expunge(row)
        return row


def member(app: FastAPI, rollout_id: str, device_id: str) -> RolloutMember:
    """A member as stored now."""
    with make_session_factory(app.state.sevenfold.engine)() as session:
        row = session.get(RolloutMember, (rollout_id, device_id))
        assert row is not None
        session.expunge(row)
        return row


def members_of_wave(app: FastAPI, rollout_id: str, wave: int) -> list[str]:
    """The devices of one wave, in a stable order."""
    with make_session_factory(app.state.sevenfold.engine)() as session:
        return list(
            session.scalars(
                select(RolloutMember.device_id)
                .where(
                    RolloutMember.rollout_id == rollout_id,
                    RolloutMember.wave == wave,
                )
                .order_by(RolloutMember.device_id)
            )
        )


def opened_at(app: FastAPI, rollout_id: str) -> list[datetime | None]:
    """Each wave's ``opened_at``, in position order."""
    with make_session_factory(app.state.sevenfold.engine)() as session:
        return list(
            session.scalars(
                select(RolloutWave.opened_at)
                .where(RolloutWave.rollout_id == rollout_id)
                .order_by(RolloutWave.position)
            )
        )


def release_row(app: FastAPI, release_id: str) -> OsRelease:
    """The release as stored now."""
    with make_session_factory(app.state.sevenfold.engine)() as session:
        row = session.get(OsRelease, release_id)
        assert row is not None
        session.expunge(row)
        return row
