"""The authenticated caller of an operator route, and where the call came from."""

from dataclasses import dataclass

from sevenfold.protocol.vocabulary import PlatformRole, Role
from sevenfold.service.access.permissions import Permission
from sevenfold.service.errors import PermissionDeniedError


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """An API token that authenticated, with what it may do."""

    token_id: str
    token_name: str
    tenant_id: str | None
    role: Role | None
    platform_role: PlatformRole | None
    permissions: frozenset[Permission]
    source_ip: str | None = None

    def require_tenant(self) -> str:
        """Return the caller's tenant, or refuse a tenant-less (platform) credential."""
        if self.tenant_id is None:
            raise PermissionDeniedError("this credential is not bound to a tenant")
        return self.tenant_id

    @property
    def is_platform_administrator(self) -> bool:
        """True for the platform administrator."""
        return self.platform_role is PlatformRole.PLATFORM_ADMINISTRATOR
