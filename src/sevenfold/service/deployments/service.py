"""Deployments: the set of app images (one per component) a device group runs.

docs/updates.md §3. Creating one supersedes the group's current deployment; every
deployment is kept as history. Everything is inside the caller's tenant.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from sevenfold.protocol.clock import Clock
from sevenfold.protocol.updates import ImageType
from sevenfold.service.access.principal import Principal
from sevenfold.service.audit import service as audit
from sevenfold.service.db.ids import new_id
from sevenfold.service.deployments.models import Deployment, DeploymentImage
from sevenfold.service.devices.models import Device
from sevenfold.service.errors import InvalidRequestError, NotFoundError
from sevenfold.service.images.models import Image
from sevenfold.service.products import service as products
from sevenfold.service.products.models import DeviceGroup
from sevenfold.service.updates.models import DeviceUpdateStatus

UNKNOWN_UPDATE_STATE = "unknown"
"""The count key of devices that have not reported an update state yet."""


@dataclass(frozen=True, slots=True)
class DeploymentView:
    """A deployment with its images, in the order they were given."""

    deployment: Deployment
    images: list[Image]


def _tenant_app_images(
    session: Session, tenant_id: str, image_ids: Sequence[str]
) -> list[Image]:
    if len(set(image_ids)) != len(image_ids):
        raise InvalidRequestError("an image is listed twice")
    found = {
        image.id: image
        for image in session.scalars(
            select(Image).where(Image.id.in_(image_ids), Image.tenant_id == tenant_id)
        ).all()
    }
    images: list[Image] = []
    for image_id in image_ids:
        image = found.get(image_id)
        if image is None:  # absent or another tenant's: the same answer
            raise NotFoundError(f"no app image '{image_id}'")
        if image.kind != ImageType.APP.value:
            raise InvalidRequestError(f"image '{image_id}' is not an app image")
        images.append(image)
    components = [image.component_id for image in images]
    if len(set(components)) != len(components):
        raise InvalidRequestError("a deployment holds at most one image per component")
    return images


def create_deployment(
    *,
    session: Session,
    clock: Clock,
    principal: Principal,
    group_id: str,
    image_ids: Sequence[str],
) -> DeploymentView:
    """Make ``image_ids`` the group's deployment, superseding the current one.

    Raises:
        NotFoundError: no such group, or an image that is not the tenant's.
        InvalidRequestError: not an app image, listed twice, or two images of one
            component.
    """
    group = products.get_group(session=session, principal=principal, group_id=group_id)
    images = _tenant_app_images(session, group.tenant_id, image_ids)
    # Lock the group so two racing deployments cannot both stay current.
    session.execute(
        select(DeviceGroup.id).where(DeviceGroup.id == group.id).with_for_update()
    )
    now = clock.now()
    superseded = session.scalars(
        select(Deployment.id).where(
            Deployment.device_group_id == group.id, Deployment.superseded_at.is_(None)
        )
    ).all()
    session.execute(
        update(Deployment)
        .where(Deployment.id.in_(superseded))
        .values(superseded_at=now)
        .execution_options(synchronize_session=False)
    )
    deployment = Deployment(
        id=new_id(),
        tenant_id=group.tenant_id,
        device_group_id=group.id,
        created_at=now,
        created_by=principal.token_id,
        superseded_at=None,
    )
    session.add(deployment)
    session.flush()
    session.add_all(
        DeploymentImage(deployment_id=deployment.id, image_id=image.id, position=index)
        for index, image in enumerate(images)
    )
    audit.record(
        session=session,
        clock=clock,
        principal=principal,
        tenant_id=group.tenant_id,
        action="deployment.create",
        target_type="deployment",
        target_id=deployment.id,
        details={
            "device_group_id": group.id,
            "image_ids": [image.id for image in images],
            "superseded": list(superseded),
        },
    )
    session.commit()
    return DeploymentView(deployment, images)


def _images_of(session: Session, deployment_id: str) -> list[Image]:
    return list(
        session.scalars(
            select(Image)
            .join(DeploymentImage, DeploymentImage.image_id == Image.id)
            .where(DeploymentImage.deployment_id == deployment_id)
            .order_by(DeploymentImage.position)
        ).all()
    )


def list_deployments(
    *, session: Session, principal: Principal, group_id: str
) -> list[DeploymentView]:
    """A group's deployments, newest first.

    Raises:
        NotFoundError: no such group in the tenant.
    """
    group = products.get_group(session=session, principal=principal, group_id=group_id)
    deployments = session.scalars(
        select(Deployment)
        .where(Deployment.device_group_id == group.id)
        .order_by(
            Deployment.created_at.desc(),
            Deployment.superseded_at.is_(None).desc(),  # the current one first
            Deployment.superseded_at.desc(),
        )
    ).all()
    return [DeploymentView(d, _images_of(session, d.id)) for d in deployments]


def get_deployment(
    *, session: Session, principal: Principal, deployment_id: str
) -> DeploymentView:
    """One of the tenant's deployments with its images.

    Raises:
        NotFoundError: no such deployment in the tenant.
    """
    deployment = session.get(Deployment, deployment_id)
    if deployment is None or deployment.tenant_id != principal.require_tenant():
        raise NotFoundError(f"no deployment '{deployment_id}'")
    return DeploymentView(deployment, _images_of(session, deployment.id))


def device_counts(*, session: Session, deployment: Deployment) -> dict[str, int]:
    """The group's devices by reported update state; ``unknown``: none reported."""
    state = func.coalesce(DeviceUpdateStatus.state, UNKNOWN_UPDATE_STATE)
    rows = session.execute(
        select(state, func.count())
        .select_from(Device)
        .outerjoin(DeviceUpdateStatus, DeviceUpdateStatus.device_id == Device.id)
        .where(
            Device.device_group_id == deployment.device_group_id,
            Device.tenant_id == deployment.tenant_id,
        )
        .group_by(state)
    ).all()
    return {name: count for name, count in rows}


def current_deployment_images(
    session: Session, device_group_id: str
) -> list[Image] | None:
    """The app images the group's current deployment lists, in order.

    For the director: None means the group never had a deployment (apps are not
    managed from the cloud yet); an empty list means "no apps".
    """
    current = session.scalars(
        select(Deployment.id)
        .where(
            Deployment.device_group_id == device_group_id,
            Deployment.superseded_at.is_(None),
        )
        .order_by(Deployment.created_at.desc())
        .limit(1)
    ).first()
    if current is None:
        return None
    return _images_of(session, current)
