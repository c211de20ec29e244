"""Liveness, readiness and metrics endpoints (unauthenticated, no tenant data)."""

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sevenfold.protocol.problems import ProblemCode
from sevenfold.service.api.deps import app_state
from sevenfold.service.api.metrics import RequestMetrics
from sevenfold.service.api.problems import problem_response
from sevenfold.service.db.migrate import migration_status

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
def readyz(request: Request) -> JSONResponse | dict[str, str]:
    """The database is reachable and migrated to this code's revision."""
    status = migration_status(app_state(request).engine)
    if not status.ready:
        return problem_response(ProblemCode.DATABASE_NOT_READY, status.detail)
    return {"status": "ready", "revision": status.current or ""}


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text exposition."""
    registry: RequestMetrics = request.app.state.metrics
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)
