"""``sevenfold agent init|run|status``: the device side of attestation.

``run`` builds one ``AgentConfig`` from its options (a proxy password only from a file
or ``SEVENFOLD_AGENT_PROXY_PASSWORD``, never the command line, and never logged) and
runs one ``Agent`` until SIGTERM or SIGINT. ``status`` reads the state files only.
"""

import asyncio
import json
import logging
import os
import signal
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from cryptography import x509

from sevenfold.agent.attestation_client import AttestationClient
from sevenfold.agent.config import AgentConfig, ProxyConfig, parse_no_proxy
from sevenfold.agent.daemon import Agent
from sevenfold.agent.errors import AgentError, StateCorruptError
from sevenfold.agent.measurements import (
    FileMeasurementSource,
    FixedMeasurementSource,
    MeasurementSource,
)
from sevenfold.agent.state import AgentState, StateStore
from sevenfold.agent.trusted.dice_keystore import DiceKeyStore
from sevenfold.agent.trusted.errors import TrustedCoreError
from sevenfold.agent.trusted.keystore import KeyStore
from sevenfold.protocol.attestation import Evidence, Measurements
from sevenfold.protocol.clock import SystemClock
from sevenfold.protocol.tpm_evidence import TpmEvidence

if TYPE_CHECKING:
    from sevenfold.agent.trusted.tpm_keystore import TpmKeyStore

PROXY_PASSWORD_ENV = "SEVENFOLD_AGENT_PROXY_PASSWORD"  # noqa: S105 - a name
MAX_PASSWORD_FILE_BYTES = 4096
_ZERO_DIGEST = bytes(32)

state_dir_option = click.option(
    "--state-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The agent's state directory (device secret, certificate, state file).",
)
backend_option = click.option(
    "--backend",
    type=click.Choice(["dice", "tpm"]),
    default="dice",
    show_default=True,
    help="Where the device keys live: software DICE or a TPM 2.0.",
)
tcti_option = click.option(
    "--tcti",
    help="The TPM's TCTI (e.g. device:/dev/tpmrm0); needed with --backend tpm.",
)
output_option = click.option(
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="How to print results.",
)


@click.group("agent")
def agent_group() -> None:
    """The on-device agent: identity, attestation and device certificate."""


@agent_group.command("init")
@state_dir_option
@backend_option
@tcti_option
@output_option
def init_command(state_dir: Path, backend: str, tcti: str | None, output: str) -> None:
    """Create the device identity (a software-DICE secret, or keys made in the TPM)
    and print the device ID."""
    zero = Measurements(os_image_sha256=_ZERO_DIGEST, agent_sha256=_ZERO_DIGEST)
    try:
        with ExitStack() as stack:
            if backend == "tpm":
                _tpm_keystore().create(state_dir, tcti=_need_tcti(tcti))
            else:
                DiceKeyStore.create(state_dir)
            device_id = _open_keystore(state_dir, zero, backend, tcti, stack).device_id
    except TrustedCoreError as err:
        raise _fail(str(err)) from err
    StateStore(state_dir).write_state(AgentState(device_id=device_id))
    _print({"backend": backend, "device_id": device_id}, output)


def _need_tcti(tcti: str | None) -> str:
    if not tcti:
        raise click.UsageError("--backend tpm needs --tcti")
    return tcti


def _tpm_keystore() -> "type[TpmKeyStore]":
    """The TPM key store class; tpm2-pytss is an optional extra, imported on use."""
    try:
        from sevenfold.agent.trusted.tpm_keystore import (  # noqa: PLC0415
            TpmKeyStore,
        )
    except ImportError as err:
        raise _fail(f"the tpm backend needs tpm2-pytss: {err}") from err
    return TpmKeyStore


def _open_keystore(
    state_dir: Path,
    measurements: Measurements,
    backend: str,
    tcti: str | None,
    stack: ExitStack,
) -> KeyStore[Evidence | TpmEvidence]:
    """Open the backend's key store over ``state_dir``, measuring ``measurements``;
    ``stack`` closes a TPM key store (its keys and connection) when it unwinds."""
    if backend == "tpm":
        store = _tpm_keystore().open(state_dir, measurements, tcti=_need_tcti(tcti))
        return stack.enter_context(store)
    if tcti:
        raise click.UsageError("--tcti is for --backend tpm")
    return DiceKeyStore.open(state_dir, measurements, clock=SystemClock())


@agent_group.command("status")
@state_dir_option
@output_option
def status_command(state_dir: Path, output: str) -> None:
    """Show the device ID, certificate expiry and last attestation result."""
    store = StateStore(state_dir)
    try:
        state = store.read_state()
        certificate = store.read_certificate()
    except StateCorruptError as err:
        raise _fail(f"agent state is corrupt: {err}") from err
    if state is None:
        raise _fail(f"no agent state in {state_dir}; run `sevenfold agent init`")
    _print(status_record(state, certificate), output)


def status_record(state: AgentState, certificate_pem: bytes | None) -> dict[str, Any]:
    """The status fields; the expiry is read from the certificate file when there."""
    not_after = state.certificate_not_after
    if certificate_pem is not None:
        try:
            certificate = x509.load_pem_x509_certificate(certificate_pem)
            not_after = certificate.not_valid_after_utc
        except ValueError as err:
            raise _fail(f"the saved certificate cannot be read: {err}") from err
    return {
        "device_id": state.device_id,
        "certificate_not_after": _iso(not_after),
        "last_result": None if state.last_result is None else state.last_result.value,
        "last_reason": state.last_reason,
        "last_attempt_at": _iso(state.last_attempt_at),
    }


