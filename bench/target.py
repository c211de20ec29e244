"""A Sevenfold service under benchmark: database, tenant, server process, fixtures.

The tenant is bootstrapped exactly as ``sevenfold init`` does (with a key-encryption
key in the data directory, so the tenant CA can sign); everything after that
(registration, product, claims) goes over HTTP through the simulator's client.
"""

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from bench.servers import server_process
from sevenfold.crypto.device_ids import device_id_of
from sevenfold.protocol.clock import SystemClock
from sevenfold.protocol.vocabulary import MAX_BULK_CLAIM_DEVICES, OperationStatus
from sevenfold.service.ca.key_encryption_key import create_key_encryption_key_file
from sevenfold.service.db.engine import make_engine, make_session_factory
from sevenfold.service.db.migrate import upgrade
from sevenfold.service.tenants import service as tenant_service
from sevenfold.sim.client import OperatorClient
from sevenfold.sim.manufacturer import register_fleet

CLAIM_TIMEOUT_S = 120.0
GROUP_NAME = "Production"


@dataclass(frozen=True, slots=True)
class ServiceTarget:
    """A running service, an administrator token of its one tenant, its product."""

    base_url: str
    token: str
    product_id: str
    group_id: str

    @property
    def headers(self) -> dict[str, str]:
        """The bearer header every benchmark request carries."""
        return {"Authorization": f"Bearer {self.token}"}

    def client(self) -> OperatorClient:
        """An operator client for setting up data."""
        return OperatorClient(self.base_url, self.token)


def _bootstrap(database_url: str, *, migrate: bool) -> str:
    if migrate:
        upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            _, token = tenant_service.bootstrap(
                session=session, clock=SystemClock(), tenant_name="Bench"
            )
    finally:
        engine.dispose()
    return token


@contextlib.contextmanager
def sevenfold_server(
    database_url: str, workdir: Path, *, migrate: bool
) -> Iterator[ServiceTarget]:
    """Initialize the database, serve it in a child process, create a product."""
    token = _bootstrap(database_url, migrate=migrate)
    # Where the service looks for its KEK by default (data_dir/key-encryption-key).
    create_key_encryption_key_file(workdir / "key-encryption-key")
    arguments = [
        "sevenfold",
        "--database-url",
        database_url,
        "--data-dir",
        str(workdir),
    ]
    with server_process(
        arguments, ready_path="/readyz", log_file=workdir / "server.log"
    ) as base_url:
        product_id, group_id = asyncio.run(_product_group(base_url, token))
        yield ServiceTarget(
            base_url=base_url, token=token, product_id=product_id, group_id=group_id
        )


async def _product_group(base_url: str, token: str) -> tuple[str, str]:
    async with OperatorClient(base_url, token) as client:
        product = await client.create_product("Bench Gateway")
        groups = await client.list_device_groups(product.id)
    return product.id, next(group.id for group in groups if group.name == GROUP_NAME)


def register(target: ServiceTarget, count: int) -> list[str]:
    """Register ``count`` fresh device identities; return their IDs.

    Only the IDs are needed (these devices never attest), so the keys are
    throwaway in-memory P-256 keys, not the simulator's DICE devices.
    """
    device_ids = [
        device_id_of(ec.generate_private_key(ec.SECP256R1()).public_key())
        for _ in range(count)
    ]
    register_ids(target, device_ids)
    return device_ids


def register_ids(target: ServiceTarget, device_ids: list[str]) -> None:
    """Register these device identities as the factory would.

    The records are signed by a fresh manufacturer key that the (platform
    administrator) token first trusts.
    """

    async def go() -> None:
        async with target.client() as client:
            await register_fleet(client, device_ids, clock=SystemClock())

    asyncio.run(go())


def register_and_claim(target: ServiceTarget, count: int) -> list[str]:
    """Register ``count`` devices and bulk-claim them into the target's group."""
    device_ids = register(target, count)
    claim(target, device_ids)
    return device_ids


def claim(target: ServiceTarget, device_ids: list[str]) -> None:
    """Bulk-claim registered devices into the target's group."""

    async def go() -> None:
        async with target.client() as client:
            for start in range(0, len(device_ids), MAX_BULK_CLAIM_DEVICES):
                batch = device_ids[start : start + MAX_BULK_CLAIM_DEVICES]
                operation = await client.start_bulk_claim(batch, target.group_id)
                done = await client.wait_for_operation(
                    operation.id, timeout_s=CLAIM_TIMEOUT_S, poll_interval_s=0.05
                )
                if done.status is not OperationStatus.COMPLETE:
                    raise RuntimeError(f"bulk claim ended {done.status.value}")

    asyncio.run(go())
