"""Device-facing update routes (device certificate auth, docs/updates.md §4).

* ``GET /device/tuf/{image|director}/{N.root.json|timestamp.json|N.snapshot.json|
  N.targets.json|N.images.json}``: the device's tenant's metadata (``images`` is
  the image repository's delegated role) (the director's per-device
  targets, snapshot and timestamp are the calling device's own). Fetching
  ``timestamp.json`` first brings the repository up to date (and, for the director,
  records the check, to the minute); everything else is read as stored, so the 404
  for root ``N+1`` that every check asks for costs one read (only a repository's
  very first root is made on request). ``Cache-Control: no-store``.
* ``GET /device/tuf/targets/blobs/{sha256}``: an artifact the device's tenant may see
  (its app images, released OS images), honouring a single ``Range``.
* ``POST /device/update-status``: the device's report; answers ``check_requested``.
"""

import re
from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sevenfold.service.api.byte_ranges import OCTET_STREAM, ranged_response
from sevenfold.service.api.deps import ClockDep, SessionDep, app_state
from sevenfold.service.device_auth.dependency import DeviceDep
from sevenfold.service.device_auth.router import DEVICE_AUTH_RESPONSES
from sevenfold.service.device_auth.service import AuthenticatedDevice
from sevenfold.service.errors import NotFoundError
from sevenfold.service.updates import director, image_repository, metadata_store
from sevenfold.service.updates import status as update_status
from sevenfold.service.updates.schemas import UpdateStatusAnswer, UpdateStatusIn
from sevenfold.service.updates.signing_keys import Repository, TufRole, require_kek

METADATA_MEDIA_TYPE = "application/json"
MAX_METADATA_VERSION = 2**31 - 1
_FILENAME_RE = re.compile(
    r"^(?:(?P<version>[1-9][0-9]{0,9})\.(?P<role>root|snapshot|targets|images)|timestamp)\.json$"
)
_NO_STORE = {"Cache-Control": "no-store"}

T = TypeVar("T")

router = APIRouter(
    prefix="/device", tags=["device updates"], responses=DEVICE_AUTH_RESPONSES
)

