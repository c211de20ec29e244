"""``sevenfold agent init|run|check|status``: the device side of attestation and
updates.

``run`` builds one ``AgentConfig`` from its options (a proxy password only from a file
or ``SEVENFOLD_AGENT_PROXY_PASSWORD``, never the command line, and never logged) and
runs one ``Agent`` until SIGTERM or SIGINT. ``status`` reads the state files only.
"""

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from cryptography import x509

from sevenfold.agent.attestation_client import AttestationClient
from sevenfold.agent.config import (
    DEFAULT_BOOTLIMIT,
    DEFAULT_FAILURE_UPLOAD_INTERVAL_S,
    DEFAULT_UPDATE_CHECK_INTERVAL_S,
    AgentConfig,
    ProxyConfig,
    parse_no_proxy,
)
from sevenfold.agent.daemon import Agent
from sevenfold.agent.errors import AgentError, StateCorruptError
from sevenfold.agent.install.backend import DirInstallBackend
from sevenfold.agent.install.checkpoints import CHECKPOINTS
from sevenfold.agent.measurements import (
    FileMeasurementSource,
    FixedMeasurementSource,
    MeasurementSource,
    sha256_of_file,
)
from sevenfold.agent.state import AgentState, StateStore, read_bounded
from sevenfold.agent.trusted.dice_keystore import DiceKeyStore
from sevenfold.agent.trusted.errors import TrustedCoreError
from sevenfold.agent.trusted.keystore import KeyStore
from sevenfold.agent.update_client import (
    DIRECTOR_REPOSITORY,
    IMAGE_REPOSITORY,
    MAX_ROOT_BYTES,
    pin_trusted_root,
)
from sevenfold.agent.update_cycle import CycleOutcome, update_lock
from sevenfold.agent.update_setup import (
    boot_for_check,
    build_update_cycle,
    device_tls,
    failure_reporting,
    install_backend,
    package_target,
    update_loop,
)
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
@click.option(
    "--install-root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Initialise the dir install backend here (slot a = --os-image).",
)
@click.option(
    "--os-image",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The factory OS image package for slot a (needs --install-root).",
)
@click.option(
    "--image-root",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Pin this root.json as the image repository's trust anchor.",
)
@click.option(
    "--director-root",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Pin this root.json as the director's trust anchor.",
)
@click.option(
    "--keep-identity",
    is_flag=True,
    help="Use the identity `factory provision` made; only set up updates.",
)
@output_option
def init_command(
    state_dir: Path,
    backend: str,
    tcti: str | None,
    keep_identity: bool,
    output: str,
    **update_options: Path | None,
) -> None:
    """Create the device identity (a software-DICE secret, or keys made in the TPM)
    and print the device ID; optionally lay out the install root and pin the update
    repositories' roots (otherwise pinned on first use, over mTLS). A device the
    factory provisioned keeps its identity with --keep-identity."""
    zero = Measurements(os_image_sha256=_ZERO_DIGEST, agent_sha256=_ZERO_DIGEST)
    try:
        with ExitStack() as stack:
            if keep_identity:
                pass  # opened below; a missing identity is an error there
            elif backend == "tpm":
                _tpm_keystore().create(state_dir, tcti=_need_tcti(tcti))
            else:
                DiceKeyStore.create(state_dir)
            device_id = _open_keystore(state_dir, zero, backend, tcti, stack).device_id
        record = {"backend": backend, "device_id": device_id}
        record |= _init_updates(state_dir, **update_options)
    except (TrustedCoreError, AgentError) as err:
        raise _fail(str(err)) from err
    if not keep_identity:  # a provisioned device's state file stays as it is
        StateStore(state_dir).write_state(AgentState(device_id=device_id))
    _print(record, output)


def _init_updates(
    state_dir: Path,
    *,
    install_root: Path | None,
    os_image: Path | None,
    image_root: Path | None,
    director_root: Path | None,
) -> dict[str, Any]:
    """Initialise slot a and pin roots as asked; the fields to print."""
    record: dict[str, Any] = {}
    if (install_root is None) != (os_image is None):
        raise AgentError("--install-root and --os-image go together")
    if install_root is not None and os_image is not None:
        target = package_target(os_image)
        DirInstallBackend.initialize(install_root, os_image, target)
        record["os_version"] = target.version
    for repository, root_file in (
        (IMAGE_REPOSITORY, image_root),
        (DIRECTOR_REPOSITORY, director_root),
    ):
        if root_file is not None:
            data = read_bounded(root_file, MAX_ROOT_BYTES)
            if data is None:
                raise AgentError(f"cannot read {root_file}")
            version = pin_trusted_root(state_dir, repository, data)
            record[f"{repository}_root_version"] = version
    return record


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


