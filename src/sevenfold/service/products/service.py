"""Products and their device groups, inside the caller's tenant.

Invariants: names are unique case-insensitively (per tenant for products, per product
for groups); a product or group that still has devices is never deleted.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sevenfold.protocol.clock import Clock
from sevenfold.protocol.problems import ProblemCode
from sevenfold.protocol.vocabulary import OsFeed, UpdatePolicy
from sevenfold.service.access.principal import Principal
from sevenfold.service.audit import service as audit
from sevenfold.service.db.ids import new_id
from sevenfold.service.devices.models import Device
from sevenfold.service.errors import ConflictError, NotFoundError
from sevenfold.service.products.defaults import DEFAULT_GROUPS
from sevenfold.service.products.models import DeviceGroup, Product


def _flush_or_name_conflict(session: Session, what: str, name: str) -> None:
    try:
        session.flush()
    except IntegrityError as err:
        session.rollback()
        raise ConflictError(
            f"a {what} named '{name}' already exists", code=ProblemCode.NAME_CONFLICT
        ) from err


def create_product(
    *, session: Session, clock: Clock, principal: Principal, name: str, description: str
) -> Product:
    """Create a product and its five default device groups."""
    tenant_id = principal.require_tenant()
    now = clock.now()
    product = Product(
        id=new_id(),
        tenant_id=tenant_id,
        name=name,
        name_key=name.casefold(),
        description=description,
        created_at=now,
    )
    session.add(product)
    _flush_or_name_conflict(session, "product", name)
    for default in DEFAULT_GROUPS:
        session.add(
            DeviceGroup(
                id=new_id(),
                tenant_id=tenant_id,
                product_id=product.id,
                name=default.name,
                name_key=default.name.casefold(),
                description=default.description,
                os_feed=default.os_feed.value,
                update_policy=default.update_policy.value,
                app_updates=default.app_updates,
                created_at=now,
            )
        )
    _audit(
        session, clock, principal, "product.create", "product", product.id, name=name
    )
    session.commit()
    return product


def list_products(*, session: Session, principal: Principal) -> Sequence[Product]:
    """Return the tenant's products by name."""
    query = (
        select(Product)
        .where(Product.tenant_id == principal.require_tenant())
        .order_by(Product.name_key)
    )
    return session.scalars(query).all()


def get_product(*, session: Session, principal: Principal, product_id: str) -> Product:
    """Return one of the tenant's products.

    Raises:
        NotFoundError: no such product in the tenant.
    """
    product = session.get(Product, product_id)
    if product is None or product.tenant_id != principal.require_tenant():
        raise NotFoundError(f"no product '{product_id}'")
    return product


def update_product(
    *,
    session: Session,
    clock: Clock,
    principal: Principal,
    product_id: str,
    changes: dict[str, Any],
) -> Product:
    """Rename or re-describe a product."""
    product = get_product(session=session, principal=principal, product_id=product_id)
    if "name" in changes:
        product.name = changes["name"]
        product.name_key = product.name.casefold()
    if "description" in changes:
        product.description = changes["description"]
    _flush_or_name_conflict(session, "product", product.name)
    _audit(
        session, clock, principal, "product.update", "product", product.id, **changes
    )
    session.commit()
    return product


def delete_product(
    *, session: Session, clock: Clock, principal: Principal, product_id: str
) -> None:
    """Delete a product and its groups.

    Raises:
        ConflictError: the product still has devices; nothing is changed.
    """
    product = get_product(session=session, principal=principal, product_id=product_id)
    devices = session.scalar(
        select(func.count()).select_from(Device).where(Device.product_id == product.id)
    )
    if devices:
        raise ConflictError(
            f"product '{product.name}' still has {devices} device(s); move them first",
            code=ProblemCode.PRODUCT_NOT_EMPTY,
        )
    for group in session.scalars(
        select(DeviceGroup).where(DeviceGroup.product_id == product.id)
    ):
        session.delete(group)
    session.flush()
    session.delete(product)
    _audit(
        session,
        clock,
        principal,
        "product.delete",
        "product",
        product.id,
        name=product.name,
    )
    session.commit()


