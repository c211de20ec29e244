"""The one table that maps roles to permissions; every route names one permission.

Azure Sphere semantics: a contributor can do everything an administrator can except
delete things and manage access; a reader can only read. Platform roles stand above
tenants: a platform administrator creates tenants, decides which manufacturer keys
the service trusts and registers devices; a
manufacturer credential can only register device identities.
"""

from enum import StrEnum

from sevenfold.protocol.vocabulary import PlatformRole, Role


class Permission(StrEnum):
    """An action class a route requires."""

    READ = "read"
    WRITE = "write"
    DELETE = "delete"
    MANAGE_ACCESS = "manage-access"
    READ_AUDIT = "read-audit"
    REGISTER_DEVICES = "register-devices"
    MANAGE_TENANTS = "manage-tenants"
    MANAGE_MANUFACTURER_KEYS = "manage-manufacturer-keys"


TENANT_PERMISSIONS: frozenset[Permission] = frozenset(
    {
        Permission.READ,
        Permission.WRITE,
        Permission.DELETE,
        Permission.MANAGE_ACCESS,
        Permission.READ_AUDIT,
    }
)
"""Permissions that act inside one tenant and so need a tenant-bound principal."""

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMINISTRATOR: TENANT_PERMISSIONS,
    Role.CONTRIBUTOR: frozenset({Permission.READ, Permission.WRITE}),
    Role.READER: frozenset({Permission.READ}),
}

PLATFORM_ROLE_PERMISSIONS: dict[PlatformRole, frozenset[Permission]] = {
    PlatformRole.PLATFORM_ADMINISTRATOR: frozenset(
        {
            Permission.MANAGE_TENANTS,
            Permission.REGISTER_DEVICES,
            Permission.MANAGE_MANUFACTURER_KEYS,
        }
    ),
    PlatformRole.MANUFACTURER: frozenset({Permission.REGISTER_DEVICES}),
}


def permissions_for(
    role: Role | None, platform_role: PlatformRole | None
) -> frozenset[Permission]:
    """Return the union of what a tenant role and a platform role allow."""
    granted: set[Permission] = set()
    if role is not None:
        granted |= ROLE_PERMISSIONS[role]
    if platform_role is not None:
        granted |= PLATFORM_ROLE_PERMISSIONS[platform_role]
    return frozenset(granted)
