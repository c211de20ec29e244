"""Builders for the rollout tests: products through the API, devices as rows (many
of them, quickly), rollouts through the API, and waves opened the way the
evaluator opens them (``RolloutWave.opened_at``)."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import insert, update

from sevenfold.protocol.clock import Clock
from sevenfold.service.db.engine import make_session_factory
from sevenfold.service.devices.models import Device
from sevenfold.service.rollouts.models import RolloutWave
from tests.conftest import TenantAccess
from tests.support.fleet import create_product, groups_by_name

API = "/api/v1"


@dataclass(frozen=True, slots=True)
class ProductGroups:
    """A product of a tenant and its default groups' IDs by name."""

    tenant_id: str
    product_id: str
    group_ids: dict[str, str]


def product_with_groups(
    client: TestClient, access: TenantAccess, name: str = "Thermostat"
) -> ProductGroups:
    """A new product (with its five default groups) in ``access``'s tenant."""
    product = create_product(client, access.headers, name)
    groups = groups_by_name(client, access.headers, product["id"])
    return ProductGroups(
        access.tenant_id,
        product["id"],
        {group_name: group["id"] for group_name, group in groups.items()},
    )


def add_devices(
    app: FastAPI, clock: Clock, product: ProductGroups, group: str, count: int
) -> list[str]:
    """``count`` claimed devices in one of the product's groups, as rows."""
    device_ids = [uuid.uuid4().hex + uuid.uuid4().hex for _ in range(count)]
    now = clock.now()
    factory = make_session_factory(app.state.sevenfold.engine)
    with factory() as session:
        session.execute(
            insert(Device),
            [
                {
                    "id": device_id,
                    "registered_at": now,
                    "tenant_id": product.tenant_id,
                    "claimed_at": now,
                    "product_id": product.product_id,
                    "device_group_id": product.group_ids[group],
                }
                for device_id in device_ids
            ],
        )
        session.commit()
    return device_ids


def post_rollout(
    client: TestClient, access: TenantAccess, body: dict[str, Any]
) -> dict[str, Any]:
    """Create a rollout; it must be created."""
    response = client.post(f"{API}/rollouts", json=body, headers=access.headers)
    assert response.status_code == 201, response.text
    rollout: dict[str, Any] = response.json()
    return rollout


def percent_waves(*sizes: int, min_soak_s: int = 0) -> list[dict[str, Any]]:
    """Percentage waves."""
    return [{"size": s, "unit": "percent", "min_soak_s": min_soak_s} for s in sizes]


def open_wave(app: FastAPI, rollout_id: str, position: int, at: datetime) -> None:
    """Open a wave as the evaluator does."""
    factory = make_session_factory(app.state.sevenfold.engine)
    with factory() as session:
        session.execute(
            update(RolloutWave)
            .where(
                RolloutWave.rollout_id == rollout_id,
                RolloutWave.position == position,
            )
            .values(opened_at=at)
        )
        session.commit()
