"""Creating and reading tenants; ``bootstrap`` is what ``sevenfold init`` runs."""

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sevenfold.protocol.clock import Clock
from sevenfold.protocol.problems import ProblemCode
from sevenfold.protocol.vocabulary import PlatformRole, Role
from sevenfold.service.access.principal import Principal
from sevenfold.service.audit import service as audit
from sevenfold.service.db.ids import new_id
from sevenfold.service.errors import ConflictError, NotFoundError
from sevenfold.service.tenants.models import Tenant
from sevenfold.service.tokens import service as token_service

BOOTSTRAP_TOKEN_DAYS = 365


def create_tenant(
    *, session: Session, clock: Clock, principal: Principal | None, name: str
) -> Tenant:
    """Create a tenant.

    Raises:
        ConflictError: a tenant with that name (case-insensitively) exists.
    """
    tenant = Tenant(
        id=new_id(), name=name, name_key=name.casefold(), created_at=clock.now()
    )
    session.add(tenant)
    try:
        session.flush()
    except IntegrityError as err:
        session.rollback()
        raise ConflictError(
            f"a tenant named '{name}' already exists", code=ProblemCode.NAME_CONFLICT
        ) from err
    audit.record(
        session=session,
        clock=clock,
        principal=principal,
        tenant_id=tenant.id,
        action="tenant.create",
        target_type="tenant",
        target_id=tenant.id,
        details={"name": name},
        actor_name=None if principal else "sevenfold init",
    )
    session.commit()
    return tenant


def bootstrap(
    *, session: Session, clock: Clock, tenant_name: str
) -> tuple[Tenant, str]:
    """Create the first tenant and its administrator token (also platform admin).

    Returns the tenant and the token text, which is printed once and never stored.

    Raises:
        ConflictError: the database already has a tenant.
    """
    if session.scalar(select(func.count()).select_from(Tenant)):
        raise ConflictError("this service is already initialized")
    tenant = create_tenant(
        session=session, clock=clock, principal=None, name=tenant_name
    )
    _, text = token_service.create_token(
        session=session,
        clock=clock,
        principal=None,
        tenant_id=tenant.id,
        name="initial administrator",
        role=Role.ADMINISTRATOR,
        platform_role=PlatformRole.PLATFORM_ADMINISTRATOR,
        expires_in_days=BOOTSTRAP_TOKEN_DAYS,
    )
    return tenant, text


def create_tenant_with_administrator(
    *, session: Session, clock: Clock, principal: Principal, name: str
) -> tuple[Tenant, str]:
    """Create a tenant and the first administrator token of it (shown once)."""
    tenant = create_tenant(session=session, clock=clock, principal=principal, name=name)
    _, text = token_service.create_token(
        session=session,
        clock=clock,
        principal=principal,
        tenant_id=tenant.id,
        name="first administrator",  # the tenant name may already be 100 chars
        role=Role.ADMINISTRATOR,
        platform_role=None,
        expires_in_days=BOOTSTRAP_TOKEN_DAYS,
    )
    return tenant, text


def list_tenants(*, session: Session, principal: Principal) -> Sequence[Tenant]:
    """All tenants for the platform administrator; one's own for anyone else."""
    query = select(Tenant).order_by(Tenant.name_key)
    if not principal.is_platform_administrator:
        query = query.where(Tenant.id == principal.tenant_id)
    return session.scalars(query).all()


def get_tenant(*, session: Session, principal: Principal, tenant_id: str) -> Tenant:
    """Return a tenant the caller may see.

    Raises:
        NotFoundError: no such tenant, or not the caller's.
    """
    tenant = session.get(Tenant, tenant_id)
    visible = principal.is_platform_administrator or principal.tenant_id == tenant_id
    if tenant is None or not visible:
        raise NotFoundError(f"no tenant '{tenant_id}'")
    return tenant