RepositoryPath = Annotated[Repository, Path()]
FilenamePath = Annotated[str, Path(max_length=32)]
Sha256Path = Annotated[
    str, Path(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$")
]


def _with_retry(session: Session, work: Callable[[], T]) -> T:
    """Run ``work`` and commit; when a concurrent request inserted the same row first
    (a metadata version, a status row: unique keys), roll back and run it once more
    on top of the winner's."""
    try:
        result = work()
        session.commit()
    except IntegrityError:
        session.rollback()
    else:
        return result
    result = work()
    session.commit()
    return result


def _parse_filename(filename: str) -> tuple[TufRole, int | None]:
    match = _FILENAME_RE.match(filename)
    if match is None:
        raise NotFoundError("no such metadata file")
    if match.group("role") is None:
        return TufRole.TIMESTAMP, None
    version = int(match.group("version"))
    if version > MAX_METADATA_VERSION:
        raise NotFoundError("no such metadata version")
    return TufRole(match.group("role")), version


def _refresh(
    session: Session,
    request: Request,
    device: AuthenticatedDevice,
    repository: Repository,
    now_role: TufRole,
    clock: ClockDep,
) -> None:
    """Bring the repository up to date before its timestamp (or a first root) is
    served; commits only when something was written (a no-op check reads)."""
    kek = require_kek(app_state(request).key_encryption_key)
    now = clock.now()

    def work() -> None:
        if now_role is TufRole.ROOT:
            metadata_store.keep_root_current(
                session=session,
                kek=kek,
                tenant_id=device.tenant_id,
                repository=repository,
                now=now,
            )
        elif repository is Repository.IMAGE:
            image_repository.ensure_current(
                session=session, kek=kek, tenant_id=device.tenant_id, now=now
            )
        else:
            status_row = update_status.note_director_check(
                session, device_id=device.device_id, tenant_id=device.tenant_id, now=now
            )
            director.ensure_device_metadata(
                session=session,
                kek=kek,
                tenant_id=device.tenant_id,
                device_id=device.device_id,
                device_group_id=device.device_group_id,
                now=now,
            )
            del status_row  # held until here: the director reads it from the session

    _with_retry(session, work)


@router.get(
    "/tuf/{repository}/{filename}",
    response_class=Response,
    responses={200: {"content": {METADATA_MEDIA_TYPE: {}}, "description": "Metadata"}},
)
def tuf_metadata(
    repository: RepositoryPath,
    filename: FilenamePath,
    request: Request,
    device: DeviceDep,
    session: SessionDep,
    clock: ClockDep,
) -> Response:
    """One signed TUF metadata file of the device's image repository or director."""
    role, version = _parse_filename(filename)
    if role is TufRole.TIMESTAMP:
        _refresh(session, request, device, repository, role, clock)
    elif role is TufRole.ROOT and version == 1:
        # Roots are re-signed on the timestamp request; ``N.root.json`` only reads,
        # except that the very first one is made on first use (trust on first use
        # over mTLS, docs/updates.md §5).
        first = metadata_store.row_at(
            session,
            tenant_id=device.tenant_id,
            repository=repository,
            role=role,
            version=1,
        )
        if first is None:
            _refresh(session, request, device, repository, role, clock)
    per_device = repository is Repository.DIRECTOR and role is not TufRole.ROOT
    device_id = device.device_id if per_device else metadata_store.NO_DEVICE
    if version is None:
        row = metadata_store.latest_row(
            session,
            tenant_id=device.tenant_id,
            repository=repository,
            role=role,
            device_id=device_id,
        )
    else:
        row = metadata_store.row_at(
            session,
            tenant_id=device.tenant_id,
            repository=repository,
            role=role,
            version=version,
            device_id=device_id,
        )
    if row is None:
        raise NotFoundError("no such metadata version")
    return Response(
        content=row.content, media_type=METADATA_MEDIA_TYPE, headers=_NO_STORE
    )


@router.get(
    "/tuf/targets/blobs/{sha256}",
    response_class=Response,
    responses={
        200: {"content": {OCTET_STREAM: {}}, "description": "The whole artifact"},
        206: {"content": {OCTET_STREAM: {}}, "description": "The requested range"},
        416: {"description": "The range lies outside the artifact"},
    },
)
def tuf_target(
    sha256: Sha256Path, request: Request, device: DeviceDep, session: SessionDep
) -> Response:
    """An artifact named by its SHA-256, if the device's tenant may see it."""
    image = image_repository.visible_image_by_sha256(
        session, tenant_id=device.tenant_id, sha256=sha256
    )
    if image is None:
        raise NotFoundError("no such target")
    size_bytes = image.size_bytes
    session.close()
    store = app_state(request).artifact_store
    return ranged_response(
        range_header=request.headers.get("range"),
        size_bytes=size_bytes,
        etag=sha256,
        read_range=lambda start, end: store.open_range(sha256, start, end),
        instance=request.url.path,
    )


@router.post("/update-status", response_model=UpdateStatusAnswer)
def report_update_status(
    body: UpdateStatusIn, device: DeviceDep, session: SessionDep, clock: ClockDep
) -> UpdateStatusAnswer:
    """Record the device's update state; say whether an operator asked for a check."""
    report = update_status.StatusReport(
        state=body.state,
        os_version=body.os_version,
        installed=[image.model_dump(mode="json") for image in body.installed],
        targeted=[image.model_dump(mode="json") for image in body.targeted],
        detail=body.detail,
        rolled_back_from=body.rolled_back_from,
    )
    requested = _with_retry(
        session,
        lambda: update_status.record_report(
            session=session,
            clock=clock,
            device_id=device.device_id,
            tenant_id=device.tenant_id,
            report=report,
        ),
    )
    return UpdateStatusAnswer(check_requested=requested)
