"""The agent's download transport for python-tuf's ngclient (docs/updates.md §5).

``UpdateFetcher`` is a ``tuf.ngclient.FetcherInterface`` over urllib3: the device's
mTLS client context, the configured proxy (basic auth, no-proxy list), connect and
read timeouts, an overall deadline per ``fetch`` call, and retries with exponential
backoff and full jitter. A body that breaks off (dropped connection, read timeout,
5xx/408/429) is resumed with ``Range: bytes=<received>-``, accepted only as a 206
continuing at exactly that offset of the same representation (same total length and
``ETag``): bytes already handed to ngclient cannot be taken back, so a server that
restarts or changes the file mid-download is an error, never silent corruption.

Every failure is a ``tuf.api.exceptions.DownloadError`` (ngclient expects nothing
else). ngclient caps the length (``max_length``) and verifies hashes; this module
also stops at the server's own ``Content-Length``. Logs carry URLs, never headers.
Sync by design: ngclient is sync and the agent runs update cycles in a worker thread.

Connections are pooled and kept alive for the fetcher's life: one fetcher serves
both repositories of a check, and a small error body (the 404 ngclient expects for
root ``N+1``) is read to its end so the connection stays usable; a body cut short
or not read to its end closes its connection.
"""

import logging
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import urllib3
from tuf.api.exceptions import (
    DownloadError,
    DownloadHTTPError,
    DownloadLengthMismatchError,
    SlowRetrievalError,
)
from tuf.ngclient import FetcherInterface
from urllib3.response import BaseHTTPResponse

from sevenfold.agent.config import ProxyConfig
from sevenfold.agent.errors import AgentConfigError
from sevenfold.agent.no_proxy import bypasses_proxy

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_BYTES = 64 * 1024
MAX_DRAINED_BODY_BYTES = 64 * 1024
"""An error body up to this size is read to keep its connection (keep-alive)."""
RETRYABLE_STATUSES = frozenset({408, 429})
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_TUNNEL_REFUSED = re.compile(r"Tunnel connection failed: (4\d\d)")


@dataclass(frozen=True, slots=True, kw_only=True)
class FetcherSettings:
    """How the agent downloads TUF metadata and images.

    ``max_attempts`` bounds the attempts in a row that bring no new byte (a link that
    drops every few KiB but makes progress is followed to the end); ``deadline_s``
    bounds one ``fetch`` call, retries and backoff included.
    """

    connect_timeout_s: float = 10.0
    read_timeout_s: float = 30.0
    deadline_s: float = 600.0
    max_attempts: int = 5
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    proxy: ProxyConfig | None = None
    no_proxy: tuple[str, ...] = ()
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)
    user_agent: str = "sevenfold-agent"

    def __post_init__(self) -> None:
        timings = (self.connect_timeout_s, self.read_timeout_s, self.deadline_s)
        if min(timings) <= 0:
            raise AgentConfigError("fetcher timeouts and deadline must be positive")
        if self.backoff_base_s < 0 or self.backoff_max_s < self.backoff_base_s:
            raise AgentConfigError("fetcher backoff needs 0 <= base <= max")
        if self.max_attempts < 1 or self.chunk_bytes < 1:
            raise AgentConfigError("fetcher max_attempts and chunk_bytes must be >= 1")


class _TransientError(Exception):
    """One attempt failed in a way worth retrying (after a backoff)."""

    def __init__(self, reason: str, *, timed_out: bool = False, status: int = 0):
        super().__init__(reason)
        self.timed_out = timed_out
        self.status = status


