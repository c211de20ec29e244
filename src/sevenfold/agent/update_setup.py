"""Wiring the updater for ``agent run`` and ``agent check``: the ``dir`` backend, the
device's mTLS context, the fetcher, the TUF client and the status reporter.

The TLS context is made fresh for each check and report from the certificate on
disk, because a trial boot re-attests and replaces it (``update_status_client``).
Only the ``dice`` key store can present a client certificate to Python's ``ssl``
(``trusted/tls_identity.py``), so updates need it.

``failure_reporting`` wires the failure queue, its recorder and its uploader
(docs/failures.md §1) over the same mTLS context.
"""

import hashlib
import os
import signal
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sevenfold.agent.config import AgentConfig
from sevenfold.agent.errors import (
    AgentConfigError,
    AgentError,
    NoDeviceIdentityError,
    StateCorruptError,
)
from sevenfold.agent.failure_queue import FailureQueue
from sevenfold.agent.failure_recorder import FailureRecorder, QueueFailureRecorder
from sevenfold.agent.failure_upload import FailureReportClient, FailureUploader
from sevenfold.agent.install.backend import (
    BOOTLOADER_FILE,
    BootOutcome,
    DirInstallBackend,
)
from sevenfold.agent.install.checkpoints import CHECKPOINTS, Checkpoint, no_checkpoint
from sevenfold.agent.install.records import bootloader_from_json, read_record
from sevenfold.agent.state import StateStore, read_bounded
from sevenfold.agent.trusted.dice_keystore import DiceKeyStore
from sevenfold.agent.trusted.errors import TrustedCoreError
from sevenfold.agent.trusted.keystore import KeyStore
from sevenfold.agent.update_client import UpdateClient
from sevenfold.agent.update_cycle import UpdateCycle
from sevenfold.agent.update_fetcher import FetcherSettings, UpdateFetcher
from sevenfold.agent.update_loop import UpdateLoop
from sevenfold.agent.update_status_client import SslContextFactory, UpdateStatusClient
from sevenfold.protocol.attestation import Evidence
from sevenfold.protocol.clock import Clock, SystemClock
from sevenfold.protocol.errors import ProtocolError
from sevenfold.protocol.image_package import MAX_HEADER_BYTES, parse_package_header
from sevenfold.protocol.tpm_evidence import TpmEvidence
from sevenfold.protocol.updates import TargetDescription

MAX_CA_BUNDLE_BYTES = 256 * 1024
_HASH_CHUNK_BYTES = 1024 * 1024


def package_target(package: Path) -> TargetDescription:
    """The ``TargetDescription`` of an image package file (its manifest, its size
    and SHA-256), e.g. the factory OS image given to ``agent init``.

    Raises:
        AgentError: the file cannot be read or is not an image package.
    """
    try:
        with package.open("rb") as handle:
            header = parse_package_header(handle.read(MAX_HEADER_BYTES))
            handle.seek(0)
            digest = hashlib.sha256()
            length = 0
            while chunk := handle.read(_HASH_CHUNK_BYTES):
                digest.update(chunk)
                length += len(chunk)
    except OSError as err:
        raise AgentError(f"cannot read {package}: {err}") from err
    except ProtocolError as err:
        raise AgentError(f"{package} is not an image package: {err}") from err
    manifest = header.manifest
    return TargetDescription(
        kind=manifest.type,
        component_id=manifest.component_id,
        image_id=manifest.image_id,
        name=manifest.name,
        version=manifest.version,
        security_version=manifest.security_version,
        sha256=digest.hexdigest(),
        length=length,
    )


def kill_at_checkpoint(step: str | None) -> Checkpoint:
    """The install backend's checkpoint hook for fault-injection tests: SIGKILL this
    process the first time the backend reaches ``step`` (a power cut there, which
    docs/updates.md §6 says ``boot()`` recovers from). ``None``: no fault.

    Raises:
        AgentConfigError: ``step`` is not one of ``install.CHECKPOINTS``.
    """
    if step is None:
        return no_checkpoint
    if step not in CHECKPOINTS:
        raise AgentConfigError(f"{step!r} is not an install checkpoint")
    reached: set[str] = set()

    def checkpoint(name: str) -> None:
        if name == step and name not in reached:
            reached.add(name)
            os.kill(os.getpid(), signal.SIGKILL)

    return checkpoint


def install_backend(
    install_root: Path, *, bootlimit: int, fault_kill_at: str | None = None
) -> DirInstallBackend:
    """The ``dir`` backend over ``install_root`` (not yet booted), killing the
    process at ``fault_kill_at`` when given (``agent run --fault-kill-at``)."""
    return DirInstallBackend(
        install_root, bootlimit=bootlimit, checkpoint=kill_at_checkpoint(fault_kill_at)
    )


def boot_for_check(backend: DirInstallBackend, install_root: Path) -> None:
    """Boot the backend for ``agent check``, which runs beside (or without) the
    daemon. Booting is the emulated bootloader: with an OS staged or on trial it
    would count a boot, so ``check`` leaves that to ``agent run`` and refuses.

    Raises:
        AgentError: an OS update waits for its reboot or its trial to commit.
    """
    env = read_record(install_root / BOOTLOADER_FILE, bootloader_from_json)
    if env is not None and env.upgrade_available:
        raise AgentError(
            "an OS update is waiting for its reboot or trial boot; "
            "`sevenfold agent run` finishes it"
        )
    backend.boot()


