"""Hypothesis walks the OS release life (publish, promote, cancel, withdraw, time
passing, the promoter) against a model, on a real migrated database.

Invariants: no release ever moves outside ``RELEASE_TRANSITIONS`` (stored state and
audit log agree with the model), versions increase in publication order, and the
retail feed never offers a cancelled or withdrawn release.
"""

import hashlib
import json
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.problems import ProblemCode
from sevenfold.protocol.updates import (
    RELEASE_TRANSITIONS,
    ImageType,
    ReleaseAction,
    ReleaseState,
    version_sort_key,
)
from sevenfold.protocol.vocabulary import OsFeed, PlatformRole
from sevenfold.service.access.principal import Principal
from sevenfold.service.audit.models import AuditEvent
from sevenfold.service.db.engine import make_engine, make_session_factory
from sevenfold.service.errors import ConflictError
from sevenfold.service.images.models import Image
from sevenfold.service.releases import service as releases
from sevenfold.service.releases.models import OsRelease
from sevenfold.service.releases.promotion import promote_due

DAY_S = 86_400
PLATFORM = Principal(
    token_id="platform-token",
    token_name="platform administrator",
    tenant_id=None,
    role=None,
    platform_role=PlatformRole.PLATFORM_ADMINISTRATOR,
    permissions=frozenset(),
)
versions = st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 2)).map(
    lambda parts: ".".join(str(part) for part in parts)
)


@dataclass
class ModelRelease:
    """What the model expects of one release."""

    version_key: str
    state: ReleaseState
    promote_at: datetime

    def effective(self, now: datetime) -> ReleaseState:
        if self.state is ReleaseState.RETAIL_EVAL and self.promote_at <= now:
            return ReleaseState.RETAIL
        return self.state


class ReleaseMachine(RuleBasedStateMachine):
    """The release service against a dictionary model."""

    template: Path

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="releases-"))
        shutil.copy(self.template, self.directory / "db.sqlite")
        self.engine = make_engine(f"sqlite:///{self.directory / 'db.sqlite'}")
        self.session_factory = make_session_factory(self.engine)
        self.clock = ManualClock()
        self.model: dict[str, ModelRelease] = {}
        self.published_order: list[str] = []

    def teardown(self) -> None:
        self.engine.dispose()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _os_image(self, version: str) -> str:
        image_id = str(uuid.uuid4())
        with self.session_factory() as session:
            session.add(
                Image(
                    id=image_id, tenant_id=None, kind=ImageType.OS.value,
                    component_id="00000000-0000-4000-8000-000000000001",
                    name="OS", version=version, version_key=version_sort_key(version),
                    security_version=0,
                    sha256=hashlib.sha256(image_id.encode()).hexdigest(),
                    size_bytes=1, payload_sha256="0" * 64, payload_bytes=1,
                    entry_point=None, capabilities=[], signing_key_id="0" * 64,
                    manifest_json=json.dumps({}), uploaded_at=self.clock.now(),
                )
            )  # fmt: skip
            session.commit()
        return image_id

    def _publish(self, session: Session, image_id: str, window_days: int) -> OsRelease:
        return releases.publish_release(
            session=session, clock=self.clock, principal=PLATFORM,
            image_id=image_id, eval_window_days=window_days, note=None,
        )  # fmt: skip

    def _move(
        self, session: Session, release_id: str, action: ReleaseAction
    ) -> OsRelease:
        return releases.transition_release(
            session=session, clock=self.clock, principal=PLATFORM,
            release_id=release_id, action=action, reason="machine",
        )  # fmt: skip

    @rule(version=versions, window_days=st.integers(0, 3))
    def publish(self, version: str, window_days: int) -> None:
        key = version_sort_key(version)
        newer = all(key > known.version_key for known in self.model.values())
        image_id = self._os_image(version)
        with self.session_factory() as session:
            if not newer:
                with pytest.raises(ConflictError) as refused:
                    self._publish(session, image_id, window_days)
                assert refused.value.code is ProblemCode.RELEASE_VERSION_NOT_NEWER
                return
            release = self._publish(session, image_id, window_days)
            self.model[release.id] = ModelRelease(
                key,
                ReleaseState.RETAIL_EVAL,
                self.clock.now() + timedelta(days=window_days),
            )
            self.published_order.append(release.id)

    @rule(action=st.sampled_from(ReleaseAction), pick=st.integers(0, 50))
    def act(self, action: ReleaseAction, pick: int) -> None:
        if not self.model:
            return
        release_id = self.published_order[pick % len(self.published_order)]
        expected = self.model[release_id]
        current = expected.effective(self.clock.now())
        target = RELEASE_TRANSITIONS.get((current, action))
        with self.session_factory() as session:
            if target is None:
                with pytest.raises(ConflictError) as refused:
                    self._move(session, release_id, action)
                assert refused.value.code is ProblemCode.INVALID_RELEASE_TRANSITION
                return
            moved = self._move(session, release_id, action)
            assert moved.state == target.value
            expected.state = target

    @rule(seconds=st.integers(0, 2 * DAY_S))
    def tick(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule()
    def promoter_runs(self) -> None:
        now = self.clock.now()
        with self.session_factory() as session:
            promoted = {release.id for release in promote_due(session, self.clock)}
        due = {
            release_id
            for release_id, known in self.model.items()
            if known.state is ReleaseState.RETAIL_EVAL and known.promote_at <= now
        }
        assert promoted == due
        for release_id in due:
            self.model[release_id].state = ReleaseState.RETAIL

    @invariant()
    def stored_states_match_the_model(self) -> None:
        with self.session_factory() as session:
            stored = {
                row.id: (row.state, row.version_key)
                for row in session.scalars(select(OsRelease)).all()
            }
        assert stored == {
            release_id: (known.state.value, known.version_key)
            for release_id, known in self.model.items()
        }

    @invariant()
    def versions_increase_in_publication_order(self) -> None:
        keys = [
            self.model[release_id].version_key for release_id in self.published_order
        ]
        assert keys == sorted(set(keys))

    @invariant()
    def every_audited_move_is_in_the_table(self) -> None:
        with self.session_factory() as session:
            events = session.scalars(
                select(AuditEvent).where(AuditEvent.target_type == "os-release")
            ).all()
        for event in events:
            action = event.action.removeprefix("os-release.")
            if action == "publish":
                continue
            source = ReleaseState(event.details["from"])
            target = ReleaseState(event.details["to"])
            assert RELEASE_TRANSITIONS[(source, ReleaseAction(action))] is target

    @invariant()
    def feeds_offer_only_good_releases(self) -> None:
        now = self.clock.now()
        for feed, visible in (
            (OsFeed.RETAIL, {ReleaseState.RETAIL}),
            (OsFeed.RETAIL_EVAL, {ReleaseState.RETAIL, ReleaseState.RETAIL_EVAL}),
        ):
            candidates = [
                (known.version_key, release_id)
                for release_id, known in self.model.items()
                if known.effective(now) in visible
            ]
            with self.session_factory() as session:
                offered = releases.newest_release_for_feed(session, feed, now)
                offered_id = offered.id if offered else None
            assert offered_id == (max(candidates)[1] if candidates else None)
            if offered_id is not None:
                assert self.model[offered_id].state not in {
                    ReleaseState.CANCELLED,
                    ReleaseState.WITHDRAWN,
                }


def test_release_life_never_leaves_the_transition_table(sqlite_template: Path) -> None:
    """Random publish/promote/cancel/withdraw/tick sequences keep every invariant."""
    ReleaseMachine.template = sqlite_template
    run_state_machine_as_test(
        ReleaseMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
