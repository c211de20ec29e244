"""The agent updates its OS from the real service: attestation over HTTP, the update
routes over real mutually authenticated TLS (as ``sevenfold serve --tls-cert``
runs them), the real fetcher, ngclient, a real ``dir`` backend, and the ``Agent``
daemon with its ``UpdateLoop``.

ngclient checks expiry against the real clock, so the service's clock starts at
the real time here (the certificates and metadata it signs are valid now).
"""

import asyncio
import contextlib
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sevenfold.agent.attestation_client import AttestationClient
from sevenfold.agent.config import AgentConfig
from sevenfold.agent.daemon import Agent
from sevenfold.agent.install.backend import BootOutcome, DirInstallBackend
from sevenfold.agent.measurements import FixedMeasurementSource, sha256_of_file
from sevenfold.agent.state import StateStore
from sevenfold.agent.trusted.dice_keystore import DiceKeyStore
from sevenfold.agent.update_cycle import CycleOutcome, CycleResult
from sevenfold.agent.update_loop import UpdateLoop
from sevenfold.agent.update_setup import build_update_cycle, device_tls
from sevenfold.entry.main import root
from sevenfold.protocol.attestation import Measurements
from sevenfold.protocol.clock import ManualClock, SystemClock
from sevenfold.protocol.updates import ImageType
from sevenfold.service.tls.context import server_context, trust_tenant_cas
from tests.agent.agent_support import config_for
from tests.agent.update_support import make_image
from tests.api.attestation_support import approve_software, digest
from tests.api.update_support import add_release
from tests.conftest import TenantAccess
from tests.support.flaky_http import flaky_http_server
from tests.support.fleet import claim, create_product, groups_by_name, register
from tests.support.images import make_signing_key
from tests.support.live_server import live_server
from tests.support.tls_files import ServerTls, server_tls

AGENT_SHA256 = digest("agent 1.0")


@pytest.fixture
def clock() -> ManualClock:
    """The service's clock, starting at the real time (ngclient's reference)."""
    return ManualClock(SystemClock().now().replace(microsecond=0))


@contextlib.contextmanager
def mtls_server(app: FastAPI, tls: ServerTls) -> Iterator[str]:
    """Serve ``app`` over HTTPS asking for client certificates; yield its URL."""
    context = server_context(tls.certificate_file, tls.key_file)
    trust_tenant_cas(app.state.sevenfold, context)
    with live_server(app, context, tls.client_context()) as url:
        yield url


def measured(backend: DirInstallBackend) -> Measurements:
    """What the device measures: the booted slot's OS image and agent 1.0."""
    return Measurements(
        os_image_sha256=sha256_of_file(backend.os_image_path()),
        agent_sha256=AGENT_SHA256,
    )


def enroll_device(
    client: TestClient, admin: TenantAccess, clock: ManualClock, state_dir: Path,
    software: Measurements,
) -> str:  # fmt: skip
    """A DICE identity, registered, claimed and with ``software`` approved."""
    DiceKeyStore.create(state_dir)
    device_id = DiceKeyStore.open(state_dir, software, clock=clock).device_id
    register(client, admin.headers, [device_id])
    product = create_product(client, admin.headers, "Gateway")
    group = groups_by_name(client, admin.headers, product["id"])["Production"]
    claim(client, admin.headers, device_id, group["id"])
    approve_software(client, admin, product["id"], software)
    return device_id


