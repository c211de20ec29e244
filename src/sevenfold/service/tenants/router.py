"""Routes for tenants: platform administrators create; every principal sees its own."""

from fastapi import APIRouter, status

from sevenfold.service.api.deps import (
    Authenticated,
    CanManageTenants,
    ClockDep,
    SessionDep,
)
from sevenfold.service.api.params import ResourceId
from sevenfold.service.tenants import service
from sevenfold.service.tenants.schemas import TenantCreatedOut, TenantIn, TenantOut

router = APIRouter(prefix="/tenants", tags=["tenants"])


@router.post("", response_model=TenantCreatedOut, status_code=status.HTTP_201_CREATED)
def create_tenant(
    body: TenantIn, session: SessionDep, clock: ClockDep, principal: CanManageTenants
) -> TenantCreatedOut:
    """Create a tenant and its first administrator token (platform administrators)."""
    tenant, token_text = service.create_tenant_with_administrator(
        session=session, clock=clock, principal=principal, name=body.name
    )
    out = TenantOut.model_validate(tenant)
    return TenantCreatedOut(**out.model_dump(), administrator_token=token_text)


@router.get("", response_model=list[TenantOut])
def list_tenants(session: SessionDep, principal: Authenticated) -> list[TenantOut]:
    """List the tenants the caller can see."""
    tenants = service.list_tenants(session=session, principal=principal)
    return [TenantOut.model_validate(tenant) for tenant in tenants]


@router.get("/{tenant_id}", response_model=TenantOut)
def show_tenant(
    tenant_id: ResourceId, session: SessionDep, principal: Authenticated
) -> TenantOut:
    """Show one tenant."""
    tenant = service.get_tenant(
        session=session, principal=principal, tenant_id=tenant_id
    )
    return TenantOut.model_validate(tenant)
