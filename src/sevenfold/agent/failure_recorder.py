"""What the daemon and the update cycle tell about failures (docs/failures.md §1).

They depend on the ``FailureRecorder`` protocol only; ``QueueFailureRecorder`` turns
each call into a ``FailureQueue`` record with its aggregation key (the table in
docs/failures.md), the running OS version and, for network failures, how the
connection failed and to which host, then nudges the uploader.

A network failure is classified from the exception chain (httpx, urllib3, ssl,
socket): DNS, connect, timeout, TLS, proxy, reset, or a 5xx answer.
"""

import asyncio
import logging
import re
import socket
import ssl
from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlsplit

import httpx
import urllib3.exceptions
from tuf.api.exceptions import SlowRetrievalError

from sevenfold.agent.errors import NoDeviceIdentityError, ProxyAuthenticationError
from sevenfold.agent.failure_queue import FailureQueue
from sevenfold.protocol.failures import FailureKind, NetworkFailureKind

_log = logging.getLogger(__name__)
_ANSWERED_5XX = re.compile(r"\b(?:answered|HTTP) (5\d\d)\b")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
"""What no service database stores (a NUL, a lone surrogate): the service refuses a
batch holding it, so it is replaced here rather than costing the record."""
MAX_CHAIN_DEPTH = 16


class FailureRecorder(Protocol):
    """Where failures go; every method logs and returns, never raises."""

    def attestation_failed(self, reason: str, detail: str) -> None:
        """The service refused the evidence, or no evidence could be made."""
        ...

    def network_failed(self, error: BaseException, what: str) -> None:
        """Talking to the service failed at the connection level (``what``: the
        request, e.g. ``attestation``); ignored if ``error`` is no such failure."""
        ...

    def update_failed(self, image_id: str | None, reason: str, detail: str) -> None:
        """A download, verification or install failed."""
        ...

    def bad_slot_boot(self, image_id: str | None, detail: str) -> None:
        """A trial boot failed its health check."""
        ...

    def rolled_back(self, image_id: str | None, detail: str) -> None:
        """The bootloader went back to the old slot."""
        ...

    def record_app_exit(
        self,
        component_id: str,
        image_id: str | None,
        *,
        exit_code: int | None = None,
        signal: int | None = None,
    ) -> None:
        """An app exited non-zero or on a signal (the app supervisor calls this)."""
        ...


def classify_network_failure(error: BaseException) -> NetworkFailureKind | None:
    """How a connection to the service failed, from ``error`` and its causes;
    ``None`` when nothing in the chain is a connection failure."""
    chain = _chain(error)
    if any(isinstance(link, NoDeviceIdentityError) for link in chain):
        return None  # a local state (no usable certificate), not the network
    checks: tuple[tuple[NetworkFailureKind, tuple[type[BaseException], ...]], ...] = (
        (
            NetworkFailureKind.PROXY,
            (
                httpx.ProxyError,
                urllib3.exceptions.ProxyError,
                ProxyAuthenticationError,
            ),
        ),
        (
            NetworkFailureKind.DNS,
            (socket.gaierror, urllib3.exceptions.NameResolutionError),
        ),
        (NetworkFailureKind.TLS, (ssl.SSLError, urllib3.exceptions.SSLError)),
        (
            NetworkFailureKind.TIMEOUT,
            (
                httpx.TimeoutException,
                urllib3.exceptions.TimeoutError,
                SlowRetrievalError,
                TimeoutError,
            ),
        ),
        (
            NetworkFailureKind.RESET,
            (
                httpx.RemoteProtocolError,
                httpx.ReadError,
                httpx.WriteError,
                urllib3.exceptions.ProtocolError,
                ConnectionResetError,
                ConnectionAbortedError,
                BrokenPipeError,
            ),
        ),
        (
            NetworkFailureKind.CONNECT,
            (
                httpx.ConnectError,
                urllib3.exceptions.NewConnectionError,
                ConnectionError,
            ),
        ),
    )
    for kind, types in checks:
        if any(isinstance(link, types) for link in chain):
            return kind
    for link in chain:
        # DownloadHTTPError (TUF) carries the status; the agent's own clients say
        # "answered 503" (attestation_client, update_status_client).
        status = getattr(link, "status_code", None)
        if isinstance(status, int) and 500 <= status <= 599:
            return NetworkFailureKind.HTTP
        if _ANSWERED_5XX.search(str(link)):
            return NetworkFailureKind.HTTP
    return None


