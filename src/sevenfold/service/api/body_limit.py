"""ASGI middleware that refuses oversized request bodies before reading them in full.

A declared ``Content-Length`` over the limit is refused at once. A body without one
(chunked) is read ahead here, at most one message past the limit: if it passes the
limit it is refused without reading the rest, otherwise it is replayed to the app.
(Raising inside the app's ``receive`` is not enough: FastAPI turns any error while
reading the body into a generic 400.)

Routes listed in ``exempt_routes`` (method, path) stream their bodies and enforce a
cap of their own: only the image upload, capped by ``max_image_bytes``.
"""

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sevenfold.protocol.problems import PROBLEM_CONTENT_TYPE, ProblemCode
from sevenfold.service.errors import BodyTooLargeError


class BodyLimitMiddleware:
    """Enforce ``max_body_bytes`` on every HTTP request."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        exempt_routes: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.exempt_routes = exempt_routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            (scope.get("method", ""), scope.get("path", "")) in self.exempt_routes
        ):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._refuse(send)
            return
        if declared is None:
            buffered = await self._read_ahead(receive)
            if buffered is None:
                await self._refuse(send)
                return
            receive = _replay(buffered, receive)
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLargeError:
            if not response_started:
                await self._refuse(send)

    async def _read_ahead(self, receive: Receive) -> list[Message] | None:
        """Read a whole body of unknown length; None once it passes the limit."""
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages  # the client went away; let the app see that
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                return None
            if not message.get("more_body", False):
                return messages

    async def _refuse(self, send: Send) -> None:
        code = ProblemCode.BODY_TOO_LARGE
        body = json.dumps(
            {
                "type": code.type_uri,
                "title": "body too large",
                "status": code.status,
                "detail": f"request bodies are limited to {self.max_body_bytes} bytes",
                "code": code.value,
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": code.status,
                "headers": [
                    (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that yields the buffered messages first, then the real ones."""
    pending = list(messages)

    async def replaying_receive() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replaying_receive


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
