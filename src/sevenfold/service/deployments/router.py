"""Routes for deployments: a device group's app images, and their history."""

from fastapi import APIRouter, status
from sqlalchemy.orm import Session

from sevenfold.service.api.deps import CanRead, CanWrite, ClockDep, SessionDep
from sevenfold.service.api.params import ResourceId
from sevenfold.service.deployments import service
from sevenfold.service.deployments.schemas import (
    DeploymentDetailOut,
    DeploymentImageOut,
    DeploymentIn,
    DeploymentOut,
)

router = APIRouter(tags=["deployments"])


def _out(view: service.DeploymentView) -> DeploymentOut:
    deployment = view.deployment
    return DeploymentOut(
        id=deployment.id,
        device_group_id=deployment.device_group_id,
        created_at=deployment.created_at,
        superseded_at=deployment.superseded_at,
        current=deployment.superseded_at is None,
        images=[DeploymentImageOut.model_validate(image) for image in view.images],
    )


def _detail(session: Session, view: service.DeploymentView) -> DeploymentDetailOut:
    counts = service.device_counts(session=session, deployment=view.deployment)
    return DeploymentDetailOut(**_out(view).model_dump(), device_counts=counts)


@router.post(
    "/device-groups/{group_id}/deployments",
    response_model=DeploymentDetailOut,
    status_code=status.HTTP_201_CREATED,
)
def create_deployment(
    group_id: ResourceId,
    body: DeploymentIn,
    session: SessionDep,
    clock: ClockDep,
    principal: CanWrite,
) -> DeploymentDetailOut:
    """Deploy app images to a group (one per component), superseding its current
    deployment; an empty list removes every app."""
    view = service.create_deployment(
        session=session,
        clock=clock,
        principal=principal,
        group_id=group_id,
        image_ids=body.image_ids,
    )
    return _detail(session, view)


@router.get("/device-groups/{group_id}/deployments", response_model=list[DeploymentOut])
def list_deployments(
    group_id: ResourceId, session: SessionDep, principal: CanRead
) -> list[DeploymentOut]:
    """A group's deployments, newest first; ``current`` marks the one in force."""
    views = service.list_deployments(
        session=session, principal=principal, group_id=group_id
    )
    return [_out(view) for view in views]


@router.get("/deployments/{deployment_id}", response_model=DeploymentDetailOut)
def show_deployment(
    deployment_id: ResourceId, session: SessionDep, principal: CanRead
) -> DeploymentDetailOut:
    """A deployment with its images and the group's devices by update state."""
    view = service.get_deployment(
        session=session, principal=principal, deployment_id=deployment_id
    )
    return _detail(session, view)
