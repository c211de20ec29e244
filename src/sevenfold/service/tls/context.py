"""The server's TLS context: HTTPS, and client certificates from the tenant CAs.

Decisions:

* ``CERT_OPTIONAL``: operators with API tokens present no certificate; a device
  that presents one must chain to a tenant CA or the handshake fails. Device routes
  still refuse a request without one (401 ``device-unauthenticated``).
* The TLS layer checks signatures only, not validity periods
  (``X509_V_FLAG_NO_CHECK_TIME``): the app checks tenant, SAN, EKU, revocation and
  validity against the service's injected clock, the one time source (a simulator
  or test runs on virtual time). Both layers verify the chain.
* Trust is every tenant's CA valid at start, plus each CA made later: the CA
  service tells the app's :class:`~sevenfold.service.ca.listeners.CaListeners`,
  which calls ``load_verify_locations(cadata=...)`` on the live context. A retired
  CA stays in the context until restart; the app refuses its certificates.
* TLS 1.2 or newer; the key file must not be readable by group or others.
"""

import logging
import ssl
from pathlib import Path

from sevenfold.service.ca import service as ca_service
from sevenfold.service.errors import TlsSetupError
from sevenfold.service.state import AppState

X509_V_FLAG_NO_CHECK_TIME = 0x200000  # OpenSSL; not named by Python's ssl module
_log = logging.getLogger(__name__)


def check_key_file(path: Path) -> None:
    """Refuse a missing key file or one group or others may read.

    Raises:
        TlsSetupError: the file is missing or its mode is too open.
    """
    try:
        mode = path.stat().st_mode & 0o777
    except OSError as err:
        raise TlsSetupError(f"cannot read TLS key file {path}: {err}") from err
    if mode & 0o077:
        raise TlsSetupError(
            f"TLS key file {path} is readable by group or others (mode {mode:04o}); "
            "chmod 600 it"
        )


def server_context(certificate_file: Path, key_file: Path) -> ssl.SSLContext:
    """An HTTPS server context that asks for, and verifies, client certificates.

    It trusts no CA yet: :func:`trust_tenant_cas` adds them.

    Raises:
        TlsSetupError: a file is missing, unsafe or not a matching PEM pair.
    """
    check_key_file(key_file)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_OPTIONAL
    context.verify_flags = ssl.VerifyFlags(
        context.verify_flags | X509_V_FLAG_NO_CHECK_TIME
    )
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(certfile=certificate_file, keyfile=key_file)
    except (OSError, ssl.SSLError) as err:
        raise TlsSetupError(f"cannot load the TLS certificate and key: {err}") from err
    return context


class ClientCaTrust:
    """Adds tenant CA certificates to a live server context."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context

    def add(self, pem: str) -> None:
        """Trust ``pem`` for client certificates from the next handshake on."""
        try:
            self._context.load_verify_locations(cadata=pem)
        except ssl.SSLError:
            _log.exception("could not add a tenant CA to the TLS context")


def trust_tenant_cas(state: AppState, context: ssl.SSLContext) -> int:
    """Trust every tenant CA valid now and each one made from now on.

    Subscribes before reading, so a CA made meanwhile is not missed (adding one
    twice is harmless). Returns how many CAs it loaded now.
    """
    trust = ClientCaTrust(context)
    state.ca_listeners.subscribe(trust.add)
    with state.session_factory() as session:
        pems = ca_service.valid_ca_certificates(session=session, now=state.clock.now())
    for pem in pems:
        trust.add(pem)
    return len(pems)