def _chain(error: BaseException) -> list[BaseException]:
    links: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in links:
        links.append(current)
        if len(links) >= MAX_CHAIN_DEPTH:
            break
        current = current.__cause__ or current.__context__
    return links


class QueueFailureRecorder:
    """Records into a ``FailureQueue`` and nudges its uploader."""

    def __init__(
        self,
        queue: FailureQueue,
        *,
        server_url: str,
        proxy_url: str | None = None,
        os_version: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._queue = queue
        self._server_host = urlsplit(server_url).hostname
        self._proxy_host = None if proxy_url is None else urlsplit(proxy_url).hostname
        self._os_version = os_version
        self.recorded = asyncio.Event()
        """Set whenever a record is added (the uploader waits on it)."""

    @property
    def queue(self) -> FailureQueue:
        """The queue records go into."""
        return self._queue

    def attestation_failed(self, reason: str, detail: str) -> None:
        """Key: kind + reason."""
        self._record(
            FailureKind.ATTESTATION_FAILURE,
            f"{FailureKind.ATTESTATION_FAILURE.value}:{reason}",
            f"attestation {reason}: {detail}",
        )

    def network_failed(self, error: BaseException, what: str) -> None:
        """Key: kind + network kind + host."""
        network_kind = classify_network_failure(error)
        if network_kind is None:
            _log.debug("%s failed but not at the connection level: %s", what, error)
            return
        host = (
            self._proxy_host
            if network_kind is NetworkFailureKind.PROXY and self._proxy_host
            else self._server_host
        )
        kind = FailureKind.NETWORK_FAILURE
        self._record(
            kind,
            f"{kind.value}:{network_kind.value}:{host or ''}",
            f"{what}: {type(error).__name__}: {error}",
            network_kind=network_kind,
            host=host,
        )

    def update_failed(self, image_id: str | None, reason: str, detail: str) -> None:
        """Key: kind + image (and the reason, so unlike failures stay apart)."""
        kind = FailureKind.UPDATE_FAILURE
        self._record(
            kind, f"{kind.value}:{image_id or ''}:{reason}", detail, image_id=image_id
        )

    def bad_slot_boot(self, image_id: str | None, detail: str) -> None:
        """Key: kind + image."""
        kind = FailureKind.BAD_SLOT_BOOT
        self._record(kind, f"{kind.value}:{image_id or ''}", detail, image_id=image_id)

    def rolled_back(self, image_id: str | None, detail: str) -> None:
        """Key: kind + image."""
        kind = FailureKind.ROLLBACK
        self._record(kind, f"{kind.value}:{image_id or ''}", detail, image_id=image_id)

    def record_app_exit(
        self,
        component_id: str,
        image_id: str | None,
        *,
        exit_code: int | None = None,
        signal: int | None = None,
    ) -> None:
        """Key: kind + component + exit code or signal. A clean exit (0, no
        signal) is no crash and is not recorded."""
        if signal is None and not exit_code:
            return
        how = f"signal {signal}" if signal is not None else f"exit code {exit_code}"
        kind = FailureKind.APP_CRASH
        self._record(
            kind,
            f"{kind.value}:{component_id}:{how}",
            f"app {component_id} ended with {how}",
            component_id=component_id,
            image_id=image_id,
            exit_code=exit_code if signal is None else None,
            signal=signal,
        )

    def _record(
        self,
        kind: FailureKind,
        key: str,
        description: str,
        *,
        image_id: str | None = None,
        component_id: str | None = None,
        exit_code: int | None = None,
        signal: int | None = None,
        network_kind: NetworkFailureKind | None = None,
        host: str | None = None,
    ) -> None:
        try:
            os_version = self._os_version()
        except Exception as err:  # noqa: BLE001 - a failure report must not fail
            _log.warning("cannot tell the OS version for a failure record: %s", err)
            os_version = None
        key = _UNSTORABLE.sub("\ufffd", key)
        description = _UNSTORABLE.sub("\ufffd", description)
        try:
            self._queue.record(
                kind,
                key,
                description=description,
                component_id=component_id,
                image_id=image_id,
                os_version=os_version,
                exit_code=exit_code,
                signal=signal,
                network_kind=network_kind,
                host=host,
            )
        except Exception:  # noqa: BLE001 - a failure to record must never stop the daemon
            _log.exception("cannot record failure %s", key)
            return
        self.recorded.set()
