"""What a device should run now: the director's one source of truth (docs/updates.md
§3-4).

* OS: the newest release visible on the device group's feed — ``retail`` sees
  releases in ``retail`` and those in ``retail-eval`` whose ``promote_at`` has passed
  (due for promotion); ``retail-eval`` sees ``retail-eval`` and ``retail``. Cancelled
  and withdrawn releases are never offered. No OS under the ``no-updates`` policy.
* Apps: the group's current deployment's images, only under ``update-all`` with the
  group's ``app_updates`` on and once the group has had a deployment; the app set is
  then cloud-managed. Otherwise no app entries, and the device keeps (or sideloads)
  its own apps.

A device holding the ``app-development`` capability (``enable-development``) gets no
app entries and ``apps_managed`` false whatever its group: its apps are sideloaded
(PRODUCT.md "Device capabilities"); ``enable-cloud-test`` takes it away.

A device outside any group gets nothing. Versions only go up: a device that reports
running a newer OS than its feed offers (a release since withdrawn) gets no OS entry
and stays where it is until a newer good release appears.

Rollouts gate both (docs/failures.md §3): a release whose newest rollout on the feed
has not completed is offered only to members of the rollout's opened waves while it
runs; the others get the next older visible release. A group's current deployment
under an unfinished rollout likewise goes only to open-wave members; the others get
the group's previous deployment, unless they already run the current one's images.
The newest rollout comes in the same statement as the release's image or the
group's current deployment, so a check without rollouts reads no more than before.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import chain

from sqlalchemy import select
from sqlalchemy.orm import Session

from sevenfold.protocol.capabilities import CapabilityKind
from sevenfold.protocol.updates import ImageType, ReleaseState, version_sort_key
from sevenfold.protocol.vocabulary import OsFeed, UpdatePolicy
from sevenfold.service.capabilities.models import DeviceCapabilityGrant
from sevenfold.service.deployments.models import Deployment, DeploymentImage
from sevenfold.service.images.models import Image
from sevenfold.service.products.models import DeviceGroup
from sevenfold.service.releases import service as releases
from sevenfold.service.releases.models import OsRelease
from sevenfold.service.rollouts import gating
from sevenfold.service.updates.models import DeviceUpdateStatus

_VISIBLE_STATES: dict[OsFeed, frozenset[ReleaseState]] = {
    OsFeed.RETAIL: frozenset({ReleaseState.RETAIL}),
    OsFeed.RETAIL_EVAL: frozenset({ReleaseState.RETAIL, ReleaseState.RETAIL_EVAL}),
}
"""What a feed sees, by the release's effective state (``newest_release_for_feed``)."""


@dataclass(frozen=True, slots=True)
class DesiredState:
    """The images the director lists for one device."""

    os_image: Image | None
    app_images: tuple[Image, ...]
    apps_managed: bool

    @property
    def images(self) -> tuple[Image, ...]:
        """OS first, then apps in deployment order."""
        return ((self.os_image,) if self.os_image else ()) + self.app_images


def _older_visible_releases(
    session: Session, feed: OsFeed, below: OsRelease, now: datetime
) -> Iterator[OsRelease]:
    """Releases the feed sees at ``now`` older than ``below``, newest first."""
    older = session.scalars(
        select(OsRelease)
        .where(
            OsRelease.version_key < below.version_key,
            OsRelease.state.in_(
                [ReleaseState.RETAIL.value, ReleaseState.RETAIL_EVAL.value]
            ),
        )
        .order_by(OsRelease.version_key.desc())
    ).all()
    for release in older:
        if releases.effective_state(release, now) in _VISIBLE_STATES[feed]:
            yield release


def offered_release_image(
    session: Session, feed: OsFeed, device_id: str, now: datetime
) -> Image | None:
    """The image of the newest release the feed sees at ``now`` that its rollout,
    if any, offers to this device. Each candidate's image and newest rollout come
    in one statement, so without rollouts a check reads what it read before."""
    newest = releases.newest_release_for_feed(session, feed, now)
    if newest is None:
        return None
    candidates = chain((newest,), _older_visible_releases(session, feed, newest, now))
    for release in candidates:
        image, rollout = gating.release_image_and_rollout(session, release, feed.value)
        if gating.offers_to_device(session, rollout, device_id):
            return image
    return None


