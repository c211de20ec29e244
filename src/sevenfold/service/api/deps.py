"""FastAPI dependencies: the DB session, the clock, settings and the one role check.

Every operator route declares exactly one of the ``Can*`` aliases below; the route
table test walks the OpenAPI document to prove none is left unauthenticated.

FastAPI runs a plain ``def`` dependency in the threadpool, and every trip there costs
a thread hand-off on the request path. So the dependencies that do no I/O (the clock,
the settings, creating a session, which connects lazily) are ``async def`` and run on
the event loop; anything that touches the database (authentication, closing a
session that still holds a connection) still runs in a worker thread. Routes whose
work is all database work hand it over in one call with :func:`run_in_session`.
"""

from collections.abc import AsyncIterator, Callable
from typing import Annotated, TypeVar

import anyio
from fastapi import Depends, Request
from sqlalchemy.orm import Session

from sevenfold.protocol.clock import Clock
from sevenfold.service.access.permissions import Permission
from sevenfold.service.access.principal import Principal
from sevenfold.service.ca.service import CaCreated
from sevenfold.service.errors import PermissionDeniedError, UnauthenticatedError
from sevenfold.service.settings import ServiceSettings
from sevenfold.service.state import AppState
from sevenfold.service.tokens import service as token_service

T = TypeVar("T")


def app_state(request: Request) -> AppState:
    """Return the typed state the app factory stored."""
    state: AppState = request.app.state.sevenfold
    return state


async def get_session(request: Request) -> AsyncIterator[Session]:
    """Yield a session; uncommitted work is rolled back when the request ends.

    Making the session does no I/O (it connects on first use). Closing a session
    that is still in a transaction rolls back and returns its connection to the
    pool, so that runs in a worker thread, under a limiter of its own (as FastAPI
    does for ``def`` generator dependencies): a close never waits for a threadpool
    slot held by requests that wait for a connection. A session with no transaction
    (committed, or closed by :func:`run_in_session`) holds no connection, and closing
    it does no I/O.
    """
    session = app_state(request).session_factory()
    try:
        yield session
    finally:
        if session.in_transaction():
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(
                    session.close, limiter=anyio.CapacityLimiter(1)
                )
        else:
            session.close()


async def run_in_session(session: Session, work: Callable[[], T]) -> T:
    """Run a route's blocking database work in one worker-thread call.

    The session is closed at the end of that same call, whether the work succeeded
    or raised (so uncommitted work is rolled back, as with ``get_session``), and its
    connection goes back to the pool at once; nothing is left for another thread
    hand-off when the request ends.
    """

    def in_worker() -> T:
        try:
            return work()
        finally:
            session.close()

    return await anyio.to_thread.run_sync(in_worker)


async def get_clock(request: Request) -> Clock:
    """Return the injected clock."""
    return app_state(request).clock


async def get_settings(request: Request) -> ServiceSettings:
    """Return the settings the app was built with."""
    return app_state(request).settings


async def get_ca_created(request: Request) -> CaCreated:
    """Return what the CA service calls with each new CA (the app's listeners)."""
    return app_state(request).ca_listeners.notify


SessionDep = Annotated[Session, Depends(get_session)]
ClockDep = Annotated[Clock, Depends(get_clock)]
SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
CaCreatedDep = Annotated[CaCreated, Depends(get_ca_created)]


def _bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value:
        raise UnauthenticatedError(
            "send an API token as 'Authorization: Bearer <token>'"
        )
    return value.strip()


def require(permission: Permission) -> Callable[..., Principal]:
    """Return a dependency that authenticates the caller and checks one permission."""

    def dependency(request: Request, session: SessionDep, clock: ClockDep) -> Principal:
        principal = token_service.authenticate(
            session=session,
            clock=clock,
            token_text=_bearer_token(request),
            source_ip=request.client.host if request.client else None,
        )
        if permission not in principal.permissions:
            raise PermissionDeniedError(
                f"this token's role does not allow '{permission.value}'"
            )
        return principal

    return dependency


CanRead = Annotated[Principal, Depends(require(Permission.READ))]
CanWrite = Annotated[Principal, Depends(require(Permission.WRITE))]
CanDelete = Annotated[Principal, Depends(require(Permission.DELETE))]
CanManageAccess = Annotated[Principal, Depends(require(Permission.MANAGE_ACCESS))]
CanReadAudit = Annotated[Principal, Depends(require(Permission.READ_AUDIT))]
CanRegisterDevices = Annotated[Principal, Depends(require(Permission.REGISTER_DEVICES))]
CanManageTenants = Annotated[Principal, Depends(require(Permission.MANAGE_TENANTS))]
CanManageManufacturerKeys = Annotated[
    Principal, Depends(require(Permission.MANAGE_MANUFACTURER_KEYS))
]


def require_any_principal(
    request: Request, session: SessionDep, clock: ClockDep
) -> Principal:
    """Authenticate without checking a permission (routes that filter by role)."""
    return token_service.authenticate(
        session=session,
        clock=clock,
        token_text=_bearer_token(request),
        source_ip=request.client.host if request.client else None,
    )


Authenticated = Annotated[Principal, Depends(require_any_principal)]
