"""Routes to create, list and revoke API tokens (tenant administrators)."""

from fastapi import APIRouter, status

from sevenfold.service.api.deps import CanManageAccess, ClockDep, SessionDep
from sevenfold.service.api.params import ResourceId
from sevenfold.service.errors import InvalidRequestError
from sevenfold.service.tokens import service
from sevenfold.service.tokens.schemas import TokenCreatedOut, TokenIn, TokenOut

router = APIRouter(prefix="/tokens", tags=["tokens"])


@router.post("", response_model=TokenCreatedOut, status_code=status.HTTP_201_CREATED)
def create_token(
    body: TokenIn, session: SessionDep, clock: ClockDep, principal: CanManageAccess
) -> TokenCreatedOut:
    """Create a token; its text is in the response and nowhere else."""
    if body.role is None and body.platform_role is None:
        raise InvalidRequestError("a token needs a role or a platform role")
    token, text = service.create_token(
        session=session,
        clock=clock,
        principal=principal,
        tenant_id=principal.require_tenant() if body.role is not None else None,
        name=body.name,
        role=body.role,
        platform_role=body.platform_role,
        expires_in_days=body.expires_in_days,
    )
    return TokenCreatedOut.model_validate(
        {**TokenOut.model_validate(token).model_dump(), "token": text}
    )


@router.get("", response_model=list[TokenOut])
def list_tokens(session: SessionDep, principal: CanManageAccess) -> list[TokenOut]:
    """List the tenant's tokens (without secrets)."""
    tokens = service.list_tokens(session=session, tenant_id=principal.require_tenant())
    return [TokenOut.model_validate(token) for token in tokens]


@router.delete("/{token_id}", response_model=TokenOut)
def revoke_token(
    token_id: ResourceId,
    session: SessionDep,
    clock: ClockDep,
    principal: CanManageAccess,
) -> TokenOut:
    """Revoke a token; it stops working at once."""
    token = service.revoke_token(
        session=session, clock=clock, principal=principal, token_id=token_id
    )
    return TokenOut.model_validate(token)
