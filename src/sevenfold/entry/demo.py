"""``sevenfold demo``: a throwaway service, a simulated fleet, and where to look.

The demo is a composition root: it initializes a tenant exactly as ``sevenfold init``
does, serves the real app with uvicorn on 127.0.0.1 over HTTPS (a throwaway demo CA,
``demo_tls``; devices authenticate with their certificates, mTLS), and then drives it
only over HTTP through the simulator, as an operator and devices would. What it shows
is a sequence of *acts* (``ACTS``); later capabilities (attestation, updates, failure
reports) add their own act after the fleet one, reading what earlier acts left in
``DemoContext``.

It stops on SIGINT/SIGTERM or after ``--exit-after`` seconds: the server shuts down
gracefully, the temporary data directory is removed, and the exit code is 0.
"""

import asyncio
import contextlib
import errno
import json
import os
import shutil
import signal
import socket
import ssl
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import click
import uvicorn

from sevenfold.entry.demo_attestation import AttestAct, demo_fleet
from sevenfold.entry.demo_tls import create_demo_tls
from sevenfold.entry.demo_updates import UpdateAct
from sevenfold.protocol.clock import Clock, SystemClock
from sevenfold.service.app import create_app
from sevenfold.service.ca.key_encryption_key import create_key_encryption_key_file
from sevenfold.service.db.engine import make_engine, make_session_factory
from sevenfold.service.db.migrate import upgrade
from sevenfold.service.settings import ServiceSettings
from sevenfold.service.tenants import service as tenant_service
from sevenfold.service.tls.context import server_context, trust_tenant_cas
from sevenfold.service.tls.server import uvicorn_tls_options
from sevenfold.sim.client import OperatorClient
from sevenfold.sim.device import Fleet
from sevenfold.sim.errors import SimError
from sevenfold.sim.report import fleet_lines
from sevenfold.sim.scenario import FleetOperator, FleetPlan, FleetSummary

HOST = "127.0.0.1"
PREFERRED_PORT = 8443
STARTUP_TIMEOUT_S = 30.0
GRACEFUL_SHUTDOWN_S = 5
EXIT_FAILED = 1
EXIT_USAGE = 2
DEMO_ROLLOUT_EVALUATION_INTERVAL_S = 1.0
DEVICES_DIR = "devices"  # one state directory per simulated device, in the data dir


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoOptions:
    """The command line, parsed."""

    devices: int
    port: int | None
    data_dir: Path | None
    exit_after_s: float | None
    tenant_name: str
    output: str = "table"

    @property
    def as_json(self) -> bool:
        """JSON on stdout: the story goes to stderr, one summary object to stdout."""
        return self.output == "json"

    def say(self, text: str) -> None:
        """Tell the story: stdout for people, stderr when stdout is JSON."""
        click.echo(text, err=self.as_json)


@dataclass(slots=True, kw_only=True)
class DemoContext:
    """What the acts share: the running service and what earlier acts produced."""

    base_url: str
    token: str
    clock: Clock
    fleet: Fleet
    server_ca: Path
    data_dir: Path
    say: Callable[[str], None] = click.echo
    fleet_summary: FleetSummary | None = None
    notes: dict[str, object] = field(default_factory=dict)
    played: list[dict[str, object]] = field(default_factory=list)

    def tls_verify(self) -> ssl.SSLContext:
        """A client context that trusts the demo CA (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.server_ca))


class DemoAct(Protocol):
    """One part of the demo; returns the lines it wants printed."""

    title: str

    async def play(self, context: DemoContext) -> list[str]:
        """Drive the service over HTTP and describe what happened."""
        ...


class FleetAct:
    """Register the fleet, create a product, bulk-claim and group the devices."""

    title = "Fleet: register, create a product, claim, group"

    async def play(self, context: DemoContext) -> list[str]:
        """Run the simulator's foundation scenario."""
        async with OperatorClient(
            context.base_url,
            context.token,
            clock=context.clock,
            verify=context.tls_verify(),
        ) as client:
            operator = FleetOperator(
                client,
                clock=context.clock,
                plan=FleetPlan(product_name="Demo Gateway"),
            )
            context.fleet_summary = await operator.run(context.fleet)
        return fleet_lines(context.fleet_summary)


ACTS: tuple[DemoAct, ...] = (FleetAct(), AttestAct(), UpdateAct())
"""The demo's acts in order (failures come next)."""


