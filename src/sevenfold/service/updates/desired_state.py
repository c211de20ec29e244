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

A device outside any group gets nothing. Versions only go up: a device that reports
running a newer OS than its feed offers (a release since withdrawn) gets no OS entry
and stays where it is until a newer good release appears.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from sevenfold.protocol.updates import version_sort_key
from sevenfold.protocol.vocabulary import OsFeed, UpdatePolicy
from sevenfold.service.deployments import service as deployments
from sevenfold.service.images.models import Image
from sevenfold.service.products.models import DeviceGroup
from sevenfold.service.releases import service as releases


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


def newest_release_image(session: Session, feed: str, now: datetime) -> Image | None:
    """The image of the newest release a feed sees at ``now``."""
    release = releases.newest_release_for_feed(session, OsFeed(feed), now)
    return None if release is None else session.get(Image, release.image_id)


def desired_state(
    session: Session,
    *,
    device_group_id: str | None,
    running_os_version: str | None,
    now: datetime,
) -> DesiredState:
    """What a device of the given group, running ``running_os_version`` (as it last
    reported), should run at ``now``."""
    group = (
        session.get(DeviceGroup, device_group_id)
        if device_group_id is not None
        else None
    )
    if group is None or group.update_policy == UpdatePolicy.NO_UPDATES.value:
        return DesiredState(os_image=None, app_images=(), apps_managed=False)
    os_image = newest_release_image(session, group.os_feed, now)
    if (
        os_image is not None
        and running_os_version is not None
        and version_sort_key(running_os_version) > os_image.version_key
    ):
        os_image = None
    if group.update_policy != UpdatePolicy.UPDATE_ALL.value or not group.app_updates:
        return DesiredState(os_image=os_image, app_images=(), apps_managed=False)
    apps = deployments.current_deployment_images(session, group.id)
    if apps is None:
        # Never deployed: the cloud does not manage this group's apps yet, so a
        # device keeps what it has rather than having it removed.
        return DesiredState(os_image=os_image, app_images=(), apps_managed=False)
    return DesiredState(os_image=os_image, app_images=tuple(apps), apps_managed=True)
