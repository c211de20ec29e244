"""A small synchronous client for the service's operator API (``/api/v1``).

Every command goes through :meth:`ServiceClient.call`, which turns transport failures
and ``application/problem+json`` answers into the CLI's typed errors, so a command
only deals with the happy path. The transport is swappable (httpx's), which the tests
do not need: they run the CLI against a real server over HTTP.
"""

import contextlib
import ssl
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from sevenfold.cli.errors import ServerError, UnreachableError, error_for_problem
from sevenfold.protocol.problems import PROBLEM_CONTENT_TYPE, code_from_type

API_PREFIX = "/api/v1"
DEFAULT_TIMEOUT_S = 30.0
PAGE_SIZE = 100
MAX_DETAIL_CHARS = 300


class ServiceClient:
    """Operator calls to one service with one bearer token."""

    def __init__(
        self,
        server_url: str,
        token: str | None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        ca_file: Path | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        verify: ssl.SSLContext | bool = True
        if ca_file is not None:
            verify = ssl.create_default_context(cafile=str(ca_file))
        self.server_url = server_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.server_url + API_PREFIX,
            headers=headers,
            timeout=timeout_s,
            verify=verify,
            transport=transport,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send one request; return its decoded JSON body (None when empty).

        Raises:
            UnreachableError: no answer (connection refused, timeout, TLS failure).
            CliError: the service answered with a problem (mapped by status).
            ServerError: a success answer that is not JSON.
        """
        response = self._send(method, path, json=json, params=params)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as err:
            raise ServerError(
                f"{method} {path}: the service sent a body that is not JSON"
            ) from err

    def download(self, path: str, *, params: Mapping[str, Any] | None = None) -> bytes:
        """GET a file (not JSON); return its bytes.

        Raises:
            UnreachableError: no answer.
            CliError: the service answered with a problem.
        """
        return self._send("GET", path, json=None, params=params).content

    @contextlib.contextmanager
    def stream(
        self,
        method: str,
        path: str,
        *,
        content: Iterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Iterator[httpx.Response]:
        """Send a request whose body or answer is streamed (image upload, download).

        The answer is a success; its body is read by the caller (``iter_bytes``).

        Raises:
            UnreachableError: no answer, or the connection broke mid-stream.
            CliError: the service answered with a problem.
        """
        try:
            with self._http.stream(
                method, path, content=content, headers=headers
            ) as response:
                if not response.is_success:
                    response.read()
                    raise _problem_error(response)
                yield response
        except httpx.TransportError as err:
            raise UnreachableError(
                f"no answer from {self.server_url} ({type(err).__name__}: {err})"
            ) from err

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any,
        params: Mapping[str, Any] | None,
    ) -> httpx.Response:
        query = {
            key: value for key, value in (params or {}).items() if value is not None
        }
        try:
            response = self._http.request(method, path, json=json, params=query)
        except httpx.TransportError as err:
            raise UnreachableError(
                f"no answer from {self.server_url} ({type(err).__name__}: {err})"
            ) from err
        if not response.is_success:
            raise _problem_error(response)
        return response

    def pages(
        self, path: str, *, params: Mapping[str, Any] | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield the items of a cursor-paginated listing, one page at a time."""
        query = dict(params or {})
        query.setdefault("limit", PAGE_SIZE)
        while True:
            page = self.call("GET", path, params=query)
            if not isinstance(page, dict) or not isinstance(page.get("items"), list):
                raise ServerError(f"GET {path}: not a page of items")
            yield page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return
            query["cursor"] = cursor


def _problem_error(response: httpx.Response) -> Exception:
    detail = response.reason_phrase or f"HTTP {response.status_code}"
    code = None
    if response.headers.get("content-type", "").startswith(PROBLEM_CONTENT_TYPE):
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            code = code_from_type(str(body.get("type", "")))
            detail = str(body.get("detail") or body.get("title") or detail)
    return error_for_problem(response.status_code, code, detail[:MAX_DETAIL_CHARS])
