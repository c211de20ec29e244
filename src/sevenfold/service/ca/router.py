"""Routes to list and download the tenant's CA certificates (readers and up).

These are what a customer's cloud (an MQTT broker's ``cafile``) downloads to trust
the tenant's devices. Reading may make the tenant's first CA or its successor (see
``service.py``); that is audited as the service's own action.
"""

from typing import Annotated, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Depends, Query, Request, Response

from sevenfold.service.api.deps import (
    CaCreatedDep,
    CanRead,
    ClockDep,
    SessionDep,
    app_state,
)
from sevenfold.service.api.params import ResourceId
from sevenfold.service.api.problems import PROBLEM_RESPONSES
from sevenfold.service.ca import service
from sevenfold.service.ca.key_encryption_key import KeyEncryptionKey
from sevenfold.service.ca.schemas import (
    DER_MEDIA_TYPE,
    PEM_MEDIA_TYPE,
    CaCertificateOut,
    CertificateFormat,
)

router = APIRouter(prefix="/ca-certificates", tags=["ca-certificates"])


async def _kek(request: Request) -> KeyEncryptionKey | None:
    return app_state(request).key_encryption_key


KekDep = Annotated[KeyEncryptionKey | None, Depends(_kek)]

_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "The service has no key-encryption key, so no CA",
        "content": PROBLEM_RESPONSES[404]["content"],
    }
}
_PEM_CONTENT = {PEM_MEDIA_TYPE: {"schema": {"type": "string"}}}
_CERTIFICATE_CONTENT = {
    **_PEM_CONTENT,
    DER_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
}


@router.get("", response_model=list[CaCertificateOut], responses=_UNAVAILABLE)
def list_ca_certificates(
    session: SessionDep,
    clock: ClockDep,
    kek: KekDep,
    principal: CanRead,
    on_created: CaCreatedDep,
) -> list[CaCertificateOut]:
    """List the tenant's CA certificates, newest first, with their status."""
    views = service.list_cas(
        session=session,
        clock=clock,
        kek=kek,
        tenant_id=principal.require_tenant(),
        on_created=on_created,
    )
    return [CaCertificateOut.from_view(view) for view in views]


@router.get(
    "/chain",
    response_class=Response,
    responses={
        200: {"description": "PEM bundle", "content": _PEM_CONTENT},
        **_UNAVAILABLE,
    },
)
def download_ca_chain(
    session: SessionDep,
    clock: ClockDep,
    kek: KekDep,
    principal: CanRead,
    on_created: CaCreatedDep,
) -> Response:
    """Every CA certificate valid now (active and, during rotation, next) as PEM."""
    cas = service.chain(
        session=session,
        clock=clock,
        kek=kek,
        tenant_id=principal.require_tenant(),
        on_created=on_created,
    )
    bundle = "".join(ca.certificate_pem for ca in cas)
    return Response(content=bundle, media_type=PEM_MEDIA_TYPE)


@router.get(
    "/{ca_id}",
    response_class=Response,
    responses={
        200: {"description": "The certificate", "content": _CERTIFICATE_CONTENT},
        **_UNAVAILABLE,
    },
)
def download_ca_certificate(
    ca_id: ResourceId,
    session: SessionDep,
    clock: ClockDep,
    kek: KekDep,
    principal: CanRead,
    on_created: CaCreatedDep,
    format: Annotated[CertificateFormat, Query()] = CertificateFormat.PEM,
) -> Response:
    """Download one CA certificate as PEM (default) or DER."""
    ca = service.get_ca(
        session=session,
        clock=clock,
        kek=kek,
        tenant_id=principal.require_tenant(),
        ca_id=ca_id,
        on_created=on_created,
    )
    if format is CertificateFormat.PEM:
        return Response(content=ca.certificate_pem, media_type=PEM_MEDIA_TYPE)
    certificate = x509.load_pem_x509_certificate(ca.certificate_pem.encode("ascii"))
    der = certificate.public_bytes(serialization.Encoding.DER)
    return Response(content=der, media_type=DER_MEDIA_TYPE)