class UpdateFetcher(FetcherInterface):
    """ngclient's transport. Counters are cumulative over the fetcher's life:
    ``attempts`` (requests sent), ``resumes`` (Range requests that continued a body),
    ``bytes_received`` (body bytes handed on)."""

    def __init__(
        self,
        settings: FetcherSettings,
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._rng = rng or random.Random()  # noqa: S311 - timing jitter, not secrets
        self._sleep = sleep
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self.attempts = 0
        self.resumes = 0
        self.bytes_received = 0
        self._direct = urllib3.PoolManager(ssl_context=settings.ssl_context)
        self._proxied: urllib3.ProxyManager | None = None
        if settings.proxy is not None:
            auth = settings.proxy.auth
            self._proxied = urllib3.ProxyManager(
                settings.proxy.url,
                proxy_headers=urllib3.make_headers(
                    proxy_basic_auth=None if auth is None else f"{auth[0]}:{auth[1]}"
                ),
                ssl_context=settings.ssl_context,
            )

    def close(self) -> None:
        """Close pooled connections."""
        self._direct.clear()
        if self._proxied is not None:
            self._proxied.clear()

    def _fetch(self, url: str) -> Iterator[bytes]:
        """Open ``url`` now (HTTP errors surface from ``fetch``); stream its body."""
        transfer = _Transfer(self, url)
        try:
            response = transfer.open()
        except DownloadError:
            raise
        except Exception as err:  # nothing but DownloadError leaves the fetcher
            raise DownloadError(
                f"failed to download {transfer.log_url}: {err}"
            ) from err
        return transfer.chunks(response)

    def _pool_for(self, url: str) -> urllib3.PoolManager:
        if self._proxied is None:
            return self._direct
        parts = urlsplit(url)
        if bypasses_proxy(parts.hostname or "", parts.port, self.settings.no_proxy):
            return self._direct
        return self._proxied

    def _count(self, *, attempts: int = 0, resumes: int = 0, received: int = 0) -> None:
        with self._lock:
            self.attempts += attempts
            self.resumes += resumes
            self.bytes_received += received


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _tls_failure(err: BaseException) -> bool:
    """A certificate or handshake refusal: retrying cannot fix it. (An unexpected EOF
    is not one: a flaky link cuts TLS connections too.)"""
    seen: list[BaseException] = [err]
    while seen:
        current = seen.pop()
        if isinstance(current, ssl.SSLEOFError):
            return False
        if isinstance(current, ssl.SSLError):
            return True
        seen.extend(arg for arg in current.args if isinstance(arg, BaseException))
        if current.__cause__ is not None:
            seen.append(current.__cause__)
    return False


class _Transfer:
    """One ``fetch`` call: where the body stands and what a resume must match."""

    def __init__(self, fetcher: UpdateFetcher, url: str) -> None:
        self.fetcher = fetcher
        self.settings = fetcher.settings
        self.url = url
        self.log_url = _without_credentials(url)
        self.deadline = fetcher._monotonic() + self.settings.deadline_s
        self.received = 0
        self.total_bytes: int | None = None
        self.etag: str | None = None
        self.failures_in_row = 0
        self.response: BaseHTTPResponse | None = None

    def open(self) -> BaseHTTPResponse:
        """A response whose body continues at ``received``; retries what is worth it."""
        while True:
            try:
                self.response = self._request()
            except _TransientError as err:
                self._back_off(err)
            else:
                return self.response

    def chunks(self, response: BaseHTTPResponse) -> Iterator[bytes]:
        """The body, resumed across breaks; only ``DownloadError`` escapes."""
        try:
            while True:
                try:
                    yield from self._body(response)
                except _TransientError as err:
                    _discard(response)
                    self._back_off(err)
                    response = self.open()
                    self.fetcher._count(resumes=1)
                else:
                    return
        except DownloadError:
            raise
        except Exception as err:
            raise DownloadError(f"failed to download {self.log_url}: {err}") from err
        finally:
            if self.response is not None:
                _discard(self.response)

    def _remaining_s(self) -> float:
        remaining = self.deadline - self.fetcher._monotonic()
        if remaining <= 0:
            raise SlowRetrievalError(
                f"{self.log_url} not downloaded within {self.settings.deadline_s} s"
            )
        return remaining

    def _back_off(self, err: _TransientError) -> None:
        """Count the failure; give up after ``max_attempts`` in a row, else wait."""
        self.failures_in_row += 1
        if self.failures_in_row >= self.settings.max_attempts:
            message = (
                f"{self.log_url}: {err} (gave up after {self.failures_in_row} "
                f"attempts without progress)"
            )
            if err.timed_out:
                raise SlowRetrievalError(message) from err
            if err.status:
                raise DownloadHTTPError(message, err.status) from err
            raise DownloadError(message) from err
        cap_s = min(
            self.settings.backoff_max_s,
            self.settings.backoff_base_s * 2 ** min(self.failures_in_row - 1, 62),
        )
        delay_s = min(self.fetcher._rng.uniform(0, cap_s), self._remaining_s())
        logger.info(
            "retrying %s in %.2f s after %s (attempt %d of %d, at byte %d)",
            self.log_url, delay_s, err, self.failures_in_row + 1,
            self.settings.max_attempts, self.received,
        )  # fmt: skip
        self.fetcher._sleep(delay_s)
        self._remaining_s()

    def _request(self) -> BaseHTTPResponse:
        remaining_s = self._remaining_s()
        headers = {
            "User-Agent": self.settings.user_agent,
            "Accept-Encoding": "identity",
        }
        if self.received:
            headers["Range"] = f"bytes={self.received}-"
            if self.etag is not None and not self.etag.startswith("W/"):
                headers["If-Range"] = self.etag
        timeout = urllib3.Timeout(
            connect=min(self.settings.connect_timeout_s, remaining_s),
            read=min(self.settings.read_timeout_s, remaining_s),
        )
        self.fetcher._count(attempts=1)
        try:
            response = self.fetcher._pool_for(self.url).request(
                "GET",
                self.url,
                headers=headers,
                preload_content=False,
                decode_content=False,
                timeout=timeout,
                retries=urllib3.Retry(
                    total=None, connect=0, read=0, status=0, other=0, redirect=5
                ),
            )
        except urllib3.exceptions.HTTPError as err:
            raise self._classified(err) from err
        try:
            self._check_status(response)
        except BaseException:
            _release_or_discard(response)
            raise
        return response

    def _classified(self, err: urllib3.exceptions.HTTPError) -> Exception:
        reason: BaseException = err
        if isinstance(err, urllib3.exceptions.MaxRetryError) and err.reason:
            reason = err.reason
        tunnel_refused = _TUNNEL_REFUSED.search(str(reason))
        if isinstance(reason, urllib3.exceptions.ProxyError) and tunnel_refused:
            status = int(tunnel_refused.group(1))
            if status not in RETRYABLE_STATUSES:
                return DownloadHTTPError(
                    f"the proxy refused the tunnel to {self.log_url} (HTTP {status}; "
                    "407 or 401: wrong or missing proxy credentials)",
                    status,
                )
        if _tls_failure(reason):
            return DownloadError(f"TLS failure reaching {self.log_url}: {reason}")
        if isinstance(reason, urllib3.exceptions.TimeoutError):
            return _TransientError(f"timeout: {reason}", timed_out=True)
        return _TransientError(f"connection failed: {reason}")

    def _check_status(self, response: BaseHTTPResponse) -> None:
        status = response.status
        if status >= 500 or status in RETRYABLE_STATUSES:
            raise _TransientError(f"HTTP {status}", status=status)
        if status == 407:
            raise DownloadHTTPError(
                f"the proxy refused the agent's credentials (407) for {self.log_url}",
                status,
            )
        if status >= 400:
            via = (
                ""
                if self.fetcher._pool_for(self.url) is self.fetcher._direct
                else (" (through the proxy)")
            )
            raise DownloadHTTPError(f"HTTP {status} for {self.log_url}{via}", status)
        if self.received == 0:
            if status != 200:
                raise DownloadError(f"unexpected HTTP {status} for {self.log_url}")
            length = response.headers.get("Content-Length")
            self.total_bytes = int(length) if length and length.isdigit() else None
            self.etag = response.headers.get("ETag")
            return
        self._check_resumed(response)

    def _check_resumed(self, response: BaseHTTPResponse) -> None:
        """A resume is a 206 at exactly ``received`` of the same representation."""
        if response.status != 206:
            raise DownloadError(
                f"{self.log_url} answered a Range request with HTTP "
                f"{response.status}: cannot resume a download already handed on"
            )
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
        if match is None or int(match.group(1)) != self.received:
            raise DownloadError(
                f"{self.log_url} resumed at the wrong offset "
                f"(asked for byte {self.received})"
            )
        total = None if match.group(3) == "*" else int(match.group(3))
        if self.total_bytes is not None and total != self.total_bytes:
            raise DownloadError(f"{self.log_url} changed length mid-download")
        if self.etag is not None and response.headers.get("ETag") != self.etag:
            raise DownloadError(f"{self.log_url} changed (ETag) mid-download")

    def _body(self, response: BaseHTTPResponse) -> Iterator[bytes]:
        while True:
            self._remaining_s()
            try:
                data = response.read1(self.settings.chunk_bytes, decode_content=False)
            except urllib3.exceptions.HTTPError as err:
                classified = self._classified(err)
                raise classified from err
            except OSError as err:
                raise _TransientError(f"connection failed: {err}") from err
            if not data:
                if self.total_bytes is not None and self.received < self.total_bytes:
                    raise _TransientError("connection closed before the end")
                response.release_conn()
                return
            total = self.total_bytes
            if total is not None and self.received + len(data) > total:
                raise DownloadLengthMismatchError(
                    f"{self.log_url} sent more than its Content-Length ({total} bytes)"
                )
            self.received += len(data)
            self.failures_in_row = 0
            self.fetcher._count(received=len(data))
            yield data


def _release_or_discard(response: BaseHTTPResponse) -> None:
    """After an error status: read a small, framed body to its end and return the
    connection to the pool (ngclient's expected 404 for root N+1 then costs no new
    TLS handshake); close anything larger or unframed (``_discard``)."""
    length = response.headers.get("Content-Length", "")
    if not length.isdigit() or int(length) > MAX_DRAINED_BODY_BYTES:
        _discard(response)
        return
    try:
        body = response.read(decode_content=False)
    except (urllib3.exceptions.HTTPError, OSError):
        _discard(response)
        return
    if len(body) != int(length):
        _discard(response)
        return
    response.release_conn()


def _discard(response: BaseHTTPResponse) -> None:
    """Close a response that will not be read to its end (its connection too)."""
    response.close()
    response.release_conn()
