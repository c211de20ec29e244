"""The agent updates over hostile networks, against the real service over mTLS: through
a real authenticating proxy (tinyproxy, CONNECT tunnel), and through a link that
drops every 64 KiB (a TCP relay in front of the service; TLS passes through it).

The device attests (over the same ``https://`` URL, trusting the service through
``AgentConfig.server_ca_file``), then runs the real update cycle: the real
``UpdateFetcher``, ngclient, the status client and a ``dir`` backend.
"""

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from sevenfold.agent.attestation_client import AttestationClient
from sevenfold.agent.config import AgentConfig, ProxyConfig
from sevenfold.agent.errors import AgentConfigError, ServiceUnreachableError
from sevenfold.agent.install.backend import DirInstallBackend
from sevenfold.agent.install.packages import package_matches
from sevenfold.agent.measurements import FixedMeasurementSource, sha256_of_file
from sevenfold.agent.state import StateStore
from sevenfold.agent.trusted.dice_keystore import DiceKeyStore
from sevenfold.agent.update_client import UpdateClient
from sevenfold.agent.update_cycle import CycleOutcome, CycleResult, UpdateCycle
from sevenfold.agent.update_fetcher import FetcherSettings, UpdateFetcher
from sevenfold.agent.update_setup import build_update_cycle, device_tls
from sevenfold.agent.update_status_client import UpdateStatusClient
from sevenfold.protocol.attestation import Measurements
from sevenfold.protocol.clock import SystemClock
from sevenfold.protocol.updates import ImageType
from tests.agent.live_update_service import (
    AGENT_SHA256,
    FACTORY_OS_VERSION,
    RELEASED_OS_VERSION,
    EnrolledDevice,
    LiveUpdateService,
    live_update_service,
)
from tests.agent.tinyproxy import tinyproxy
from tests.support.dropping_relay import dropping_relay

OS_IMAGE_BYTES = 1024 * 1024
DROP_EVERY_BYTES = 64 * 1024
FETCHER_CHUNK_BYTES = 16 * 1024
# A drop loses what the client received but could not hand on: the TLS record cut
# in half (at most 16 KiB, one fetcher chunk here). Every connection also carries
# bytes that are no body byte: the TLS handshake (server certificate and CA,
# session tickets, ~3 KiB), the HTTP response headers and the TLS record framing
# (~30 bytes per 16 KiB record). Measured: ~13 KiB per connection in all.
CONNECTION_ALLOWANCE_BYTES = 8 * 1024
PROXY_USER = "agent"
PROXY_PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[LiveUpdateService]:
    """26.11 is a 1 MiB image here."""
    with live_update_service(
        tmp_path_factory.mktemp("service"),
        sqlite_template,
        os_image_bytes=OS_IMAGE_BYTES,
    ) as live:
        yield live


def attested_device(
    service: LiveUpdateService, directory: Path, proxy: ProxyConfig | None = None
) -> tuple[EnrolledDevice, DirInstallBackend, AgentConfig, DiceKeyStore]:
    """A fresh device, booted and attested over ``https://`` (through ``proxy``)."""
    device = service.enroll(directory)
    backend = DirInstallBackend(device.install_root)
    backend.boot()
    measurements = Measurements(
        os_image_sha256=sha256_of_file(backend.os_image_path()),
        agent_sha256=AGENT_SHA256,
    )
    config = AgentConfig(
        state_dir=device.state_dir,
        server_url=service.url,
        measurements=FixedMeasurementSource(measurements=measurements),
        proxy=proxy,
        connect_timeout_s=5.0,
        read_timeout_s=15.0,
        deadline_s=30.0,
        install_root=device.install_root,
        server_ca_file=service.tls.ca_file,
    )
    keystore = DiceKeyStore.open(device.state_dir, measurements, clock=SystemClock())

    async def attest() -> None:
        async with AttestationClient(config) as attester:
            issued = await attester.attest(keystore, measurements)
        StateStore(device.state_dir).write_certificate(
            issued.certificate_pem, issued.chain_pem
        )

    asyncio.run(attest())
    return device, backend, config, keystore


def check_once(
    config: AgentConfig, backend: DirInstallBackend, keystore: DiceKeyStore
) -> CycleOutcome:
    """One update check through ``agent run``'s own wiring."""
    tls = device_tls(
        keystore, config.state_dir, config.server_url, config.server_ca_file
    )
    cycle = build_update_cycle(
        config, backend=backend, device_id=keystore.device_id, tls=tls
    )
    return asyncio.run(cycle.check())


def assert_nothing_installed(backend: DirInstallBackend) -> None:
    assert backend.current_os().version == FACTORY_OS_VERSION
    assert backend.pending_trial() is None
    assert backend.current_apps() == ()


def assert_staged_release(service: LiveUpdateService, device: EnrolledDevice) -> None:
    """On its next boot the device runs 26.11 on trial from a slot that verifies,
    with the deployment's apps installed."""
    rebooted = DirInstallBackend(device.install_root)
    trial = rebooted.boot().trial
    assert trial is not None
    assert trial.sha256 == service.release.sha256
    assert package_matches(rebooted.os_image_path(), trial.sha256, trial.length)
    assert {app.sha256 for app in rebooted.current_apps()} == {
        image.sha256 for image in service.apps
    }