def device_tls(
    keystore: object, state_dir: Path, server_url: str, server_ca: Path | None
) -> SslContextFactory:
    """A factory of the device's mTLS client context (``None`` over plain HTTP)."""
    if urlsplit(server_url).scheme != "https":
        return lambda: None
    if not isinstance(keystore, DiceKeyStore):
        raise AgentError("updates over mTLS need the dice key store")
    dice: DiceKeyStore = keystore
    ca_pem = None
    if server_ca is not None:
        ca_pem = read_bounded(server_ca, MAX_CA_BUNDLE_BYTES)
        if ca_pem is None:
            raise AgentError(f"no CA bundle at {server_ca}")

    def make() -> ssl.SSLContext:
        certificate = StateStore(state_dir).read_certificate()
        if certificate is None:
            raise NoDeviceIdentityError("no device certificate yet; attest first")
        try:
            return dice.client_ssl_context(certificate, ca_pem)
        except TrustedCoreError as err:
            raise NoDeviceIdentityError(f"no mTLS context: {err}") from err

    return make


def build_update_cycle(
    config: AgentConfig,
    *,
    backend: DirInstallBackend,
    device_id: str,
    tls: SslContextFactory,
    failures: FailureRecorder | None = None,
) -> UpdateCycle:
    """The update cycle over the real transport."""

    def fetcher() -> UpdateFetcher:
        return UpdateFetcher(
            FetcherSettings(
                connect_timeout_s=config.connect_timeout_s,
                read_timeout_s=config.read_timeout_s,
                proxy=config.proxy,
                no_proxy=config.no_proxy,
                ssl_context=tls(),
            )
        )

    client = UpdateClient(
        state_dir=config.state_dir,
        server_url=config.server_url,
        device_id=device_id,
        fetcher_factory=fetcher,
        targets_base_url=config.targets_mirror_url,
    )
    reporter = UpdateStatusClient(config, ssl_context_factory=tls)
    return UpdateCycle(
        source=client, backend=backend, reporter=reporter, failures=failures
    )


@dataclass(frozen=True, slots=True)
class FailureReporting:
    """The failure recorder and its uploader (``None``: records stay on the device,
    ``no_upload_reason`` says why)."""

    recorder: QueueFailureRecorder
    uploader: FailureUploader | None
    no_upload_reason: str | None


def failure_reporting(
    config: AgentConfig,
    *,
    keystore: KeyStore[Evidence | TpmEvidence],
    server_ca: Path | None,
    backend: DirInstallBackend | None = None,
    clock: Clock | None = None,
) -> FailureReporting:
    """The failure queue in ``config.state_dir``, a recorder over it (OS version
    from ``backend``'s booted slot) and its uploader over the device's mTLS
    identity; without one (the tpm key store over HTTPS) there is no uploader."""
    no_upload = None
    try:
        tls = device_tls(keystore, config.state_dir, config.server_url, server_ca)
    except AgentError as err:
        tls, no_upload = (lambda: None), str(err)
    queue = FailureQueue(config.state_dir, clock=clock or SystemClock())
    recorder = QueueFailureRecorder(
        queue,
        server_url=config.server_url,
        proxy_url=None if config.proxy is None else config.proxy.url,
        os_version=lambda: _current_os_version(backend),
    )
    uploader = FailureUploader(
        queue=queue,
        client=FailureReportClient(config, ssl_context_factory=tls),
        recorded=recorder.recorded,
        interval_s=config.failure_upload_interval_s,
        backoff_base_s=config.backoff_base_s,
        backoff_max_s=config.backoff_max_s,
        has_certificate=lambda: _has_certificate(config.state_dir),
        recorder=recorder,
    )
    return FailureReporting(
        recorder, None if no_upload is not None else uploader, no_upload
    )


def update_loop(
    config: AgentConfig,
    install: DirInstallBackend | None,
    boot: BootOutcome | None,
    keystore: KeyStore[Evidence | TpmEvidence],
    server_ca: Path | None,
    failures: FailureRecorder | None = None,
) -> UpdateLoop | None:
    """The update loop of ``agent run`` (``None`` without an install backend)."""
    if install is None:
        return None
    tls = device_tls(keystore, config.state_dir, config.server_url, server_ca)
    cycle = build_update_cycle(
        config, backend=install, device_id=keystore.device_id, tls=tls,
        failures=failures,
    )  # fmt: skip
    return UpdateLoop(
        cycle=cycle,
        state_dir=config.state_dir,
        interval_s=config.update_check_interval_s,
        backoff_base_s=config.backoff_base_s,
        backoff_max_s=config.backoff_max_s,
        boot=boot,
    )


def _current_os_version(backend: DirInstallBackend | None) -> str | None:
    return None if backend is None else backend.current_os().version


def _has_certificate(state_dir: Path) -> bool:
    try:
        return StateStore(state_dir).read_certificate() is not None
    except StateCorruptError:
        return False
