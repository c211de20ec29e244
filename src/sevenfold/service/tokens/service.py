"""Issuing, authenticating, listing and revoking operator API tokens.

Rules: the secret is shown once and only its hash is stored; comparison is
constant-time; an expired or revoked token authenticates nothing; a tenant
administrator can only mint roles inside its own tenant and never a platform role.
"""

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from sevenfold.crypto.api_tokens import issue_token, secret_matches, split_token
from sevenfold.protocol.clock import Clock
from sevenfold.protocol.vocabulary import PlatformRole, Role
from sevenfold.service.access.permissions import permissions_for
from sevenfold.service.access.principal import Principal
from sevenfold.service.audit import service as audit
from sevenfold.service.errors import (
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from sevenfold.service.tokens.models import ApiToken

_UNAUTHENTICATED = "the API token is unknown, expired or revoked"


def authenticate(
    *, session: Session, clock: Clock, token_text: str, source_ip: str | None
) -> Principal:
    """Return the principal of a bearer token.

    Raises:
        UnauthenticatedError: malformed, unknown, expired or revoked token. The
            message is the same for each so it reveals nothing.
    """
    parts = split_token(token_text)
    if parts is None:
        raise UnauthenticatedError(_UNAUTHENTICATED)
    token_id, secret = parts
    token = session.get(ApiToken, token_id)
    if token is None or not secret_matches(secret, token.secret_hash):
        raise UnauthenticatedError(_UNAUTHENTICATED)
    if token.revoked_at is not None or token.expires_at <= clock.now():
        raise UnauthenticatedError(_UNAUTHENTICATED)
    role = Role(token.role) if token.role else None
    platform_role = PlatformRole(token.platform_role) if token.platform_role else None
    return Principal(
        token_id=token.id,
        token_name=token.name,
        tenant_id=token.tenant_id,
        role=role,
        platform_role=platform_role,
        permissions=permissions_for(role, platform_role),
        source_ip=source_ip,
    )


def create_token(
    *,
    session: Session,
    clock: Clock,
    principal: Principal | None,
    tenant_id: str | None,
    name: str,
    role: Role | None,
    platform_role: PlatformRole | None,
    expires_in_days: int,
) -> tuple[ApiToken, str]:
    """Create a token; return the row and the token text (shown once, never stored).

    ``principal`` is None only for ``sevenfold init`` bootstrapping the first tenant.

    Raises:
        PermissionDeniedError: the caller may not mint a platform role.
    """
    if platform_role is not None and (
        principal is not None and not principal.is_platform_administrator
    ):
        raise PermissionDeniedError(
            "only a platform administrator grants platform roles"
        )
    issued = issue_token()
    now = clock.now()
    token = ApiToken(
        id=issued.token_id,
        tenant_id=tenant_id,
        name=name,
        role=role.value if role else None,
        platform_role=platform_role.value if platform_role else None,
        secret_hash=issued.secret_hash,
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days),
        created_by=principal.token_id if principal else None,
    )
    session.add(token)
    audit.record(
        session=session,
        clock=clock,
        principal=principal,
        tenant_id=tenant_id,
        action="token.create",
        target_type="token",
        target_id=token.id,
        details={
            "name": name,
            "role": token.role,
            "platform_role": token.platform_role,
            "expires_at": token.expires_at.isoformat(),
        },
        actor_name=None if principal else "sevenfold init",
    )
    session.commit()
    return token, issued.text


def list_tokens(*, session: Session, tenant_id: str) -> Sequence[ApiToken]:
    """Return a tenant's tokens, newest first."""
    query = (
        select(ApiToken)
        .where(ApiToken.tenant_id == tenant_id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id)
    )
    return session.scalars(query).all()


def revoke_token(
    *, session: Session, clock: Clock, principal: Principal, token_id: str
) -> ApiToken:
    """Revoke a token of the caller's tenant (idempotent).

    Raises:
        NotFoundError: no such token in the caller's tenant.
    """
    tenant_id = principal.require_tenant()
    token = session.get(ApiToken, token_id)
    if token is None or token.tenant_id != tenant_id:
        raise NotFoundError(f"no token '{token_id}' in this tenant")
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        audit.record(
            session=session,
            clock=clock,
            principal=principal,
            tenant_id=tenant_id,
            action="token.revoke",
            target_type="token",
            target_id=token.id,
            details={"name": token.name},
        )
        session.commit()
    return token