def test_update_through_a_real_proxy_with_basic_auth_works(
    service: LiveUpdateService, tmp_path: Path
) -> None:
    with tinyproxy(tmp_path, basic_auth=(PROXY_USER, PROXY_PASSWORD)) as proxy:
        good = ProxyConfig(url=proxy.url, username=PROXY_USER, password=PROXY_PASSWORD)
        device, backend, config, keystore = attested_device(
            service, tmp_path / "device", good
        )
        wrong = replace(good, password="wrong-password")
        refused = check_once(replace(config, proxy=wrong), backend, keystore)
        assert_nothing_installed(backend)
        staged = check_once(config, backend, keystore)
        log = proxy.log()

    assert refused.failed
    assert refused.reason == "update-service-unreachable"
    assert refused.detail is not None
    assert "proxy refused the tunnel" in refused.detail
    assert "wrong or missing proxy credentials" in refused.detail
    assert PROXY_PASSWORD not in refused.detail
    assert staged.result is CycleResult.REBOOT_REQUIRED, staged.detail
    os_targets = [t.version for t in staged.targeted if t.kind is ImageType.OS]
    assert os_targets == [RELEASED_OS_VERSION]
    assert_staged_release(service, device)
    assert f"CONNECT 127.0.0.1:{urlsplit(service.url).port}" in log, log
    status = service.update_status(device.device_id)
    assert status["state"] == "rebooting"


def test_download_through_a_link_dropping_every_64_kib_completes_refetching_at_most_one_chunk_per_drop(  # noqa: E501 - the name says it all
    service: LiveUpdateService, tmp_path: Path
) -> None:
    device, backend, config, keystore = attested_device(service, tmp_path / "device")
    fetchers: list[UpdateFetcher] = []
    service_url = urlsplit(service.url)
    assert service_url.hostname is not None
    assert service_url.port is not None
    with dropping_relay(
        service_url.hostname, service_url.port, drop_every_bytes=DROP_EVERY_BYTES
    ) as relay:
        relayed = replace(config, server_url=relay.url)
        tls = device_tls(keystore, device.state_dir, relay.url, config.server_ca_file)

        def fetcher() -> UpdateFetcher:
            made = UpdateFetcher(
                FetcherSettings(
                    connect_timeout_s=5.0,
                    read_timeout_s=15.0,
                    backoff_base_s=0.01,
                    backoff_max_s=0.1,
                    chunk_bytes=FETCHER_CHUNK_BYTES,
                    ssl_context=tls(),
                )
            )
            fetchers.append(made)
            return made

        cycle = UpdateCycle(
            source=UpdateClient(
                state_dir=device.state_dir,
                server_url=relay.url,
                device_id=keystore.device_id,
                fetcher_factory=fetcher,
            ),
            backend=backend,
            reporter=UpdateStatusClient(relayed, ssl_context_factory=tls),
        )
        outcome = asyncio.run(cycle.check())
        counters = relay.counters

    assert outcome.result is CycleResult.REBOOT_REQUIRED, outcome.detail
    assert_staged_release(service, device)
    received = sum(f.bytes_received for f in fetchers)
    resumes = sum(f.resumes for f in fetchers)
    assert received >= OS_IMAGE_BYTES
    # A 1 MiB image through a link cut every 64 KiB: many drops, each resumed.
    assert counters.drops >= OS_IMAGE_BYTES // DROP_EVERY_BYTES
    assert resumes >= OS_IMAGE_BYTES // DROP_EVERY_BYTES - 1
    # What the relay carried: the body bytes ngclient got (the image and the TUF
    # metadata), each once; per drop at most one fetcher chunk read again plus the
    # allowance; per connection that ended without a drop, the allowance.
    metadata_bytes = received - OS_IMAGE_BYTES
    clean_connections = counters.connections - counters.drops
    assert counters.server_to_client_bytes <= (
        OS_IMAGE_BYTES
        + metadata_bytes
        + counters.drops * (FETCHER_CHUNK_BYTES + CONNECTION_ALLOWANCE_BYTES)
        + clean_connections * CONNECTION_ALLOWANCE_BYTES
    ), (counters, received, resumes)


def test_attestation_without_the_server_ca_does_not_trust_a_private_ca_service(
    service: LiveUpdateService, tmp_path: Path
) -> None:
    device = service.enroll(tmp_path / "device")
    backend = DirInstallBackend(device.install_root)
    backend.boot()
    measurements = Measurements(
        os_image_sha256=sha256_of_file(backend.os_image_path()),
        agent_sha256=AGENT_SHA256,
    )
    config = AgentConfig(
        state_dir=device.state_dir,
        server_url=service.url,
        measurements=FixedMeasurementSource(measurements=measurements),
        connect_timeout_s=5.0,
        deadline_s=30.0,
    )
    keystore = DiceKeyStore.open(device.state_dir, measurements, clock=SystemClock())

    async def attest() -> None:
        async with AttestationClient(config) as attester:
            await attester.attest(keystore, measurements)

    with pytest.raises(ServiceUnreachableError, match="CERTIFICATE_VERIFY_FAILED"):
        asyncio.run(attest())


def test_a_server_ca_file_that_holds_no_certificate_is_a_configuration_error(
    tmp_path: Path,
) -> None:
    bundle = tmp_path / "not-a-ca.pem"
    bundle.write_text("not a certificate\n")
    config = AgentConfig(
        state_dir=tmp_path / "state",
        server_url="https://127.0.0.1:1",
        measurements=FixedMeasurementSource(
            measurements=Measurements(
                os_image_sha256=bytes(32), agent_sha256=AGENT_SHA256
            )
        ),
        server_ca_file=bundle,
    )
    with pytest.raises(AgentConfigError, match="server CA bundle"):
        AttestationClient(config)