def newest_release_image(
    session: Session, feed: str, device_id: str, now: datetime
) -> Image | None:
    """The image of the newest release a feed offers this device at ``now``."""
    return offered_release_image(session, OsFeed(feed), device_id, now)


def _deployment_images(session: Session, deployment_id: str) -> list[Image]:
    return list(
        session.scalars(
            select(Image)
            .join(DeploymentImage, DeploymentImage.image_id == Image.id)
            .where(DeploymentImage.deployment_id == deployment_id)
            .order_by(DeploymentImage.position)
        ).all()
    )


def _previous_deployment(session: Session, device_group_id: str) -> Deployment | None:
    """The group's newest superseded deployment."""
    return session.scalars(
        select(Deployment)
        .where(
            Deployment.device_group_id == device_group_id,
            Deployment.superseded_at.is_not(None),
        )
        .order_by(Deployment.created_at.desc(), Deployment.superseded_at.desc())
        .limit(1)
    ).first()


def _runs_images(session: Session, device_id: str, images: list[Image]) -> bool:
    """Whether the device last reported exactly these app images installed."""
    status = session.get(DeviceUpdateStatus, device_id)
    if status is None:
        return False
    installed = {
        entry.get("image_id")
        for entry in status.installed
        if entry.get("kind") == ImageType.APP.value
    }
    return installed == {image.id for image in images}


def offered_apps(
    session: Session, device_group_id: str, device_id: str
) -> list[Image] | None:
    """The app images the group's deployments offer this device; None when the
    cloud does not manage its apps (never deployed, or its only deployment is held
    back by a rollout)."""
    found = gating.current_deployment_and_rollout(session, device_group_id)
    if found is None:
        return None
    current, rollout = found
    images = _deployment_images(session, current.id)
    if gating.offers_to_device(session, rollout, device_id) or _runs_images(
        session, device_id, images
    ):
        return images
    previous = _previous_deployment(session, device_group_id)
    return None if previous is None else _deployment_images(session, previous.id)


def _group_and_capabilities(
    session: Session, device_group_id: str | None, device_id: str
) -> tuple[DeviceGroup | None, list[str]]:
    """The device's group and the capabilities its newest grant holds, in one
    statement (a no-op update check reads no more rows than without capabilities)."""
    if device_group_id is None:
        return None, []
    row = session.execute(
        select(DeviceGroup, DeviceCapabilityGrant.capabilities)
        .outerjoin(DeviceCapabilityGrant, DeviceCapabilityGrant.device_id == device_id)
        .where(DeviceGroup.id == device_group_id)
    ).first()
    if row is None:
        return None, []
    return row[0], list(row[1] or [])


def desired_state(
    session: Session,
    *,
    device_id: str,
    device_group_id: str | None,
    running_os_version: str | None,
    now: datetime,
) -> DesiredState:
    """What ``device_id``, of the given group and running ``running_os_version``
    (as it last reported), should run at ``now``."""
    group, capability_names = _group_and_capabilities(
        session, device_group_id, device_id
    )
    if group is None or group.update_policy == UpdatePolicy.NO_UPDATES.value:
        return DesiredState(os_image=None, app_images=(), apps_managed=False)
    os_image = newest_release_image(session, group.os_feed, device_id, now)
    if (
        os_image is not None
        and running_os_version is not None
        and version_sort_key(running_os_version) > os_image.version_key
    ):
        os_image = None
    if (
        group.update_policy != UpdatePolicy.UPDATE_ALL.value
        or not group.app_updates
        or CapabilityKind.APP_DEVELOPMENT.value in capability_names
    ):
        return DesiredState(os_image=os_image, app_images=(), apps_managed=False)
    apps = offered_apps(session, group.id, device_id)
    if apps is None:
        # Never deployed: the cloud does not manage this group's apps yet, so a
        # device keeps what it has rather than having it removed.
        return DesiredState(os_image=os_image, app_images=(), apps_managed=False)
    return DesiredState(os_image=os_image, app_images=tuple(apps), apps_managed=True)
