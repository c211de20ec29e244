"""A benchmark server over HTTPS with client certificates, as ``sevenfold serve
--tls-cert --tls-key`` runs it, in its own process.

``python -m bench.serve_tls hello|sevenfold --fd N --tls-cert F --tls-key F
[--client-ca F] [--database-url URL --data-dir DIR]``. Both apps get the uvicorn
settings of ``sevenfold serve`` with TLS (``uvicorn_tls_options``: the h11
protocol that puts the verified client chain in the ASGI scope, the server context
that asks for client certificates), one worker, no access log; so the hello-world
baseline differs from the service only in the app. The service trusts every tenant
CA for client certificates (and each one made later); the baseline trusts the CAs
in ``--client-ca``, so both verify the same device certificates. The parent binds
the port and hands the socket over, as ``bench.servers`` does.
"""

import argparse
import contextlib
import socket
import ssl
from collections.abc import Iterator, Sequence
from pathlib import Path

import uvicorn

from bench.hello import create_hello_app
from bench.servers import server_process
from sevenfold.service.tls.context import server_context, trust_tenant_cas
from sevenfold.service.tls.server import uvicorn_tls_options


def _config(args: argparse.Namespace) -> uvicorn.Config:
    context = server_context(args.tls_cert, args.tls_key)
    if args.app == "hello":
        app = create_hello_app()
        if args.client_ca is not None:  # verify device certificates as the service does
            context.load_verify_locations(cafile=args.client_ca)
    else:
        # Imported here so the baseline process never loads the service.
        from sevenfold.service.app import create_app  # noqa: PLC0415
        from sevenfold.service.settings import ServiceSettings  # noqa: PLC0415

        settings = ServiceSettings(
            data_dir=args.data_dir, database_url=args.database_url
        )
        app = create_app(settings)
        trust_tenant_cas(app.state.sevenfold, context)
    return uvicorn.Config(
        app,
        workers=1,
        log_level="warning",
        access_log=False,
        **uvicorn_tls_options(context),
    )


def main() -> None:
    """Parse the command line and serve HTTPS until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("app", choices=["hello", "sevenfold"])
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--tls-cert", type=Path, required=True)
    parser.add_argument("--tls-key", type=Path, required=True)
    parser.add_argument("--database-url")
    parser.add_argument("--client-ca", type=Path, help="hello: trusted client CAs")
    parser.add_argument("--data-dir", type=Path, default=Path("."))
    args = parser.parse_args()
    listener = socket.socket(fileno=args.fd)  # TCP: see bench.serve on TCP_NODELAY
    uvicorn.Server(_config(args)).run(sockets=[listener])


@contextlib.contextmanager
def tls_server_process(
    arguments: Sequence[str],
    *,
    client_context: ssl.SSLContext,
    ready_path: str,
    log_file: Path,
) -> Iterator[str]:
    """Run ``python -m bench.serve_tls ARGUMENTS``; yield its ``https://`` base URL
    once ``ready_path`` answers 200 to a client using ``client_context``."""
    with server_process(
        arguments,
        ready_path=ready_path,
        log_file=log_file,
        module="bench.serve_tls",
        client_context=client_context,
    ) as base_url:
        yield base_url


if __name__ == "__main__":
    main()
