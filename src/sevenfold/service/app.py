"""The app factory: ``create_app(settings)`` builds one independent service instance.

The factory owns the engine and the background operation runner through the
lifespan; nothing is module-global, so tests and benchmarks can run many apps.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI
from sqlalchemy import Engine

from sevenfold import __version__
from sevenfold.protocol.clock import Clock, SystemClock
from sevenfold.service.api import health
from sevenfold.service.api.body_limit import BodyLimitMiddleware
from sevenfold.service.api.metrics import MetricsMiddleware, RequestMetrics
from sevenfold.service.api.problems import PROBLEM_RESPONSES, install_problem_handlers
from sevenfold.service.attestation.router import (
    device_router as attestation_device_router,
)
from sevenfold.service.attestation.router import router as attestation_router
from sevenfold.service.audit.router import router as audit_router
from sevenfold.service.ca.key_encryption_key import (
    KeyEncryptionKey,
    load_key_encryption_key,
)
from sevenfold.service.ca.listeners import CaListeners
from sevenfold.service.ca.router import router as ca_router
from sevenfold.service.capabilities.router import (
    device_router as capabilities_device_router,
)
from sevenfold.service.capabilities.router import router as capabilities_router
from sevenfold.service.db.engine import make_engine, make_session_factory
from sevenfold.service.db.migrate import migration_status
from sevenfold.service.deployments.router import router as deployments_router
from sevenfold.service.device_auth.router import router as device_auth_router
from sevenfold.service.devices.router import router as devices_router
from sevenfold.service.errors import DatabaseNotReadyError
from sevenfold.service.failures.device_router import (
    router as failures_device_router,
)
from sevenfold.service.failures.retention import FailureEventSweeper
from sevenfold.service.failures.router import router as failures_router
from sevenfold.service.images.artifact_store import FileArtifactStore
from sevenfold.service.images.router import UPLOAD_ROUTE
from sevenfold.service.images.router import router as images_router
from sevenfold.service.manufacturing.router import router as manufacturing_router
from sevenfold.service.operations.router import router as operations_router
from sevenfold.service.operations.runner import OperationRunner
from sevenfold.service.products.router import router as products_router
from sevenfold.service.releases.promotion import ReleasePromoter
from sevenfold.service.releases.router import router as releases_router
from sevenfold.service.rollouts.evaluator import evaluator_from_settings
from sevenfold.service.rollouts.router import router as rollouts_router
from sevenfold.service.settings import ServiceSettings
from sevenfold.service.state import AppState
from sevenfold.service.tenants.router import router as tenants_router
from sevenfold.service.tokens.router import router as tokens_router
from sevenfold.service.updates.device_router import router as updates_device_router
from sevenfold.service.updates.router import router as updates_router

API_PREFIX = "/api/v1"


def create_app(
    settings: ServiceSettings,
    *,
    clock: Clock | None = None,
    engine: Engine | None = None,
    run_operations: bool = True,
) -> FastAPI:
    """Build the service.

    Args:
        settings: the one settings object.
        clock: time source (the system clock unless a test or simulator injects one).
        engine: an existing engine to share; one is made from settings otherwise.
        run_operations: run the background operation runner in this process.

    Raises:
        KeyEncryptionKeyError: the key-encryption key file is unusable.
        WebhookSecretError: the rollout webhook's secret file is unusable.
    """
    key_encryption_key = _key_encryption_key(settings)
    engine = engine or make_engine(settings.effective_database_url)
    session_factory = make_session_factory(engine)
    clock = clock or SystemClock()
    state = AppState(
        settings=settings,
        clock=clock,
        engine=engine,
        session_factory=session_factory,
        key_encryption_key=key_encryption_key,
        ca_listeners=CaListeners(),
        artifact_store=FileArtifactStore(settings.effective_artifact_dir),
        rollout_evaluator=evaluator_from_settings(
            settings, session_factory=session_factory, clock=clock
        ),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        status = migration_status(engine)
        if not status.ready:
            raise DatabaseNotReadyError(status.detail)
        async with contextlib.AsyncExitStack() as stack:
            if run_operations:
                runner = OperationRunner(
                    session_factory=state.session_factory,
                    clock=state.clock,
                    poll_interval_s=settings.job_poll_interval_s,
                    batch_size=settings.bulk_claim_batch_size,
                )
                task = asyncio.create_task(runner.run_forever(), name="operations")
                stack.callback(task.cancel)
                promoter = ReleasePromoter(
                    session_factory=state.session_factory,
                    clock=state.clock,
                    poll_interval_s=settings.release_promotion_interval_s,
                )
                promotions = asyncio.create_task(
                    promoter.run_forever(), name="release-promotions"
                )
                stack.callback(promotions.cancel)
                evaluations = asyncio.create_task(
                    state.rollout_evaluator.run_forever(), name="rollout-evaluator"
                )
                stack.callback(evaluations.cancel)
                stack.callback(state.rollout_evaluator.close)
                sweeper = FailureEventSweeper(
                    session_factory=state.session_factory,
                    clock=state.clock,
                    retention_days=settings.failure_event_retention_days,
                )
                sweeps = asyncio.create_task(
                    sweeper.run_forever(), name="failure-event-retention"
                )
                stack.callback(sweeps.cancel)
            yield

    app = FastAPI(
        title="Sevenfold security service",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.sevenfold = state
    app.state.metrics = RequestMetrics()
    install_problem_handlers(app)

    api = APIRouter(prefix=API_PREFIX, responses=PROBLEM_RESPONSES)
    for router in (
        tenants_router,
        tokens_router,
        audit_router,
        devices_router,
        manufacturing_router,
        operations_router,
        products_router,
        ca_router,
        attestation_router,
        attestation_device_router,
        device_auth_router,
        releases_router,
        rollouts_router,
        deployments_router,
        images_router,
        updates_router,
        updates_device_router,
        capabilities_router,
        capabilities_device_router,
        failures_router,
        failures_device_router,
    ):
        api.include_router(router)
    app.include_router(api)
    app.include_router(health.router)

    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        exempt_routes=frozenset({("POST", API_PREFIX + UPLOAD_ROUTE)}),
    )
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app


def _key_encryption_key(settings: ServiceSettings) -> KeyEncryptionKey | None:
    """Load the KEK once; None when none is configured and the default file is absent.

    Without a KEK the service runs but has no CA (its CA routes answer 503);
    ``sevenfold serve`` refuses to start that way.

    Raises:
        KeyEncryptionKeyError: a configured file is missing, or a file is unsafe.
    """
    path = settings.effective_key_encryption_key_file
    if settings.key_encryption_key_file is None and not path.exists():
        return None
    return load_key_encryption_key(path)
