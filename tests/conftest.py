"""Shared fixtures: every API test runs on SQLite and on a real PostgreSQL.

* ``database_url`` is parametrized over both backends; PostgreSQL comes from
  ``SEVENFOLD_TEST_POSTGRES_URL`` or a throwaway cluster the harness starts itself.
* ``client`` is an in-process client with the app's lifespan running (the background
  operation runner included); ``live_url`` serves the same app over real HTTP.
* Time comes from a ``ManualClock`` the test can advance.
"""

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings

from sevenfold.protocol.clock import ManualClock
from sevenfold.service.app import create_app
from sevenfold.service.ca.key_encryption_key import create_key_encryption_key_file
from sevenfold.service.db.engine import make_engine, make_session_factory
from sevenfold.service.db.migrate import upgrade
from sevenfold.service.settings import ServiceSettings
from sevenfold.service.tenants import service as tenant_service
from tests.support.live_server import live_server
from tests.support.manufacturer import trust_test_manufacturer_key
from tests.support.postgres import PostgresServer, postgres_server

# Several engineers and CI share a 2-core machine: a per-example deadline only turns
# load into flaky failures. Hypothesis still bounds the number of examples.
hypothesis_settings.register_profile("sevenfold", deadline=None)
hypothesis_settings.load_profile("sevenfold")

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's SEVENFOLD_* variables must not leak into the app under test."""
    for name in list(os.environ):
        if name.startswith("SEVENFOLD_") and name != "SEVENFOLD_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server (with a migrated template) for the whole run."""
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    """A fresh, migrated database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "sevenfold.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    name = server.create_database()
    try:
        yield server.url_for(name)
    finally:
        server.drop_database(name)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> ServiceSettings:
    """Settings for one test: its own data dir, database and KEK, fast job polling,
    a quiet rollout evaluator."""
    kek_file = tmp_path / "kek" / "key-encryption-key"
    create_key_encryption_key_file(kek_file)
    return ServiceSettings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        job_poll_interval_s=0.02,
        key_encryption_key_file=kek_file,
        # The rollout evaluator ticks at start-up and when woken; tests that need
        # more call its run_once (a 10 s tick would open waves mid-test).
        rollout_evaluation_interval_s=3600.0,
    )


@pytest.fixture
def clock() -> ManualClock:
    """The service's clock, moved only by the test."""
    return ManualClock()


@pytest.fixture
def app(settings: ServiceSettings, clock: ManualClock) -> Iterator[FastAPI]:
    """A service instance; its engine is disposed afterwards."""
    engine = make_engine(settings.effective_database_url)
    yield create_app(settings, clock=clock, engine=engine)
    engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """An in-process HTTP client with the lifespan (and operation runner) running."""
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def live_url(app: FastAPI) -> Iterator[str]:
    """The same app served over real HTTP on a loopback port."""
    with live_server(app) as url:
        yield url


@dataclass(frozen=True, slots=True)
class TenantAccess:
    """A tenant and a token that acts in it."""

    tenant_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """Authorization header for this token."""
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def admin(app: FastAPI, clock: ManualClock) -> TenantAccess:
    """The first tenant's administrator (also platform administrator), as init makes.

    The database also trusts the test manufacturer key, so tests register devices
    from records it signed (``tests.support.manufacturer``).
    """
    factory = make_session_factory(app.state.sevenfold.engine)
    with factory() as session:
        tenant, token = tenant_service.bootstrap(
            session=session, clock=clock, tenant_name="Contoso"
        )
        trust_test_manufacturer_key(session)
    return TenantAccess(tenant_id=tenant.id, token=token)


@pytest.fixture
def other_tenant(client: TestClient, admin: TenantAccess) -> TenantAccess:
    """A second tenant, created through the API, with its own administrator."""
    response = client.post(
        "/api/v1/tenants", json={"name": "Fabrikam"}, headers=admin.headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return TenantAccess(tenant_id=body["id"], token=body["administrator_token"])
