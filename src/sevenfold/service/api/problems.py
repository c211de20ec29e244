"""The one place that turns errors into RFC 9457 ``application/problem+json``.

Clients never see stack traces or internal messages: unexpected errors become a
generic 500 problem and are logged with the request ID.
"""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from sevenfold.protocol.problems import PROBLEM_CONTENT_TYPE, ProblemCode
from sevenfold.service.errors import ServiceError

log = logging.getLogger(__name__)

_HTTP_CODES = {
    401: ProblemCode.UNAUTHENTICATED,
    403: ProblemCode.FORBIDDEN,
    404: ProblemCode.NOT_FOUND,
    405: ProblemCode.METHOD_NOT_ALLOWED,
    413: ProblemCode.BODY_TOO_LARGE,
    422: ProblemCode.VALIDATION_ERROR,
}


class Problem(BaseModel):
    """The RFC 9457 body of every error (documented in the OpenAPI document)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None


_PROBLEM_CONTENT = {PROBLEM_CONTENT_TYPE: {"schema": Problem.model_json_schema()}}

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": _PROBLEM_CONTENT}
    for status, description in (
        (401, "No valid API token"),
        (403, "The token's role does not allow this"),
        (404, "Not found in the caller's tenant"),
        (409, "Conflicts with the current state"),
        (413, "Request body too large"),
        (422, "Invalid request"),
    )
}
"""The problem responses every operator route can return, for the OpenAPI document."""


def problem_response(
    code: ProblemCode,
    detail: str,
    *,
    instance: str | None = None,
    extra: dict[str, Any] | None = None,
    status: int | None = None,
) -> JSONResponse:
    """Build a problem+json response for a code."""
    body: dict[str, Any] = {
        "type": code.type_uri,
        "title": code.value.replace("-", " "),
        "status": status or code.status,
        "detail": detail,
        "code": code.value,
    }
    if instance:
        body["instance"] = instance
    if extra:
        body.update(extra)
    headers = (
        {"WWW-Authenticate": "Bearer"} if code is ProblemCode.UNAUTHENTICATED else None
    )
    return JSONResponse(
        body,
        status_code=body["status"],
        media_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, ServiceError):  # registered only for ServiceError
        raise TypeError("unexpected exception type")
    return problem_response(
        exc.code, exc.detail, instance=request.url.path, extra=exc.extra
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):
        raise TypeError("unexpected exception type")
    errors = [
        {
            "location": [str(part) for part in error.get("loc", ())],
            "message": str(error.get("msg", "")),
        }
        for error in exc.errors()[:50]
    ]
    first = errors[0] if errors else {"location": [], "message": "invalid request"}
    where = ".".join(first["location"]) or "request"
    return problem_response(
        ProblemCode.VALIDATION_ERROR,
        f"{where}: {first['message']}",
        instance=request.url.path,
        extra={"errors": errors},
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):
        raise TypeError("unexpected exception type")
    code = _HTTP_CODES.get(exc.status_code, ProblemCode.INTERNAL)
    detail = str(exc.detail) if exc.detail else code.value
    return problem_response(
        code, detail, instance=request.url.path, status=exc.status_code
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("request.failed path=%s", request.url.path, exc_info=exc)
    return problem_response(
        ProblemCode.INTERNAL,
        "internal error; see the service log",
        instance=request.url.path,
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Register the handlers on an app."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
