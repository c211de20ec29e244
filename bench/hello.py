"""The baseline: a bare Starlette hello-world, served exactly like the service."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def hello(_request: Request) -> PlainTextResponse:
    """Answer every request with a constant body."""
    return PlainTextResponse("Hello, world!")


def create_hello_app() -> Starlette:
    """One route, no middleware, no database."""
    return Starlette(routes=[Route("/", hello)])
