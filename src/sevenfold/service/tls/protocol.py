"""A uvicorn HTTP/1.1 protocol that puts the verified client chain in the scope.

uvicorn does not fill the ASGI TLS extension. Per connection (after the handshake,
which verified the chain to a tenant CA), this reads the peer certificate from the
transport's ``ssl_object`` and sets ``scope["extensions"]["tls"]`` on each request
of that connection, where the device-auth dependency reads ``client_cert_chain``.

Python 3.13 exposes the verified chain (``get_verified_chain``); older versions
only the leaf, so the chain is then the leaf alone (the app finds its issuer among
the tenant CAs either way).
"""

import asyncio
import ssl
from typing import Any, cast

from uvicorn._types import ASGI3Application, ASGIReceiveCallable, ASGISendCallable
from uvicorn._types import Scope as UvicornScope
from uvicorn.protocols.http.h11_impl import H11Protocol

_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def _pem(der: bytes) -> str:
    return ssl.DER_cert_to_PEM_cert(der)


def peer_chain(ssl_object: ssl.SSLObject) -> list[str]:
    """The client's certificates as PEM, leaf first; empty when it sent none."""
    verified = getattr(ssl_object, "get_verified_chain", None)
    if verified is not None:
        chain = verified()
        if chain:
            return [str(cert.public_bytes()) for cert in chain]  # PEM by default
    leaf = ssl_object.getpeercert(binary_form=True)
    return [_pem(leaf)] if leaf else []


def tls_extension(transport: asyncio.BaseTransport) -> dict[str, Any] | None:
    """The ASGI TLS extension for a connection; None when it is not TLS."""
    ssl_object: ssl.SSLObject | None = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    return {
        "server_cert": None,
        "client_cert_chain": peer_chain(ssl_object),
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,
    }


def with_tls_extension(
    app: ASGI3Application, extension: dict[str, Any]
) -> ASGI3Application:
    """``app`` with ``extension`` in the scope of every HTTP request."""

    async def wrapped(
        scope: UvicornScope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "http":
            extensions: dict[str, Any] = dict(scope.get("extensions") or {})
            extensions["tls"] = extension
            scope = cast(UvicornScope, {**scope, "extensions": extensions})
        await app(scope, receive, send)

    return wrapped


class ClientCertificateH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with the client chain in each request's scope."""

    def connection_made(  # type: ignore[override]
        self, transport: asyncio.Transport
    ) -> None:
        """Start the connection; remember its TLS peer chain for its requests."""
        super().connection_made(transport)
        extension = tls_extension(transport)
        if extension is not None:
            self.app = with_tls_extension(self.app, extension)
