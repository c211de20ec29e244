"""Click commands that run the service locally: ``init``, ``serve`` and ``db upgrade``.

These act on the database directly (they are the service's own entry points); the
operator commands in ``sevenfold.cli`` only ever talk HTTP.
"""

import json
import os
import ssl
import sys
from pathlib import Path
from typing import Any

import click
import uvicorn

from sevenfold.protocol.clock import SystemClock
from sevenfold.service.app import create_app
from sevenfold.service.ca.key_encryption_key import (
    create_key_encryption_key_file,
    load_key_encryption_key,
)
from sevenfold.service.db.engine import make_engine, make_session_factory
from sevenfold.service.db.migrate import migration_status, upgrade
from sevenfold.service.errors import (
    ConflictError,
    KeyEncryptionKeyError,
    TlsSetupError,
)
from sevenfold.service.log_format import json_log_config
from sevenfold.service.rollouts.errors import WebhookSecretError
from sevenfold.service.settings import ServiceSettings, load_settings
from sevenfold.service.tenants import service as tenant_service
from sevenfold.service.tls.context import (
    server_context,
    trust_tenant_cas,
)
from sevenfold.service.tls.server import uvicorn_tls_options

EXIT_NOT_READY = 1
EXIT_CONFLICT = 5

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the embedded database and service state.",
)
database_url_option = click.option(
    "--database-url",
    help="SQLAlchemy URL (postgresql://...); SQLite in --data-dir if unset.",
)
output_option = click.option(
    "--output",
    "-o",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Text for people, JSON for scripts (docs/cli.md).",
)
config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="TOML settings file.",
)


def _settings(
    config_file: Path | None, data_dir: Path | None, database_url: str | None
) -> ServiceSettings:
    try:
        return load_settings(config_file, data_dir=data_dir, database_url=database_url)
    except ValueError as err:
        raise click.UsageError(f"invalid settings: {err}") from err


def _prepare_data_dir(settings: ServiceSettings) -> None:
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(settings.data_dir, 0o700)


@click.command("init")
@config_option
@data_dir_option
@database_url_option
@click.option("--tenant-name", default="Default", show_default=True)
@output_option
def init_command(
    config_file: Path | None,
    data_dir: Path | None,
    database_url: str | None,
    tenant_name: str,
    output: str,
) -> None:
    """Create the database, the KEK file, the first tenant and its administrator token.

    The key-encryption key file (which protects the tenant CAs' private keys) is made
    with 32 random bytes, mode 0600, unless it already exists; an existing one must
    be usable.
    """
    settings = _settings(config_file, data_dir, database_url)
    _prepare_data_dir(settings)
    kek_path = settings.effective_key_encryption_key_file
    create_key_encryption_key_file(kek_path)
    try:
        load_key_encryption_key(kek_path)
    except KeyEncryptionKeyError as err:
        click.echo(f"Error: {err}", err=True)
        sys.exit(EXIT_NOT_READY)
    upgrade(settings.effective_database_url)
    engine = make_engine(settings.effective_database_url)
    try:
        with make_session_factory(engine)() as session:
            tenant, token = tenant_service.bootstrap(
                session=session, clock=SystemClock(), tenant_name=tenant_name
            )
    except ConflictError as err:
        click.echo(f"Error: {err.detail}", err=True)
        sys.exit(EXIT_CONFLICT)
    finally:
        engine.dispose()
    if output == "json":
        tenant_json = {"id": tenant.id, "name": tenant.name}
        body = {"tenant": tenant_json, "administrator_token": token}
        click.echo(json.dumps(body, indent=2, sort_keys=True))
        return
    click.echo(f"Tenant: {tenant.name} ({tenant.id})")
    click.echo("Administrator token (shown once, store it now; only its hash is kept):")
    click.echo(token)


@click.command("serve")
@config_option
@data_dir_option
@database_url_option
@click.option("--host", default=None, help="Address to listen on.")
@click.option("--port", type=int, default=None, help="Port to listen on.")
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PEM server certificate: serve HTTPS and verify device client certificates.",
)
@click.option(
    "--tls-key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PEM private key for --tls-cert (mode 0600 or stricter).",
)
@click.option(
    "--output",
    "-o",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="The log on stderr: uvicorn's text, or one JSON object per line.",
)
def serve_command(
    config_file: Path | None,
    data_dir: Path | None,
    database_url: str | None,
    host: str | None,
    port: int | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    output: str,
) -> None:
    """Run the security service (needs the key-encryption key that init makes).

    With --tls-cert and --tls-key it serves HTTPS itself and authenticates devices
    by their client certificates; without, plain HTTP behind a TLS-ending proxy.
    """
    try:
        settings = load_settings(
            config_file,
            data_dir=data_dir,
            database_url=database_url,
            host=host,
            port=port,
            tls_certificate_file=tls_cert,
            tls_key_file=tls_key,
        )
    except ValueError as err:
        raise click.UsageError(f"invalid settings: {err}") from err
    ssl_context = _ssl_context(settings)
    engine = make_engine(settings.effective_database_url)
    status = migration_status(engine)
    if not status.ready:
        click.echo(f"Error: {status.detail}", err=True)
        sys.exit(EXIT_NOT_READY)
    try:
        load_key_encryption_key(settings.effective_key_encryption_key_file)
        app = create_app(settings, engine=engine)
    except (KeyEncryptionKeyError, WebhookSecretError) as err:
        click.echo(f"Error: {err}", err=True)
        sys.exit(EXIT_NOT_READY)
    if ssl_context is not None:
        trust_tenant_cas(app.state.sevenfold, ssl_context)
    logging_options: dict[str, Any] = (
        {"log_config": json_log_config()} if output == "json" else {}
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        **logging_options,
        **uvicorn_tls_options(ssl_context),
    )


def _ssl_context(settings: ServiceSettings) -> ssl.SSLContext | None:
    """The server's TLS context when TLS files are set; exits if they are unusable."""
    if settings.tls_certificate_file is None or settings.tls_key_file is None:
        return None
    try:
        return server_context(settings.tls_certificate_file, settings.tls_key_file)
    except TlsSetupError as err:
        click.echo(f"Error: {err}", err=True)
        sys.exit(EXIT_NOT_READY)


@click.group("db")
def db_group() -> None:
    """Database maintenance."""


@db_group.command("upgrade")
@config_option
@data_dir_option
@database_url_option
@output_option
def db_upgrade_command(
    config_file: Path | None,
    data_dir: Path | None,
    database_url: str | None,
    output: str,
) -> None:
    """Migrate the database to this version's schema."""
    settings = _settings(config_file, data_dir, database_url)
    _prepare_data_dir(settings)
    upgrade(settings.effective_database_url)
    engine = make_engine(settings.effective_database_url)
    status = migration_status(engine)
    engine.dispose()
    if output == "json":
        click.echo(json.dumps({"revision": status.current}, sort_keys=True))
    else:
        click.echo(f"Database at revision {status.current}.")


SERVICE_COMMANDS: tuple[click.Command, ...] = (init_command, serve_command, db_group)
