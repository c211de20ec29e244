"""Routes for products and device groups."""

from fastapi import APIRouter, Response, status

from sevenfold.service.api.deps import (
    CanDelete,
    CanRead,
    CanWrite,
    ClockDep,
    SessionDep,
)
from sevenfold.service.api.params import OptionalIdQuery, ResourceId
from sevenfold.service.products import service
from sevenfold.service.products.schemas import (
    DeviceGroupIn,
    DeviceGroupOut,
    DeviceGroupPatch,
    ProductIn,
    ProductOut,
    ProductPatch,
)

router = APIRouter(tags=["products"])


@router.post(
    "/products", response_model=ProductOut, status_code=status.HTTP_201_CREATED
)
def create_product(
    body: ProductIn, session: SessionDep, clock: ClockDep, principal: CanWrite
) -> ProductOut:
    """Create a product with its five default device groups."""
    product = service.create_product(
        session=session,
        clock=clock,
        principal=principal,
        name=body.name,
        description=body.description,
    )
    return ProductOut.model_validate(product)


@router.get("/products", response_model=list[ProductOut])
def list_products(session: SessionDep, principal: CanRead) -> list[ProductOut]:
    """List the tenant's products."""
    products = service.list_products(session=session, principal=principal)
    return [ProductOut.model_validate(product) for product in products]


@router.get("/products/{product_id}", response_model=ProductOut)
def show_product(
    product_id: ResourceId, session: SessionDep, principal: CanRead
) -> ProductOut:
    """Show a product."""
    product = service.get_product(
        session=session, principal=principal, product_id=product_id
    )
    return ProductOut.model_validate(product)


@router.patch("/products/{product_id}", response_model=ProductOut)
def update_product(
    product_id: ResourceId,
    body: ProductPatch,
    session: SessionDep,
    clock: ClockDep,
    principal: CanWrite,
) -> ProductOut:
    """Rename or re-describe a product."""
    product = service.update_product(
        session=session,
        clock=clock,
        principal=principal,
        product_id=product_id,
        changes=body.model_dump(exclude_unset=True, exclude_none=True),
    )
    return ProductOut.model_validate(product)


@router.delete("/products/{product_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_product(
    product_id: ResourceId, session: SessionDep, clock: ClockDep, principal: CanDelete
) -> Response:
    """Delete a product that has no devices, with its device groups."""
    service.delete_product(
        session=session, clock=clock, principal=principal, product_id=product_id
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/products/{product_id}/device-groups",
    response_model=DeviceGroupOut,
    status_code=status.HTTP_201_CREATED,
)
def create_device_group(
    product_id: ResourceId,
    body: DeviceGroupIn,
    session: SessionDep,
    clock: ClockDep,
    principal: CanWrite,
) -> DeviceGroupOut:
    """Create a device group in a product."""
    group = service.create_group(
        session=session,
        clock=clock,
        principal=principal,
        product_id=product_id,
        name=body.name,
        description=body.description,
        os_feed=body.os_feed,
        update_policy=body.update_policy,
        app_updates=body.app_updates,
    )
    return DeviceGroupOut.model_validate(group)


@router.get("/device-groups", response_model=list[DeviceGroupOut])
def list_device_groups(
    session: SessionDep,
    principal: CanRead,
    product_id: OptionalIdQuery = None,
) -> list[DeviceGroupOut]:
    """List the tenant's device groups, optionally of one product."""
    groups = service.list_groups(
        session=session, principal=principal, product_id=product_id
    )
    return [DeviceGroupOut.model_validate(group) for group in groups]


@router.get("/device-groups/{group_id}", response_model=DeviceGroupOut)
def show_device_group(
    group_id: ResourceId, session: SessionDep, principal: CanRead
) -> DeviceGroupOut:
    """Show a device group."""
    group = service.get_group(session=session, principal=principal, group_id=group_id)
    return DeviceGroupOut.model_validate(group)


@router.patch("/device-groups/{group_id}", response_model=DeviceGroupOut)
def update_device_group(
    group_id: ResourceId,
    body: DeviceGroupPatch,
    session: SessionDep,
    clock: ClockDep,
    principal: CanWrite,
) -> DeviceGroupOut:
    """Change a device group's name, description, OS feed, policy or app updates."""
    group = service.update_group(
        session=session,
        clock=clock,
        principal=principal,
        group_id=group_id,
        changes=body.model_dump(exclude_unset=True, exclude_none=True),
    )
    return DeviceGroupOut.model_validate(group)


@router.delete("/device-groups/{group_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_device_group(
    group_id: ResourceId, session: SessionDep, clock: ClockDep, principal: CanDelete
) -> Response:
    """Delete a device group that has no devices."""
    service.delete_group(
        session=session, clock=clock, principal=principal, group_id=group_id
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
