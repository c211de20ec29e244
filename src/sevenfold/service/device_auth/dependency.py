"""The FastAPI dependency that authenticates a device by its client certificate.

Where the chain comes from, in order:

1. A trusted reverse proxy's header (``client_certificate_header``, URL-encoded PEM
   as nginx's ``$ssl_client_escaped_cert``), read only when the peer address is in
   ``trusted_proxy_addresses``. From any other address the header is refused, never
   ignored silently: a device behind an unconfigured proxy gets a clear answer, and
   nobody can name a certificate they do not hold.
2. The ASGI TLS extension (``scope["extensions"]["tls"]["client_cert_chain"]``,
   PEM strings) when the server itself ended TLS and the device presented one.

An Authorization header is refused first (400 ``authorization-not-accepted``): API
tokens are never accepted on device routes.
"""

import ipaddress
from typing import Annotated, Any

from cryptography import x509
from fastapi import Depends, Request

from sevenfold.crypto.device_certificates import decode_header_value, parse_chain
from sevenfold.crypto.errors import DeviceCertificateError
from sevenfold.service.api.deps import ClockDep, SessionDep, SettingsDep
from sevenfold.service.device_auth.service import (
    AuthenticatedDevice,
    authenticate_device,
)
from sevenfold.service.errors import (
    AuthorizationNotAcceptedError,
    DeviceUnauthenticatedError,
)
from sevenfold.service.settings import ServiceSettings


def _from_trusted_proxy(request: Request, settings: ServiceSettings) -> bool:
    if request.client is None:
        return False
    try:
        address = ipaddress.ip_address(request.client.host)
    except ValueError:
        return False
    return any(address in network for network in settings.trusted_proxy_networks)


def _tls_chain(request: Request) -> list[str]:
    extensions: dict[str, Any] = request.scope.get("extensions") or {}
    tls: dict[str, Any] = extensions.get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    return [pem for pem in chain if isinstance(pem, str)]


def client_certificate_chain(
    request: Request, settings: ServiceSettings
) -> list[x509.Certificate]:
    """The client chain (leaf first) this request presents.

    Raises:
        AuthorizationNotAcceptedError: the request carries an Authorization header.
        DeviceUnauthenticatedError: no certificate, a malformed one, or the
            certificate header from an address that is not a trusted proxy.
    """
    if "authorization" in request.headers:
        raise AuthorizationNotAcceptedError(
            "device routes take no Authorization header; do not send API tokens here"
        )
    header = settings.client_certificate_header
    values = request.headers.getlist(header)
    try:
        if values:
            if not _from_trusted_proxy(request, settings):
                raise DeviceUnauthenticatedError(
                    f"the {header} header is accepted only from a trusted proxy "
                    "address; this address is not one",
                    reason="untrusted-certificate-header",
                )
            if len(values) != 1:
                raise DeviceUnauthenticatedError(
                    f"send one {header} header", reason="malformed-certificate"
                )
            return decode_header_value(values[0])
        pems = _tls_chain(request)
        if pems:
            return parse_chain(pems)
    except DeviceCertificateError as err:
        raise DeviceUnauthenticatedError(str(err), reason=err.reason) from err
    raise DeviceUnauthenticatedError(
        "device routes need the device's client certificate (mutual TLS)",
        reason="no-certificate",
    )


def authenticated_device(
    request: Request, session: SessionDep, clock: ClockDep, settings: SettingsDep
) -> AuthenticatedDevice:
    """Authenticate the calling device (runs in a worker thread: it reads the DB)."""
    chain = client_certificate_chain(request, settings)
    return authenticate_device(session=session, clock=clock, chain=chain)


DeviceDep = Annotated[AuthenticatedDevice, Depends(authenticated_device)]