class _DemoServer(uvicorn.Server):
    """uvicorn without its own signal handling: the demo owns SIGINT/SIGTERM.

    uvicorn re-raises a captured SIGINT after shutdown, which would end the demo with
    a KeyboardInterrupt traceback instead of a clean exit.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(port: int | None) -> socket.socket:
    """Bind the listening socket now, so the port is ours before anything prints.

    No port given: 8443 if free, else any free port. ``0``: any free port.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, PREFERRED_PORT if port is None else port))
    except OSError as err:
        if port is not None or err.errno != errno.EADDRINUSE:
            sock.close()
            raise
        sock.bind((HOST, 0))
    sock.listen(128)
    return sock


def _initialize(settings: ServiceSettings, tenant_name: str) -> tuple[str, str, str]:
    """Create the database, the tenant and its administrator token, as ``init`` does.

    Returns the tenant's name, its ID and the token text.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.data_dir, 0o700)
    create_key_encryption_key_file(settings.effective_key_encryption_key_file)
    upgrade(settings.effective_database_url)
    engine = make_engine(settings.effective_database_url)
    try:
        with make_session_factory(engine)() as session:
            tenant, token = tenant_service.bootstrap(
                session=session, clock=SystemClock(), tenant_name=tenant_name
            )
    finally:
        engine.dispose()
    return tenant.name, tenant.id, token


def _where_to_look(
    base_url: str, token: str, server_ca: Path, kept: Path | None
) -> list[str]:
    lines = [
        "Where to look:",
        f"  Service:   {base_url}  (API under /api/v1, OpenAPI at /openapi.json)",
        f"  TLS CA:    {server_ca}  (the demo's own CA; trust it to connect)",
        f"  API docs:  {base_url}/docs",
        f"  Health:    {base_url}/readyz   Metrics: {base_url}/metrics",
        "  Administrator token of this throwaway demo tenant (printed only because the",
        "  demo's data is discarded on exit; a real token is shown once by 'init'):",
        f"    {token}",
        f"  CLI:       sevenfold login --server {base_url} --ca-file {server_ca}",
        "             (paste the token)",
        "             sevenfold device list",
        f'  curl:      curl --cacert {server_ca} -H "Authorization: Bearer $TOKEN" '
        f"{base_url}/api/v1/devices",
    ]
    if kept is not None:
        lines.append(
            f"  Later:     sevenfold serve --data-dir {kept}   (the data is kept)"
        )
    return lines


async def _until_started(server: uvicorn.Server, serving: asyncio.Task[None]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT_S
    while not server.started:
        if serving.done() or loop.time() > deadline:
            raise click.ClickException("the service did not start (see messages above)")
        await asyncio.sleep(0.02)


async def _play(context: DemoContext) -> None:
    for act in ACTS:
        context.say(f"\n== {act.title} ==")
        lines = await act.play(context)
        for line in lines:
            context.say(line)
        context.played.append({"title": act.title, "lines": lines})


def _summary(context: DemoContext, options: DemoOptions, tenant_id: str) -> str:
    """The ``--output json`` document (docs/cli.md): what ran and where to look."""
    return json.dumps(
        {
            "service_url": context.base_url,
            "administrator_token": context.token,
            "tenant": {"id": tenant_id, "name": options.tenant_name},
            "data_dir": str(options.data_dir) if options.data_dir else None,
            "acts": context.played,
            "updates": context.notes.get("updates"),
        },
        indent=2,
        sort_keys=True,
    )


async def _wait_for_stop(
    stop: asyncio.Event, exit_after_s: float | None, say: Callable[[str], None]
) -> None:
    if exit_after_s is None:
        say("\nServing until Ctrl-C.")
        await stop.wait()
    elif exit_after_s > 0:
        say(f"\nServing for {exit_after_s:g} s (or until Ctrl-C).")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=exit_after_s)


async def _serve_and_play(
    options: DemoOptions,
    settings: ServiceSettings,
    sock: socket.socket,
    token: str,
    tenant_id: str,
) -> int:
    """Serve the app, play the acts, wait; return the exit code."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    clock = SystemClock()
    tls = create_demo_tls(settings.data_dir, HOST, clock=clock)
    app = create_app(settings)
    # Devices present their daily certificates (mTLS), as ``sevenfold serve`` runs.
    ssl_context = server_context(tls.certificate_file, tls.key_file)
    trust_tenant_cas(app.state.sevenfold, ssl_context)
    server = _DemoServer(
        uvicorn.Config(
            app,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            **uvicorn_tls_options(ssl_context),
        )
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    base_url = f"https://{HOST}:{sock.getsockname()[1]}"
    try:
        await _until_started(server, serving)
        options.say(f"Service: {base_url}")
        context = DemoContext(
            base_url=base_url,
            token=token,
            clock=clock,
            server_ca=tls.ca_file,
            data_dir=settings.data_dir,
            say=options.say,
            fleet=demo_fleet(
                options.devices, settings.data_dir / DEVICES_DIR, clock=clock
            ),
        )
        acts = asyncio.create_task(_play(context))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({acts, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not acts.done():
            acts.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await acts
            options.say("\nInterrupted; stopping.")
            return 0
        acts.result()
        options.say("")
        for line in _where_to_look(base_url, token, tls.ca_file, options.data_dir):
            options.say(line)
        if options.as_json:
            click.echo(_summary(context, options, tenant_id))
        await _wait_for_stop(stop, options.exit_after_s, options.say)
        options.say("\nStopping.")
        return 0
    finally:
        server.should_exit = True
        await serving
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def run_demo(options: DemoOptions) -> int:
    """Run the whole demo; return the process exit code."""
    # Until the event loop takes over, SIGTERM stops the demo like Ctrl-C does, so
    # the temporary directory is still removed.
    signal.signal(signal.SIGTERM, _interrupt)
    if options.data_dir is not None and (options.data_dir / "sevenfold.db").exists():
        click.echo(
            f"Error: {options.data_dir} already holds a Sevenfold database; "
            "give an empty directory or leave out --data-dir",
            err=True,
        )
        return EXIT_USAGE
    try:
        sock = _bind(options.port)
    except OSError as err:
        click.echo(f"Error: cannot listen on {HOST}:{options.port}: {err}", err=True)
        return EXIT_USAGE
    temporary = options.data_dir is None
    data_dir = options.data_dir or Path(tempfile.mkdtemp(prefix="sevenfold-demo-"))
    try:
        settings = ServiceSettings(
            data_dir=data_dir,
            database_url=None,
            host=HOST,
            port=sock.getsockname()[1],
            # Waves open and failures are judged within a second, not ten.
            rollout_evaluation_interval_s=DEMO_ROLLOUT_EVALUATION_INTERVAL_S,
        )
        options.say(
            "Sevenfold demo: a throwaway tenant on the embedded SQLite database"
        )
        removal = "removed on exit" if temporary else "kept"
        options.say(f"Data directory: {data_dir} ({removal})")
        name, tenant_id, token = _initialize(settings, options.tenant_name)
        options.say(f"Tenant: {name} ({tenant_id})")
        return asyncio.run(_serve_and_play(options, settings, sock, token, tenant_id))
    except KeyboardInterrupt:
        options.say("\nInterrupted; stopping.")
        return 0
    except (SimError, click.ClickException) as err:
        message = err.format_message() if isinstance(err, click.ClickException) else err
        click.echo(f"Error: {message}", err=True)
        return EXIT_FAILED
    finally:
        sock.close()
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)
            options.say(f"Removed {data_dir}.")


@click.command("demo")
@click.option(
    "--devices",
    type=click.IntRange(1, 10_000),
    default=12,
    show_default=True,
    help="How many simulated devices to register and claim.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port on 127.0.0.1 [default: 8443 if free, else any free port; 0: any].",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the demo's database here (an empty directory) instead of a temp dir.",
)
@click.option(
    "--exit-after",
    "exit_after_s",
    type=click.FloatRange(min=0),
    default=None,
    help="Stop after this many seconds of serving (0: right after the scenario).",
)
@click.option("--tenant-name", default="Demo", show_default=True)
@click.option(
    "--output",
    "-o",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="json: the story on stderr, one summary object on stdout (docs/cli.md).",
)
def demo_command(
    devices: int,
    port: int | None,
    data_dir: Path | None,
    exit_after_s: float | None,
    tenant_name: str,
    output: str,
) -> None:
    """Run the service with a simulated fleet on a throwaway SQLite database."""
    sys.exit(
        run_demo(
            DemoOptions(
                devices=devices,
                port=port,
                data_dir=data_dir,
                exit_after_s=exit_after_s,
                tenant_name=tenant_name,
                output=output,
            )
        )
    )
