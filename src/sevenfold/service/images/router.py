"""Routes for image-signing keys and image packages (docs/updates.md §1-2).

The upload route streams the raw body into the artifact store (it is exempt from the
generic body limit and enforces ``max_image_bytes`` itself), then verifies the stored
file in one worker-thread call: hashing a large package never blocks the event loop.
"""

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response, status
from pydantic import TypeAdapter
from sqlalchemy.orm import Session

from sevenfold.protocol.clock import Clock
from sevenfold.protocol.updates import ImageType
from sevenfold.service.access.principal import Principal
from sevenfold.service.api.byte_ranges import OCTET_STREAM, ranged_response
from sevenfold.service.api.deps import (
    Authenticated,
    CanManageAccess,
    CanRead,
    ClockDep,
    SessionDep,
    SettingsDep,
    app_state,
    run_in_session,
)
from sevenfold.service.api.pagination import decode_cursor, encode_cursor
from sevenfold.service.api.params import Cursor, Limit
from sevenfold.service.errors import ArtifactTooLargeError
from sevenfold.service.images import service, signing_keys
from sevenfold.service.images.artifact_store import ArtifactStore, StoredArtifact
from sevenfold.service.images.schemas import (
    ImageOut,
    ImagePage,
    SigningKeyIn,
    SigningKeyOut,
)

UPLOAD_ROUTE = "/images"

router = APIRouter(tags=["images"])

IMAGE_LIST = TypeAdapter(list[ImageOut])
KeyIdPath = Annotated[str, Path(min_length=64, max_length=64, pattern=r"^[0-9a-f]+$")]
ImageIdPath = Annotated[
    str,
    Path(
        min_length=36,
        max_length=36,
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    ),
]


async def get_artifact_store(request: Request) -> ArtifactStore:
    """The app's artifact store."""
    return app_state(request).artifact_store


StoreDep = Annotated[ArtifactStore, Depends(get_artifact_store)]


# --- tenant keys (apps) ---------------------------------------------------------


@router.post(
    "/image-signing-keys",
    response_model=SigningKeyOut,
    status_code=status.HTTP_201_CREATED,
)
def add_tenant_key(
    body: SigningKeyIn, session: SessionDep, clock: ClockDep, principal: CanManageAccess
) -> SigningKeyOut:
    """Accept app packages signed by this Ed25519 key in the caller's tenant."""
    key = signing_keys.add_signing_key(
        session=session,
        clock=clock,
        principal=principal,
        name=body.name,
        pem=body.public_key_pem,
        platform=False,
    )
    return SigningKeyOut.model_validate(key)


@router.get("/image-signing-keys", response_model=list[SigningKeyOut])
def list_tenant_keys(session: SessionDep, principal: CanRead) -> list[SigningKeyOut]:
    """List the tenant's image-signing keys."""
    keys = signing_keys.list_signing_keys(
        session=session, principal=principal, platform=False
    )
    return [SigningKeyOut.model_validate(key) for key in keys]