@agent_group.command("run")
@state_dir_option
@click.option("--server", required=True, help="The service's base URL.")
@click.option("--proxy", help="HTTP(S) proxy URL, http://HOST:PORT (no credentials).")
@click.option("--proxy-user", help="Basic-auth user for the proxy.")
@click.option(
    "--proxy-password-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="File holding the proxy password (or SEVENFOLD_AGENT_PROXY_PASSWORD).",
)
@click.option("--no-proxy", default="", help="Comma-separated hosts to reach directly.")
@click.option("--connect-timeout-s", type=float, default=10.0, show_default=True)
@click.option("--read-timeout-s", type=float, default=30.0, show_default=True)
@click.option("--deadline-s", type=float, default=60.0, show_default=True)
@click.option("--backoff-base-s", type=float, default=5.0, show_default=True)
@click.option("--backoff-max-s", type=float, default=3600.0, show_default=True)
@click.option("--os-image", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--agent-file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--app-image", multiple=True, type=click.Path(path_type=Path))
@click.option("--os-sha256", help="OS image digest (hex), instead of --os-image.")
@click.option("--agent-sha256", help="Agent digest (hex), instead of --agent-file.")
@click.option("--app-sha256", multiple=True, help="App image digest (hex).")
@backend_option
@tcti_option
@output_option
def run_command(output: str, backend: str, tcti: str | None, **options: Any) -> None:
    """Attest now, renew before expiry, retry with backoff; stop on SIGTERM/SIGINT."""
    stack = ExitStack()
    try:
        config = _config(options)
        measurements = config.measurements.measure()
        keystore = _open_keystore(config.state_dir, measurements, backend, tcti, stack)
    except (AgentError, TrustedCoreError) as err:
        raise _fail(str(err)) from err
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if config.proxy is not None:
        logging.getLogger(__name__).info("using proxy %s", config.proxy.url)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, stop.set)
        async with AttestationClient(config) as client:
            agent = Agent(
                config=config,
                keystore=keystore,
                measurements=measurements,
                attester=client,
                clock=SystemClock(),
                on_record=lambda state: _print(
                    status_record(state, None), output, compact=True
                ),
            )
            await agent.run(stop)

    with stack:
        asyncio.run(main())


def _config(options: dict[str, Any]) -> AgentConfig:
    proxy = None
    user = options["proxy_user"]
    if options["proxy"]:
        if options["proxy_password_file"] is not None and user is None:
            raise AgentError("--proxy-password-file needs --proxy-user")
        password = _proxy_password(options["proxy_password_file"]) if user else None
        proxy = ProxyConfig(url=options["proxy"], username=user, password=password)
    elif user or options["proxy_password_file"]:
        raise AgentError("--proxy-user and --proxy-password-file need --proxy")
    return AgentConfig(
        state_dir=options["state_dir"],
        server_url=options["server"],
        measurements=_measurement_source(options),
        proxy=proxy,
        no_proxy=parse_no_proxy(options["no_proxy"]),
        connect_timeout_s=options["connect_timeout_s"],
        read_timeout_s=options["read_timeout_s"],
        deadline_s=options["deadline_s"],
        backoff_base_s=options["backoff_base_s"],
        backoff_max_s=options["backoff_max_s"],
    )


def _proxy_password(path: Path | None) -> str | None:
    if path is None:
        return os.environ.get(PROXY_PASSWORD_ENV)
    with path.open("rb") as handle:
        data = handle.read(MAX_PASSWORD_FILE_BYTES + 1)
    if len(data) > MAX_PASSWORD_FILE_BYTES:
        raise AgentError(f"{path} is too large for a password file")
    return data.decode().rstrip("\r\n")


def _measurement_source(options: dict[str, Any]) -> MeasurementSource:
    if options["os_image"] and options["agent_file"]:
        if options["os_sha256"] or options["agent_sha256"] or options["app_sha256"]:
            raise AgentError("measure files or give digests, not both")
        return FileMeasurementSource(
            os_image=options["os_image"],
            agent=options["agent_file"],
            app_images=tuple(options["app_image"]),
        )
    if options["os_sha256"] and options["agent_sha256"]:
        if options["os_image"] or options["agent_file"] or options["app_image"]:
            raise AgentError("measure files or give digests, not both")
        try:
            return FixedMeasurementSource(
                measurements=Measurements(
                    os_image_sha256=bytes.fromhex(options["os_sha256"]),
                    agent_sha256=bytes.fromhex(options["agent_sha256"]),
                    app_image_sha256s=tuple(
                        bytes.fromhex(d) for d in options["app_sha256"]
                    ),
                )
            )
        except ValueError as err:
            raise AgentError(f"a digest is 64 hex characters: {err}") from err
    raise AgentError(
        "give --os-image and --agent-file, or --os-sha256 and --agent-sha256"
    )


def _print(record: dict[str, Any], output: str, *, compact: bool = False) -> None:
    if output == "json":
        click.echo(json.dumps(record, sort_keys=True, indent=None if compact else 2))
        return
    width = max(len(key) for key in record)
    lines = [
        f"{key.ljust(width)}  {'' if v is None else v}" for key, v in record.items()
    ]
    click.echo("\n".join(line.rstrip() for line in lines))


def _fail(message: str) -> click.ClickException:
    return click.ClickException(message)  # exit status 1


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
