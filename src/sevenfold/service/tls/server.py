"""The uvicorn options ``sevenfold serve`` runs with (and tests reuse)."""

import ssl
from typing import Any

import uvicorn

from sevenfold.service.tls.protocol import ClientCertificateH11Protocol


def uvicorn_tls_options(ssl_context: ssl.SSLContext | None) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``/``uvicorn.Config``: none for plain HTTP;
    for HTTPS, ``ssl_context`` and the h11 protocol that fills the ASGI TLS extension.

    The HTTP implementation is h11, explicitly: the protocol subclass is written
    for it (``http="auto"`` would pick httptools when installed).
    """
    if ssl_context is None:
        return {}

    def factory(_config: uvicorn.Config, _default: object) -> ssl.SSLContext:
        return ssl_context

    return {"http": ClientCertificateH11Protocol, "ssl_context_factory": factory}