@router.delete("/image-signing-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_tenant_key(
    key_id: KeyIdPath, session: SessionDep, clock: ClockDep, principal: CanManageAccess
) -> Response:
    """Stop accepting app packages signed by this key (uploaded images stay)."""
    signing_keys.remove_signing_key(
        session=session, clock=clock, principal=principal, key_id=key_id, platform=False
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- platform keys (OS images) -----------------------------------------------------


@router.post(
    "/platform/image-signing-keys",
    response_model=SigningKeyOut,
    status_code=status.HTTP_201_CREATED,
)
def add_platform_key(
    body: SigningKeyIn, session: SessionDep, clock: ClockDep, principal: Authenticated
) -> SigningKeyOut:
    """Accept OS packages signed by this Ed25519 key (platform administrator)."""
    service.require_platform_administrator(principal)
    key = signing_keys.add_signing_key(
        session=session,
        clock=clock,
        principal=principal,
        name=body.name,
        pem=body.public_key_pem,
        platform=True,
    )
    return SigningKeyOut.model_validate(key)


@router.get("/platform/image-signing-keys", response_model=list[SigningKeyOut])
def list_platform_keys(
    session: SessionDep, principal: Authenticated
) -> list[SigningKeyOut]:
    """List the platform's OS image-signing keys (platform administrator)."""
    service.require_platform_administrator(principal)
    keys = signing_keys.list_signing_keys(
        session=session, principal=principal, platform=True
    )
    return [SigningKeyOut.model_validate(key) for key in keys]


@router.delete(
    "/platform/image-signing-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT
)
def remove_platform_key(
    key_id: KeyIdPath, session: SessionDep, clock: ClockDep, principal: Authenticated
) -> Response:
    """Stop accepting OS packages signed by this key (platform administrator)."""
    service.require_platform_administrator(principal)
    signing_keys.remove_signing_key(
        session=session, clock=clock, principal=principal, key_id=key_id, platform=True
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- images --------------------------------------------------------------------------


@router.post(
    UPLOAD_ROUTE,
    response_model=ImageOut,
    status_code=status.HTTP_201_CREATED,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                OCTET_STREAM: {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def upload_image(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    principal: Authenticated,
    store: StoreDep,
) -> ImageOut:
    """Upload a signed image package (raw bytes); it is verified before it is kept.

    App images need a tenant contributor or administrator and a tenant key; OS
    images the platform administrator and a platform key.
    """
    service.require_upload_permission(principal)
    max_bytes = settings.max_image_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ArtifactTooLargeError(
            f"image packages are limited to {max_bytes} bytes; nothing was stored"
        )
    stored = await store.put_async_stream(request.stream(), max_bytes=max_bytes)
    work = partial(_register, session, clock, principal, store, stored)
    return await run_in_session(session, work)


def _register(
    session: Session,
    clock: Clock,
    principal: Principal,
    store: ArtifactStore,
    stored: StoredArtifact,
) -> ImageOut:
    image = service.register_upload(
        session=session, clock=clock, principal=principal, store=store, stored=stored
    )
    return ImageOut.model_validate(image)


@router.get("/images", response_model=ImagePage)
async def list_images(
    session: SessionDep,
    principal: CanRead,
    kind: ImageType | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> ImagePage:
    """The tenant's app images and every platform OS image, in ID order."""
    work = partial(_image_page, session, principal, kind, decode_cursor(cursor), limit)
    return await run_in_session(session, work)


def _image_page(
    session: Session,
    principal: Principal,
    kind: ImageType | None,
    after_id: str | None,
    limit: int,
) -> ImagePage:
    images = service.list_images(
        session=session, principal=principal, kind=kind, after_id=after_id, limit=limit
    )
    items = IMAGE_LIST.validate_python(images)
    next_cursor = encode_cursor(items[-1].id) if len(items) == limit else None
    return ImagePage(items=items, next_cursor=next_cursor)


@router.get("/images/{image_id}", response_model=ImageOut)
def show_image(
    image_id: ImageIdPath, session: SessionDep, principal: CanRead
) -> ImageOut:
    """One image the tenant may use."""
    image = service.get_visible_image(
        session=session, principal=principal, image_id=image_id
    )
    return ImageOut.model_validate(image)


@router.get(
    "/images/{image_id}/content",
    response_class=Response,
    responses={
        200: {"content": {OCTET_STREAM: {}}, "description": "The whole package"},
        206: {"content": {OCTET_STREAM: {}}, "description": "The requested range"},
        416: {"description": "The range lies outside the package"},
    },
)
def download_image(
    image_id: ImageIdPath,
    request: Request,
    session: SessionDep,
    principal: CanRead,
    store: StoreDep,
) -> Response:
    """The package bytes; a single ``Range`` is honoured (resumable downloads)."""
    image = service.get_visible_image(
        session=session, principal=principal, image_id=image_id
    )
    sha256, size_bytes = image.sha256, image.size_bytes
    session.close()
    return ranged_response(
        range_header=request.headers.get("range"),
        size_bytes=size_bytes,
        etag=sha256,
        read_range=lambda start, end: store.open_range(sha256, start, end),
        instance=request.url.path,
    )
