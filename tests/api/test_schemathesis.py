"""Property-based run of the whole OpenAPI document (schemathesis, in-process ASGI).

Every operation gets generated valid and invalid requests with an administrator's
token; no response may be a 5xx, and responses must match the document. SQLite only:
the point is input handling, which does not depend on the backend.
"""

import shutil
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.api.tenancy_support import build_fleet
from tests.conftest import TenantAccess

MAX_EXAMPLES = 25


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    """This module runs on SQLite only (overrides the two-backend fixture)."""
    path = tmp_path / "sevenfold.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def test_generated_requests_never_get_a_server_error(
    app: FastAPI, client: TestClient, admin: TenantAccess
) -> None:
    """Valid and invalid generated requests to every operation: no 5xx, all conform."""
    build_fleet(client, admin, admin)  # real data for listings to return
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    checks = [
        not_a_server_error,
        content_type_conformance,
        response_schema_conformance,
    ]
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    assert len(operations) >= 25
    for operation in operations:
        raw = operation.definition.raw
        modes = [schemathesis.GenerationMode.POSITIVE]
        json_body = "application/json" in raw.get("requestBody", {}).get("content", {})
        if raw.get("parameters") or json_body:
            # Nothing to make invalid in an operation without inputs (a raw byte
            # body, the image upload, accepts any bytes).
            modes.append(schemathesis.GenerationMode.NEGATIVE)
        for mode in modes:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def exercise(case: Any) -> None:
                case.call_and_validate(headers=admin.headers, checks=checks)

            exercise()
