"""The rollout evaluator: opens waves, completes rollouts and halts those that hurt
devices (docs/failures.md §3-4).

Every ``rollout_evaluation_interval_s``, and at once when a counted failure arrives
(:meth:`RolloutEvaluator.wake`), each running rollout is taken in its own
transaction: first judged (a rollout that must halt opens nothing more), then its
waves that may open are opened, and it completes once every wave is open and the
last has soaked. Every transition goes through ``service.apply_action`` (a
conditional update, so an operator's pause and a halt cannot both win), audited by
the system actor.

A halt is followed by the webhook, delivered on a small thread pool: outside any
transaction, and never holding up the judgement of other rollouts.
"""

import asyncio
import contextlib
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sevenfold.protocol.clock import Clock
from sevenfold.protocol.rollouts import (
    Judgement,
    RolloutAction,
    RolloutState,
    rollout_complete,
    wave_may_open,
)
from sevenfold.protocol.updates import ReleaseState
from sevenfold.service.audit import service as audit
from sevenfold.service.errors import ConflictError
from sevenfold.service.releases.models import OsRelease
from sevenfold.service.rollouts import judgement as judging
from sevenfold.service.rollouts.models import Rollout, RolloutWave
from sevenfold.service.rollouts.service import (
    EVALUATOR_ACTOR,
    TARGET_OS_RELEASE,
    apply_action,
    wave_specs,
)
from sevenfold.service.rollouts.webhook import (
    HaltNotice,
    HaltWebhook,
    load_webhook_secret,
)
from sevenfold.service.settings import ServiceSettings

log = logging.getLogger(__name__)

DELIVERY_WORKERS = 4
MAX_REASON_CHARS = 300


@dataclass(slots=True)
class EvaluationResult:
    """What one tick did: waves opened (rollout id, position), rollouts completed
    and halted, and the webhook deliveries it started (True when delivered)."""

    opened: list[tuple[str, int]] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    halted: list[str] = field(default_factory=list)
    deliveries: list["Future[bool]"] = field(default_factory=list)


def halt_reason(rollout: Rollout, verdict: Judgement, kinds: dict[str, int]) -> str:
    """E.g. "3 of 12 devices (25.0 %) that ran the update failed (update-failure 2,
    rollback 1); threshold 10 %, minimum 5"."""
    by_kind = ", ".join(
        f"{kind} {count}"
        for kind, count in sorted(kinds.items(), key=lambda item: (-item[1], item[0]))
    )
    return (
        f"{verdict.failed} of {verdict.ran} devices ({verdict.failure_percent:.1f} %) "
        f"that ran the update failed ({by_kind}); threshold "
        f"{rollout.threshold_percent:g} %, minimum {rollout.min_devices}"
    )[:MAX_REASON_CHARS]


def _notice(rollout: Rollout, verdict: Judgement, kinds: dict[str, int]) -> HaltNotice:
    halted_at = rollout.halted_at
    payload: dict[str, Any] = {
        "id": rollout.id,
        "tenant_id": rollout.tenant_id,
        "target": {
            "kind": rollout.target_kind,
            "os_release_id": rollout.os_release_id,
            "os_feed": rollout.os_feed,
            "deployment_id": rollout.deployment_id,
            "device_group_id": rollout.device_group_id,
        },
        "state": rollout.state,
        "halt_reason": rollout.halt_reason,
        "halted_at": None if halted_at is None else halted_at.isoformat(),
        "judgement": {
            "ran": verdict.ran,
            "failed": verdict.failed,
            "failure_percent": round(verdict.failure_percent, 3),
            "failure_kinds": kinds,
            "threshold_percent": rollout.threshold_percent,
            "min_devices": rollout.min_devices,
            "judged_since": rollout.judged_since.isoformat(),
        },
    }
    return HaltNotice(rollout_id=rollout.id, payload=payload)