_SHARED_OPTIONS: list[Callable[[Callable[..., None]], Callable[..., None]]] = [
    state_dir_option,
    click.option("--server", required=True, help="The service's base URL."),
    click.option(
        "--proxy", help="HTTP(S) proxy URL, http://HOST:PORT (no credentials)."
    ),
    click.option("--proxy-user", help="Basic-auth user for the proxy."),
    click.option(
        "--proxy-password-file",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        help="File holding the proxy password (or SEVENFOLD_AGENT_PROXY_PASSWORD).",
    ),
    click.option(
        "--no-proxy", default="", help="Comma-separated hosts to reach directly."
    ),
    click.option("--connect-timeout-s", type=float, default=10.0, show_default=True),
    click.option("--read-timeout-s", type=float, default=30.0, show_default=True),
    click.option("--deadline-s", type=float, default=60.0, show_default=True),
    click.option("--backoff-base-s", type=float, default=5.0, show_default=True),
    click.option("--backoff-max-s", type=float, default=3600.0, show_default=True),
    click.option("--os-image", type=click.Path(dir_okay=False, path_type=Path)),
    click.option("--agent-file", type=click.Path(dir_okay=False, path_type=Path)),
    click.option("--app-image", multiple=True, type=click.Path(path_type=Path)),
    click.option("--os-sha256", help="OS image digest (hex), instead of --os-image."),
    click.option("--agent-sha256", help="Agent digest (hex), instead of --agent-file."),
    click.option("--app-sha256", multiple=True, help="App image digest (hex)."),
    backend_option,
    tcti_option,
    output_option,
    click.option(
        "--install-root",
        type=click.Path(file_okay=False, path_type=Path),
        help="The dir install backend's root; turns updates on (see agent init).",
    ),
    click.option(
        "--server-ca",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        help="CA bundle for the service's TLS certificate (default: system roots).",
    ),
    click.option(
        "--targets-mirror",
        help="Fetch update targets from this HTTP(S) mirror of the artifact store "
        "(untrusted: every file is checked against the signed metadata).",
    ),
    click.option(
        "--update-check-interval-s",
        type=float,
        default=DEFAULT_UPDATE_CHECK_INTERVAL_S,
        show_default=True,
    ),
    click.option(
        "--failure-upload-interval-s",
        type=float,
        default=DEFAULT_FAILURE_UPLOAD_INTERVAL_S,
        show_default=True,
        help="Upload failure reports this often (also at start and on each new one).",
    ),
    click.option("--bootlimit", type=int, default=DEFAULT_BOOTLIMIT, show_default=True),
]


def _agent_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options ``run`` and ``check`` share (connection, measurements, updates)."""
    for option in reversed(_SHARED_OPTIONS):
        command = option(command)
    return command


@agent_group.command("run")
@_agent_options
@click.option(
    "--exit-on-reboot",
    is_flag=True,
    help="When an update needs a reboot, exit instead of restarting (tests).",
)
@click.option(
    "--fault-kill-at",
    type=click.Choice(CHECKPOINTS),
    hidden=True,
    help="For fault-injection tests only: SIGKILL the agent the first time the "
    "install backend reaches this checkpoint (a power cut there).",
)
def run_command(
    output: str,
    backend: str,
    tcti: str | None,
    exit_on_reboot: bool,
    fault_kill_at: str | None,
    **options: Any,
) -> None:
    """Attest now, renew before expiry, retry with backoff; with --install-root also
    check for updates; stop on SIGTERM/SIGINT. An update that needs a reboot
    restarts the agent (the restart stands for the device's reboot)."""
    stack = ExitStack()
    try:
        install = _install_backend(options, fault_kill_at)
        boot = None if install is None else install.boot()
        config = _config(options, install)
        measurements = config.measurements.measure()
        keystore = _open_keystore(config.state_dir, measurements, backend, tcti, stack)
        failures = failure_reporting(
            config, keystore=keystore, server_ca=options["server_ca"], backend=install
        )
        updates = update_loop(
            config, install, boot, keystore, options["server_ca"], failures.recorder
        )
    except (AgentError, TrustedCoreError) as err:
        raise _fail(str(err)) from err
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if config.proxy is not None:
        logging.getLogger(__name__).info("using proxy %s", config.proxy.url)
    if failures.no_upload_reason is not None:
        logging.getLogger(__name__).warning(
            "failure reports stay on the device: %s", failures.no_upload_reason
        )

    async def main() -> CycleOutcome | None:
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
                updates=updates,
                failures=failures.recorder,
                failure_uploads=failures.uploader,
            )
            await agent.run(stop)
            return agent.reboot_outcome

    with stack:
        reboot = asyncio.run(main())
    if reboot is None:
        return
    _print(reboot.to_json(), output, compact=True)
    if exit_on_reboot:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    # The restart is the device's reboot: the emulated bootloader runs at start.
    os.execv(sys.executable, sys.orig_argv)  # noqa: S606 - our own command line


