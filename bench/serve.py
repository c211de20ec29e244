"""The server process of a benchmark: one uvicorn worker on an inherited socket.

``python -m bench.serve hello --fd N`` or ``python -m bench.serve sevenfold --fd N
--database-url URL --data-dir DIR``. Both apps get the same uvicorn settings (uvloop
and httptools when installed, no access log), so the baseline differs from the
service only in the app. The parent binds the socket and passes its descriptor, so
there is no race for the port.
"""

import argparse
import socket
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from bench.hello import create_hello_app


def _app(args: argparse.Namespace) -> ASGIApp:
    if args.app == "hello":
        return create_hello_app()
    # Imported here so the baseline process never loads the service.
    from sevenfold.service.app import create_app  # noqa: PLC0415
    from sevenfold.service.settings import ServiceSettings  # noqa: PLC0415

    settings = ServiceSettings(data_dir=args.data_dir, database_url=args.database_url)
    return create_app(settings)


def main() -> None:
    """Parse the command line and serve until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("app", choices=["hello", "sevenfold"])
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--database-url")
    parser.add_argument("--data-dir", type=Path, default=Path("."))
    args = parser.parse_args()
    # socket(fileno=...) detects the family; uvicorn's own ``fd=`` option assumes a
    # Unix socket, which leaves TCP_NODELAY off and adds 40 ms delayed-ACK stalls.
    listener = socket.socket(fileno=args.fd)
    config = uvicorn.Config(
        _app(args), workers=1, log_level="warning", access_log=False
    )
    uvicorn.Server(config).run(sockets=[listener])


if __name__ == "__main__":
    main()