class RolloutEvaluator:
    """Runs the rollouts' clockwork; :meth:`run_forever` in the app's lifespan."""

    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        clock: Clock,
        interval_s: float,
        webhook: HaltWebhook | None,
    ) -> None:
        self._session_factory = session_factory
        self._clock = clock
        self._interval_s = interval_s
        self._webhook = webhook
        self._deliveries = _delivery_pool()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._ticks = 0

    @property
    def ticks(self) -> int:
        """Ticks :meth:`run_forever` has finished (for health checks and tests)."""
        return self._ticks

    def run_once(self) -> EvaluationResult:
        """One tick over every running rollout, each in its own transaction (a
        failing rollout is logged and does not stop the others)."""
        result = EvaluationResult()
        with self._session_factory() as session:
            running = list(
                session.scalars(
                    select(Rollout.id)
                    .where(Rollout.state == RolloutState.RUNNING.value)
                    .order_by(Rollout.created_at, Rollout.id)
                )
            )
        for rollout_id in running:
            try:
                with self._session_factory() as session:
                    notice = self._evaluate(session, rollout_id, result)
            except Exception:  # one broken rollout must not stop the others
                log.exception("rollout.evaluator.error id=%s", rollout_id)
                continue
            if notice is not None and self._webhook is not None:
                result.deliveries.append(
                    self._deliveries.submit(self._webhook.deliver, notice)
                )
        return result

    def _evaluate(
        self, session: Session, rollout_id: str, result: EvaluationResult
    ) -> HaltNotice | None:
        rollout = session.get(Rollout, rollout_id)
        if rollout is None or rollout.state != RolloutState.RUNNING.value:
            return None
        now = self._clock.now()
        verdict = judging.judge_rollout(session, rollout, now)
        if verdict.halt:
            return self._halt(session, rollout, verdict, now, result)
        waves = sorted(
            session.scalars(
                select(RolloutWave).where(RolloutWave.rollout_id == rollout.id)
            ),
            key=lambda wave: wave.position,
        )
        specs = wave_specs(waves)
        opened: list[datetime | None] = [wave.opened_at for wave in waves]
        for index, wave in enumerate(waves):
            if wave.opened_at is not None:
                continue
            if not wave_may_open(index, specs, opened, now):
                break
            wave.opened_at = now
            opened[index] = now
            result.opened.append((rollout.id, index))
            log.info("rollout.wave-opened id=%s wave=%d", rollout.id, index)
        if waves and rollout_complete(specs, opened, now):
            if not self._apply(session, rollout, RolloutAction.COMPLETE, None):
                return None
            result.completed.append(rollout.id)
            log.info("rollout.completed id=%s", rollout.id)
        session.commit()
        return None

    def _halt(
        self,
        session: Session,
        rollout: Rollout,
        verdict: Judgement,
        now: datetime,
        result: EvaluationResult,
    ) -> HaltNotice | None:
        kinds = judging.failure_kinds(session, rollout)
        crossing_at = judging.latest_failure_at(session, rollout)
        reason = halt_reason(rollout, verdict, kinds)
        if not self._apply(session, rollout, RolloutAction.HALT, reason):
            return None
        if rollout.target_kind == TARGET_OS_RELEASE:
            self._flag_release(session, rollout, reason, now)
        notice = _notice(rollout, verdict, kinds)
        session.commit()
        result.halted.append(rollout.id)
        latency_ms = (
            -1
            if crossing_at is None
            else round((now - crossing_at).total_seconds() * 1000)
        )
        log.warning(
            "rollout.halted id=%s latency_ms=%d ran=%d failed=%d",
            rollout.id,
            latency_ms,
            verdict.ran,
            verdict.failed,
        )
        return notice

    def _apply(
        self,
        session: Session,
        rollout: Rollout,
        action: RolloutAction,
        reason: str | None,
    ) -> bool:
        """Apply an evaluator action; False (rolled back) when an operator moved
        the rollout first."""
        try:
            apply_action(
                session,
                rollout,
                action,
                principal=None,
                clock=self._clock,
                reason=reason,
            )
        except ConflictError:
            session.rollback()
            log.info("rollout.%s.skipped id=%s (moved meanwhile)", action, rollout.id)
            return False
        return True

    def _flag_release(
        self, session: Session, rollout: Rollout, reason: str, now: datetime
    ) -> None:
        """A halted rollout of a ``retail-eval`` release flags it for cancellation
        review: it is then neither promoted automatically nor seen as due by the
        retail feed (``releases.service``), until an operator decides."""
        release = session.get(OsRelease, rollout.os_release_id)
        if (
            release is None
            or release.state != ReleaseState.RETAIL_EVAL.value
            or release.review_flagged_at is not None
        ):
            return
        release.review_flagged_at = now
        release.review_reason = f"rollout {rollout.id} halted: {reason}"[
            :MAX_REASON_CHARS
        ]
        audit.record(
            session=session,
            clock=self._clock,
            principal=None,
            tenant_id=None,
            action="os-release.review-flag",
            target_type="os-release",
            target_id=release.id,
            details={"version": release.version, "rollout_id": rollout.id},
            actor_name=EVALUATOR_ACTOR,
        )

    def wake(self) -> None:
        """Evaluate at once (a counted failure arrived). Thread-safe: request
        handlers run in worker threads. Does nothing while not running."""
        loop, wakeup = self._loop, self._wakeup
        if loop is None or wakeup is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(wakeup.set)

    async def run_forever(self) -> None:
        """Tick every ``interval_s`` or when woken; survive database errors by
        logging and trying again. A wake during a tick causes one more tick, so a
        crossing failure is judged within one tick of its arrival."""
        self._loop = asyncio.get_running_loop()
        self._wakeup = wakeup = asyncio.Event()
        try:
            while True:
                wakeup.clear()
                try:
                    await asyncio.to_thread(self.run_once)
                except asyncio.CancelledError:
                    raise
                except Exception:  # a failing tick must not stop later ones
                    log.exception("rollout.evaluator.error")
                self._ticks += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), timeout=self._interval_s)
        finally:
            self._loop = None
            self._wakeup = None

    def close(self, *, wait: bool = False) -> None:
        """Let go of the webhook deliveries (queued ones are dropped unless
        ``wait``); a later tick starts a fresh pool (an app may start again)."""
        pool, self._deliveries = self._deliveries, _delivery_pool()
        pool.shutdown(wait=wait, cancel_futures=not wait)


def _delivery_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(
        max_workers=DELIVERY_WORKERS, thread_name_prefix="rollout-webhook"
    )


def evaluator_from_settings(
    settings: ServiceSettings,
    *,
    session_factory: sessionmaker[Session],
    clock: Clock,
) -> RolloutEvaluator:
    """The evaluator the settings describe; the webhook's secret is read here,
    once (no webhook when no URL is configured).

    Raises:
        WebhookSecretError: the configured secret file is unusable.
    """
    webhook = None
    if settings.rollout_webhook_url is not None:
        secret_file = settings.rollout_webhook_secret_file
        webhook = HaltWebhook(
            url=settings.rollout_webhook_url,
            secret=None if secret_file is None else load_webhook_secret(secret_file),
            session_factory=session_factory,
            clock=clock,
        )
    return RolloutEvaluator(
        session_factory=session_factory,
        clock=clock,
        interval_s=settings.rollout_evaluation_interval_s,
        webhook=webhook,
    )
