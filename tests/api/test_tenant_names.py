"""Tenant names: unique case-insensitively, including names that grow when folded."""

from fastapi.testclient import TestClient

from tests.conftest import TenantAccess

TENANTS = "/api/v1/tenants"


def test_longest_tenant_name_that_grows_when_casefolded_is_stored(
    client: TestClient, admin: TenantAccess
) -> None:
    """'ß' casefolds to 'ss': a 100-character name must not overflow its key (500)."""
    response = client.post(TENANTS, json={"name": "ß" * 100}, headers=admin.headers)
    assert response.status_code == 201, response.text
    clash = client.post(TENANTS, json={"name": "\u1e9e" * 100}, headers=admin.headers)
    assert clash.status_code == 409, clash.text
    assert clash.json()["code"] == "name-conflict"