@agent_group.command("check")
@_agent_options
def check_command(output: str, backend: str, tcti: str | None, **options: Any) -> None:
    """Run one update check now (under the update lock the daemon also takes),
    print its outcome; exit non-zero when the check failed."""
    if options["install_root"] is None:
        raise click.UsageError("agent check needs --install-root")
    stack = ExitStack()
    try:
        install = DirInstallBackend(
            options["install_root"], bootlimit=options["bootlimit"]
        )
        with stack, update_lock(options["state_dir"]):
            boot_for_check(install, options["install_root"])
            config = _config(options, install)
            measurements = config.measurements.measure()
            keystore = _open_keystore(
                config.state_dir, measurements, backend, tcti, stack
            )
            tls = device_tls(
                keystore, config.state_dir, config.server_url, options["server_ca"]
            )
            cycle = build_update_cycle(
                config, backend=install, device_id=keystore.device_id, tls=tls
            )
            outcome = asyncio.run(cycle.check())
    except (AgentError, TrustedCoreError) as err:
        raise _fail(str(err)) from err
    _print(outcome.to_json(), output)
    if outcome.failed:
        raise _fail(f"the update check failed: {outcome.reason}")


def _install_backend(
    options: dict[str, Any], fault_kill_at: str | None = None
) -> DirInstallBackend | None:
    """The dir backend when --install-root is given (updates on), not yet booted."""
    if options["install_root"] is None:
        if fault_kill_at is not None:
            raise AgentError("--fault-kill-at needs --install-root")
        return None
    if options["bootlimit"] < 1:
        raise AgentError("--bootlimit is at least 1")
    return install_backend(
        options["install_root"],
        bootlimit=options["bootlimit"],
        fault_kill_at=fault_kill_at,
    )


def _config(
    options: dict[str, Any], install: DirInstallBackend | None = None
) -> AgentConfig:
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
        measurements=_measurement_source(options, install),
        proxy=proxy,
        no_proxy=parse_no_proxy(options["no_proxy"]),
        connect_timeout_s=options["connect_timeout_s"],
        read_timeout_s=options["read_timeout_s"],
        deadline_s=options["deadline_s"],
        backoff_base_s=options["backoff_base_s"],
        backoff_max_s=options["backoff_max_s"],
        install_root=options["install_root"],
        update_check_interval_s=options["update_check_interval_s"],
        failure_upload_interval_s=options["failure_upload_interval_s"],
        bootlimit=options["bootlimit"],
        server_ca_file=options["server_ca"],
        targets_mirror_url=options["targets_mirror"],
    )


def _proxy_password(path: Path | None) -> str | None:
    if path is None:
        return os.environ.get(PROXY_PASSWORD_ENV)
    with path.open("rb") as handle:
        data = handle.read(MAX_PASSWORD_FILE_BYTES + 1)
    if len(data) > MAX_PASSWORD_FILE_BYTES:
        raise AgentError(f"{path} is too large for a password file")
    return data.decode().rstrip("\r\n")


def _measurement_source(
    options: dict[str, Any], install: DirInstallBackend | None
) -> MeasurementSource:
    if install is not None:
        return _installed_measurements(options, install)
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


def _installed_measurements(
    options: dict[str, Any], install: DirInstallBackend
) -> MeasurementSource:
    """With updates on, the OS and app images measured are the installed ones."""
    if options["os_image"] or options["os_sha256"]:
        raise AgentError("with --install-root the OS image is the booted slot's")
    if options["app_image"] or options["app_sha256"]:
        raise AgentError("with --install-root the app images are the installed set")
    apps = tuple(install.app_image_paths())
    if options["agent_file"] and not options["agent_sha256"]:
        return FileMeasurementSource(
            os_image=install.os_image_path(),
            agent=options["agent_file"],
            app_images=apps,
        )
    if options["agent_sha256"] and not options["agent_file"]:
        try:
            return FixedMeasurementSource(
                measurements=Measurements(
                    os_image_sha256=sha256_of_file(install.os_image_path()),
                    agent_sha256=bytes.fromhex(options["agent_sha256"]),
                    app_image_sha256s=tuple(sha256_of_file(app) for app in apps),
                )
            )
        except ValueError as err:
            raise AgentError(f"a digest is 64 hex characters: {err}") from err
    raise AgentError("give --agent-file or --agent-sha256")


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
