"""Service start-up: health, readiness, metrics, OpenAPI, migrations and settings."""

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import uvicorn
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pydantic import ValidationError

from sevenfold.entry.main import root
from sevenfold.service import commands
from sevenfold.service.app import create_app
from sevenfold.service.db.engine import make_engine
from sevenfold.service.errors import DatabaseNotReadyError
from sevenfold.service.settings import DEFAULT_DATA_DIR, ServiceSettings, load_settings
from tests.api.tenancy_support import assert_problem, bearer
from tests.conftest import BACKENDS
from tests.support.postgres import PostgresServer


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A reachable database on each backend that was never migrated."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    name = f"sf_empty_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.url_for(name)
    finally:
        server.drop_database(name)


def test_healthz_answers_ok(client: TestClient) -> None:
    """/healthz needs no token and says the process is up."""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ready_with_the_revision(client: TestClient) -> None:
    """/readyz on a migrated database names the revision."""
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["revision"]


def test_readyz_is_a_503_problem_on_an_unmigrated_database(
    empty_database_url: str, tmp_path: Path
) -> None:
    """Without the lifespan (which would refuse), /readyz reports not ready."""
    settings = ServiceSettings(data_dir=tmp_path, database_url=empty_database_url)
    engine = make_engine(settings.effective_database_url)
    try:
        client = TestClient(create_app(settings, engine=engine, run_operations=False))
        body = assert_problem(client.get("/readyz"), 503, "database-not-ready")
        assert "sevenfold db upgrade" in body["detail"]
    finally:
        engine.dispose()


def test_lifespan_refuses_to_start_on_an_unmigrated_database(
    empty_database_url: str, tmp_path: Path
) -> None:
    """create_app's lifespan raises and tells the operator what to run."""
    settings = ServiceSettings(data_dir=tmp_path, database_url=empty_database_url)
    engine = make_engine(settings.effective_database_url)
    try:
        app = create_app(settings, engine=engine)
        with (
            pytest.raises(DatabaseNotReadyError, match="sevenfold db upgrade"),
            TestClient(app),
        ):
            pass
    finally:
        engine.dispose()


def test_metrics_are_prometheus_text_by_route_template(client: TestClient) -> None:
    """/metrics counts requests by route template, never by raw path."""
    client.get("/healthz")
    client.get("/api/v1/products/some-product-id")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "# TYPE sevenfold_http_requests_total counter" in text
    assert 'route="/healthz"' in text
    # The label is the route template (FastAPI 0.165 reports it without the
    # /api/v1 include prefix), never the raw path with its ID.
    assert re.search(r'route="(/api/v1)?/products/\{product_id\}"', text)
    assert "some-product-id" not in text
    assert "sevenfold_http_request_duration_seconds_bucket" in text


def test_openapi_document_lists_the_operator_api(client: TestClient) -> None:
    """/openapi.json is served and describes the /api/v1 routes."""
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    paths = set(document["paths"])
    assert {"/api/v1/tokens", "/api/v1/tenants", "/api/v1/audit-events"} <= paths


def test_cli_db_upgrade_then_init_prints_a_working_token(tmp_path: Path) -> None:
    """`sevenfold db upgrade` migrates; `init` prints an administrator token once."""
    data_dir = tmp_path / "data"
    runner = CliRunner()
    upgraded = runner.invoke(root, ["db", "upgrade", "--data-dir", str(data_dir)])
    assert upgraded.exit_code == 0, upgraded.output
    assert "Database at revision" in upgraded.output
    init = runner.invoke(
        root, ["init", "--data-dir", str(data_dir), "--tenant-name", "Contoso"]
    )
    assert init.exit_code == 0, init.output
    token = init.output.strip().splitlines()[-1]
    assert token.startswith("sf_")
    settings = ServiceSettings(data_dir=data_dir)
    engine = make_engine(settings.effective_database_url)
    try:
        with TestClient(create_app(settings, engine=engine)) as client:
            tenants = client.get("/api/v1/tenants", headers=bearer(token))
            assert tenants.status_code == 200
            assert [tenant["name"] for tenant in tenants.json()] == ["Contoso"]
    finally:
        engine.dispose()
    again = runner.invoke(root, ["init", "--data-dir", str(data_dir)])
    assert again.exit_code == commands.EXIT_CONFLICT
    assert "already initialized" in again.output


def test_cli_serve_refuses_an_unmigrated_database_without_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sevenfold serve` exits non-zero with the fix and never reaches uvicorn."""
    started: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: started.append(a))
    result = CliRunner().invoke(
        root, ["serve", "--database-url", f"sqlite:///{tmp_path / 'empty.db'}"]
    )
    assert result.exit_code == commands.EXIT_NOT_READY
    assert "sevenfold db upgrade" in result.output
    assert started == []


def test_cli_rejects_a_database_url_that_is_not_sqlite_or_postgresql(
    tmp_path: Path,
) -> None:
    """Any other database is a usage error before anything is touched."""
    result = CliRunner().invoke(
        root, ["db", "upgrade", "--database-url", "mysql://root@localhost/sevenfold"]
    )
    assert result.exit_code == 2
    assert "sqlite:// or postgresql://" in result.output


def test_settings_reject_a_database_url_that_is_not_sqlite_or_postgresql() -> None:
    """The settings object itself refuses foreign URLs."""
    with pytest.raises(ValidationError, match="sqlite:// or postgresql://"):
        ServiceSettings(database_url="mysql://root@localhost/sevenfold")


def test_settings_precedence_explicit_over_env_over_file_over_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """load_settings layers explicit > SEVENFOLD_* env > TOML file > defaults."""
    config = tmp_path / "sevenfold.toml"
    config.write_text('host = "10.0.0.1"\nport = 1001\nmax_body_bytes = 4096\n')
    defaults = load_settings()
    assert (defaults.port, defaults.data_dir) == (8443, DEFAULT_DATA_DIR)

    from_file = load_settings(config)
    assert (from_file.host, from_file.port, from_file.max_body_bytes) == (
        "10.0.0.1",
        1001,
        4096,
    )
    assert from_file.default_page_size == 100  # untouched: the default

    monkeypatch.setenv("SEVENFOLD_PORT", "2002")
    from_env = load_settings(config)
    assert (from_env.host, from_env.port) == ("10.0.0.1", 2002)

    explicit = load_settings(config, port=3003, host=None)
    assert (explicit.host, explicit.port) == ("10.0.0.1", 3003)


def test_settings_postgresql_url_selects_the_psycopg_driver() -> None:
    """A plain postgresql:// URL is pinned to the psycopg 3 driver we ship."""
    settings = ServiceSettings(database_url="postgresql://sf@db/sevenfold")
    assert settings.effective_database_url == "postgresql+psycopg://sf@db/sevenfold"


def test_settings_from_env_reject_a_foreign_database_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bad URL in the environment is refused too (ValidationError is a ValueError)."""
    monkeypatch.setenv("SEVENFOLD_DATABASE_URL", "oracle://scott@db/orcl")
    with pytest.raises(ValueError, match="sqlite:// or postgresql://"):
        load_settings()