def create_group(
    *,
    session: Session,
    clock: Clock,
    principal: Principal,
    product_id: str,
    name: str,
    description: str,
    os_feed: OsFeed,
    update_policy: UpdatePolicy,
    app_updates: bool,
) -> DeviceGroup:
    """Create a device group in one of the tenant's products."""
    product = get_product(session=session, principal=principal, product_id=product_id)
    group = DeviceGroup(
        id=new_id(),
        tenant_id=product.tenant_id,
        product_id=product.id,
        name=name,
        name_key=name.casefold(),
        description=description,
        os_feed=os_feed.value,
        update_policy=update_policy.value,
        app_updates=app_updates,
        created_at=clock.now(),
    )
    session.add(group)
    _flush_or_name_conflict(session, "device group in this product", name)
    _audit(
        session,
        clock,
        principal,
        "device-group.create",
        "device-group",
        group.id,
        name=name,
        product_id=product.id,
    )
    session.commit()
    return group


def list_groups(
    *, session: Session, principal: Principal, product_id: str | None
) -> Sequence[DeviceGroup]:
    """Return the tenant's device groups, optionally of one product."""
    query = select(DeviceGroup).where(
        DeviceGroup.tenant_id == principal.require_tenant()
    )
    if product_id is not None:
        get_product(session=session, principal=principal, product_id=product_id)
        query = query.where(DeviceGroup.product_id == product_id)
    return session.scalars(
        query.order_by(DeviceGroup.product_id, DeviceGroup.name_key)
    ).all()


def get_group(*, session: Session, principal: Principal, group_id: str) -> DeviceGroup:
    """Return one of the tenant's device groups.

    Raises:
        NotFoundError: no such group in the tenant.
    """
    group = session.get(DeviceGroup, group_id)
    if group is None or group.tenant_id != principal.require_tenant():
        raise NotFoundError(f"no device group '{group_id}'")
    return group


def update_group(
    *,
    session: Session,
    clock: Clock,
    principal: Principal,
    group_id: str,
    changes: dict[str, Any],
) -> DeviceGroup:
    """Change a group's name, description, feed, policy or app updates."""
    group = get_group(session=session, principal=principal, group_id=group_id)
    for field in ("description", "os_feed", "update_policy", "app_updates"):
        if field in changes:
            setattr(group, field, changes[field])
    if "name" in changes:
        group.name = changes["name"]
        group.name_key = group.name.casefold()
    _flush_or_name_conflict(session, "device group in this product", group.name)
    _audit(
        session,
        clock,
        principal,
        "device-group.update",
        "device-group",
        group.id,
        **changes,
    )
    session.commit()
    return group


def delete_group(
    *, session: Session, clock: Clock, principal: Principal, group_id: str
) -> None:
    """Delete an empty device group.

    Raises:
        ConflictError: the group still has devices; nothing is changed.
    """
    group = get_group(session=session, principal=principal, group_id=group_id)
    devices = session.scalar(
        select(func.count())
        .select_from(Device)
        .where(Device.device_group_id == group.id)
    )
    if devices:
        raise ConflictError(
            f"device group '{group.name}' still has {devices} device(s); move them",
            code=ProblemCode.DEVICE_GROUP_NOT_EMPTY,
        )
    session.delete(group)
    _audit(
        session,
        clock,
        principal,
        "device-group.delete",
        "device-group",
        group.id,
        name=group.name,
    )
    session.commit()


def _audit(
    session: Session,
    clock: Clock,
    principal: Principal,
    action: str,
    target_type: str,
    target_id: str,
    **details: Any,
) -> None:
    audit.record(
        session=session,
        clock=clock,
        principal=principal,
        tenant_id=principal.tenant_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        details={key: str(value) for key, value in details.items()},
    )