def run_agent(
    http_config: AgentConfig,
    update_config: AgentConfig,
    server_ca: Path,
    clock: ManualClock,
    backend: DirInstallBackend,
    boot: BootOutcome,
) -> tuple[Agent, UpdateLoop]:
    """Run the daemon (attestation + updates) until the first update check has
    finished or a reboot is needed."""
    measurements = measured(backend)

    async def main() -> tuple[Agent, UpdateLoop]:
        stop = asyncio.Event()

        async def after_first_check(delay_s: float) -> None:
            stop.set()

        async def never(delay_s: float) -> None:
            await asyncio.Event().wait()

        keystore = DiceKeyStore.open(http_config.state_dir, measurements, clock=clock)
        tls = device_tls(
            keystore, update_config.state_dir, update_config.server_url, server_ca
        )
        cycle = build_update_cycle(
            update_config, backend=backend, device_id=keystore.device_id, tls=tls
        )
        updates = UpdateLoop(
            cycle=cycle,
            state_dir=update_config.state_dir,
            interval_s=update_config.update_check_interval_s,
            backoff_base_s=1.0,
            backoff_max_s=5.0,
            boot=boot,
            sleep=after_first_check,
            rng=random.Random(5),
        )
        async with AttestationClient(http_config) as attester:
            agent = Agent(
                config=http_config,
                keystore=keystore,
                measurements=measurements,
                attester=attester,
                clock=clock,
                sleep=never,
                updates=updates,
            )
            await agent.run(stop)
        return agent, updates

    return asyncio.run(main())


def results(loop: UpdateLoop) -> list[CycleResult]:
    return [outcome.result for outcome in loop.outcomes]


def test_agent_stages_an_os_release_over_mtls_reboots_and_commits_it(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    package, factory = make_image(
        make_signing_key(), kind=ImageType.OS, version="26.10"
    )
    (tmp_path / "factory.pkg").write_bytes(package)
    install_root = tmp_path / "install"
    DirInstallBackend.initialize(install_root, tmp_path / "factory.pkg", factory)
    backend = DirInstallBackend(install_root)
    first_boot = backend.boot()
    state_dir = tmp_path / "state"
    device_id = enroll_device(client, admin, clock, state_dir, measured(backend))
    release = add_release(app, clock, "26.11")
    tls = server_tls(tmp_path / "tls")

    with live_server(app) as http_url, mtls_server(app, tls) as https_url:
        http_config = config_for(state_dir, http_url)
        update_config = config_for(
            state_dir,
            https_url,
            install_root=install_root,
            measurements=FixedMeasurementSource(measurements=measured(backend)),
        )
        agent, loop = run_agent(
            http_config, update_config, tls.ca_file, clock, backend, first_boot
        )
        staged: CycleOutcome | None = agent.reboot_outcome
        assert results(loop) == [CycleResult.BOOTED, CycleResult.REBOOT_REQUIRED]
        assert staged is not None
        assert [target.version for target in staged.targeted] == ["26.11"]

        backend = DirInstallBackend(install_root)  # the reboot
        trial_boot = backend.boot()
        assert trial_boot.trial is not None
        assert trial_boot.trial.sha256 == release.sha256
        agent, loop = run_agent(
            http_config, update_config, tls.ca_file, clock, backend, trial_boot
        )

    assert results(loop) == [CycleResult.COMMITTED, CycleResult.UP_TO_DATE]
    assert agent.reboot_outcome is None
    assert backend.committed_os().version == "26.11"
    status = client.get(
        f"/api/v1/devices/{device_id}/update-status", headers=admin.headers
    )
    assert status.status_code == 200, status.text
    assert status.json()["state"] == "idle"
    assert status.json()["os_version"] == "26.11"


def register_device(
    client: TestClient, admin: TenantAccess, device_id: str, software: Measurements
) -> None:
    """Register and claim ``device_id`` and approve ``software`` for its product."""
    register(client, admin.headers, [device_id])
    product = create_product(client, admin.headers, "Sensor")
    group = groups_by_name(client, admin.headers, product["id"])["Production"]
    claim(client, admin.headers, device_id, group["id"])
    approve_software(client, admin, product["id"], software)


def test_agent_init_and_check_commands_stage_an_update_then_wait_for_the_reboot(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    package, factory = make_image(
        make_signing_key(), kind=ImageType.OS, version="26.10"
    )
    (tmp_path / "factory.pkg").write_bytes(package)
    state_dir, install_root = tmp_path / "state", tmp_path / "install"
    runner = CliRunner()
    init = runner.invoke(
        root,
        ["agent", "init", "--state-dir", str(state_dir), "--install-root",
         str(install_root), "--os-image", str(tmp_path / "factory.pkg"),
         "--output", "json"],
    )  # fmt: skip
    assert init.exit_code == 0, init.output
    initialised = json.loads(init.output)
    assert initialised["os_version"] == "26.10"
    software = Measurements(
        os_image_sha256=bytes.fromhex(factory.sha256), agent_sha256=AGENT_SHA256
    )
    register_device(client, admin, initialised["device_id"], software)
    add_release(app, clock, "26.11")
    tls = server_tls(tmp_path / "tls")

    with live_server(app) as http_url:
        keystore = DiceKeyStore.open(state_dir, software, clock=clock)
        attest(config_for(state_dir, http_url), keystore, software)
        with mtls_server(app, tls) as https_url:
            check = [
                "agent", "check", "--state-dir", str(state_dir), "--server",
                https_url, "--server-ca", str(tls.ca_file), "--install-root",
                str(install_root), "--agent-sha256", AGENT_SHA256.hex(),
                "--output", "json",
            ]  # fmt: skip
            staged = runner.invoke(root, check)
            waiting = runner.invoke(root, check)

    assert staged.exit_code == 0, staged.output
    assert json.loads(staged.output)["result"] == "reboot-required"
    assert json.loads(staged.output)["targeted"] == ["26.11"]
    assert waiting.exit_code == 1
    assert "waiting for its reboot" in waiting.output
    status = client.get(
        f"/api/v1/devices/{initialised['device_id']}/update-status",
        headers=admin.headers,
    )
    assert status.json()["state"] == "rebooting"


def attest(config: AgentConfig, keystore: DiceKeyStore, software: Measurements) -> None:
    """Attest once over HTTP and save the certificate, as the daemon does."""

    async def main() -> None:
        async with AttestationClient(config) as attester:
            issued = await attester.attest(keystore, software)
        StateStore(config.state_dir).write_certificate(
            issued.certificate_pem, issued.chain_pem
        )

    asyncio.run(main())


@pytest.mark.parametrize("mirror_is_honest", [True, False])
def test_targets_come_from_a_plain_http_mirror_which_the_metadata_makes_untrusted(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
    mirror_is_honest: bool,
) -> None:
    """Metadata comes from the service over mTLS; the image comes from a plain HTTP
    mirror of the artifact store. An honest mirror's file installs; a mirror that
    serves other bytes under the same name gets nothing installed (arbitrary
    software attack through a mirror)."""
    package, factory = make_image(
        make_signing_key(), kind=ImageType.OS, version="26.10"
    )
    (tmp_path / "factory.pkg").write_bytes(package)
    install_root = tmp_path / "install"
    DirInstallBackend.initialize(install_root, tmp_path / "factory.pkg", factory)
    backend = DirInstallBackend(install_root)
    first_boot = backend.boot()
    state_dir = tmp_path / "state"
    enroll_device(client, admin, clock, state_dir, measured(backend))
    release = add_release(app, clock, "26.11")
    stored = app.state.sevenfold.artifact_store.path_of(release.sha256)
    assert stored is not None
    genuine = stored.read_bytes()
    served = genuine if mirror_is_honest else genuine[:-4] + b"evil"
    tls = server_tls(tmp_path / "tls")
    blob = f"/blobs/{release.sha256}"

    with (
        flaky_http_server({blob: served}) as mirror,
        live_server(app) as http_url,
        mtls_server(app, tls) as https_url,
    ):
        update_config = config_for(
            state_dir,
            https_url,
            install_root=install_root,
            measurements=FixedMeasurementSource(measurements=measured(backend)),
            targets_mirror_url=mirror.url,
        )
        _, loop = run_agent(
            config_for(state_dir, http_url), update_config, tls.ca_file, clock,
            backend, first_boot,
        )  # fmt: skip
        mirrored = [request.path for request in mirror.requests]

    assert mirrored
    assert set(mirrored) == {blob}
    if mirror_is_honest:
        assert results(loop) == [CycleResult.BOOTED, CycleResult.REBOOT_REQUIRED]
        assert DirInstallBackend(install_root).boot().trial is not None
    else:
        assert CycleResult.FAILED in results(loop)
        assert loop.outcomes[-1].reason == "target-refused"
        assert DirInstallBackend(install_root).boot().trial is None
