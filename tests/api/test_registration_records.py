"""Device registration needs a record signed by a trusted manufacturer key.

Each test is named after an attack; every refusal says which record and why, and a
refused request registers nothing (the device cannot then be claimed).
"""

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from sevenfold.crypto.registration import manufacturer_key_id, public_key_pem
from tests.api.tenancy_support import API, assert_problem, mint_token
from tests.conftest import TenantAccess
from tests.support.devices import new_device_ids
from tests.support.fleet import bearer
from tests.support.manufacturer import TEST_MANUFACTURER_KEY_ID, signed_records

REGISTRATIONS = f"{API}/manufacturing/device-registrations"
TRUSTED_KEYS = f"{API}/manufacturing/trusted-keys"


def _register(
    client: TestClient, headers: dict[str, str], records: list[dict[str, Any]]
) -> Any:
    return client.post(REGISTRATIONS, json={"records": records}, headers=headers)


def _claimable(client: TestClient, admin: TenantAccess, device_id: str) -> bool:
    """Whether the device is registered: an unregistered one cannot be claimed."""
    response = client.post(f"{API}/devices/{device_id}/claim", headers=admin.headers)
    return bool(response.status_code == 200)


def _trust(client: TestClient, headers: dict[str, str], key: Ed25519PrivateKey) -> Any:
    return client.post(
        TRUSTED_KEYS,
        json={"name": "Line 2", "public_key_pem": public_key_pem(key.public_key())},
        headers=headers,
    )


def test_registration_signed_by_an_unknown_manufacturer_key_is_refused(
    client: TestClient, admin: TenantAccess
) -> None:
    (device_id,) = new_device_ids(1)
    records = signed_records([device_id], Ed25519PrivateKey.generate())
    body = assert_problem(
        _register(client, admin.headers, records), 403, "untrusted-registration"
    )
    assert (body["index"], body["reason"]) == (0, "unknown-manufacturer-key")
    assert "record 0" in body["detail"]
    assert not _claimable(client, admin, device_id)


def test_registration_with_a_forged_signature_is_refused(
    client: TestClient, admin: TenantAccess
) -> None:
    """A record naming the trusted key ID but signed by another key."""
    (device_id,) = new_device_ids(1)
    (forged,) = signed_records([device_id], Ed25519PrivateKey.generate())
    forged["manufacturer_key_id"] = TEST_MANUFACTURER_KEY_ID
    body = assert_problem(
        _register(client, admin.headers, [forged]), 403, "untrusted-registration"
    )
    assert body["reason"] == "bad-signature"
    assert not _claimable(client, admin, device_id)


def test_registration_record_altered_after_signing_is_refused(
    client: TestClient, admin: TenantAccess
) -> None:
    """A genuine record whose device ID is swapped for the attacker's own."""
    genuine, attacker = new_device_ids(2)
    (record,) = signed_records([genuine])
    record["device_id"] = attacker
    body = assert_problem(
        _register(client, admin.headers, [record]), 403, "untrusted-registration"
    )
    assert body["reason"] == "bad-signature"
    assert not _claimable(client, admin, attacker)
    assert not _claimable(client, admin, genuine)


def test_one_bad_record_registers_nothing(
    client: TestClient, admin: TenantAccess
) -> None:
    device_ids = new_device_ids(4)
    records = signed_records(device_ids[:3])
    records[1:1] = signed_records(device_ids[3:], Ed25519PrivateKey.generate())
    body = assert_problem(
        _register(client, admin.headers, records), 403, "untrusted-registration"
    )
    assert body["index"] == 1
    assert not any(_claimable(client, admin, device_id) for device_id in device_ids)
    malformed = [*signed_records(device_ids[:1]), {**records[0], "signature": "x"}]
    response = _register(client, admin.headers, malformed)
    assert_problem(response, 422, "validation-error")
    assert not _claimable(client, admin, device_ids[0])


def test_stolen_platform_token_alone_cannot_register_devices(
    client: TestClient, admin: TenantAccess
) -> None:
    """A manufacturer (or platform) token without a trusted key injects nothing."""
    created = mint_token(
        client, admin, role=None, platform_role="manufacturer", name="stolen"
    )
    stolen = bearer(created["token"])
    (device_id,) = new_device_ids(1)
    attacker_key = Ed25519PrivateKey.generate()
    for headers in (stolen, admin.headers):
        response = _register(client, headers, signed_records([device_id], attacker_key))
        assert_problem(response, 403, "untrusted-registration")
        plain = client.post(
            REGISTRATIONS, json={"device_ids": [device_id]}, headers=headers
        )
        assert_problem(plain, 422, "validation-error")
    trust = _trust(client, stolen, attacker_key)
    assert_problem(trust, 403, "forbidden")
    assert not _claimable(client, admin, device_id)


def test_removed_trusted_key_can_no_longer_register(
    client: TestClient, admin: TenantAccess
) -> None:
    line_two = Ed25519PrivateKey.generate()
    trusted = _trust(client, admin.headers, line_two)
    assert trusted.status_code == 201, trusted.text
    key_id = manufacturer_key_id(line_two.public_key())
    assert trusted.json()["id"] == key_id
    assert_problem(_trust(client, admin.headers, line_two), 409, "conflict")
    listed = client.get(TRUSTED_KEYS, headers=admin.headers).json()
    assert {key["id"] for key in listed} == {TEST_MANUFACTURER_KEY_ID, key_id}
    first, second = new_device_ids(2)
    ok = _register(client, admin.headers, signed_records([first], line_two))
    assert ok.json() == {"registered": 1, "already_registered": 0}

    removed = client.delete(f"{TRUSTED_KEYS}/{key_id}", headers=admin.headers)
    assert removed.status_code == 204
    gone = client.get(f"{TRUSTED_KEYS}/{key_id}", headers=admin.headers)
    assert_problem(gone, 404, "not-found")
    response = _register(client, admin.headers, signed_records([second], line_two))
    body = assert_problem(response, 403, "untrusted-registration")
    assert body["reason"] == "unknown-manufacturer-key"
    assert not _claimable(client, admin, second)
    assert _claimable(client, admin, first)  # what it registered stays registered
    actions = [
        event["action"]
        for event in client.get(
            f"{API}/audit-events", params={"limit": 1000}, headers=admin.headers
        ).json()["items"]
    ]
    assert "manufacturer-key.trust" in actions
    assert "manufacturer-key.remove" in actions


def test_tenant_administrator_cannot_trust_a_manufacturer_key(
    client: TestClient, admin: TenantAccess, other_tenant: TenantAccess
) -> None:
    key = Ed25519PrivateKey.generate()
    assert_problem(_trust(client, other_tenant.headers, key), 403, "forbidden")
    for method, path in (
        ("GET", TRUSTED_KEYS),
        ("GET", f"{TRUSTED_KEYS}/{TEST_MANUFACTURER_KEY_ID}"),
        ("DELETE", f"{TRUSTED_KEYS}/{TEST_MANUFACTURER_KEY_ID}"),
    ):
        response = client.request(method, path, headers=other_tenant.headers)
        assert_problem(response, 403, "forbidden")
    listed = client.get(TRUSTED_KEYS, headers=admin.headers).json()
    assert [k["id"] for k in listed] == [TEST_MANUFACTURER_KEY_ID]


def test_a_trusted_key_must_be_an_ed25519_public_key(
    client: TestClient, admin: TenantAccess
) -> None:
    for pem in (
        "not a key",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
    ):
        response = client.post(
            TRUSTED_KEYS,
            json={"name": "x", "public_key_pem": pem},
            headers=admin.headers,
        )
        assert_problem(response, 422, "validation-error")


def test_registration_is_idempotent_and_accepts_upper_case_ids(
    client: TestClient, admin: TenantAccess
) -> None:
    device_ids = new_device_ids(3)
    records = signed_records(device_ids)
    first = _register(client, admin.headers, records + records[:1])
    assert first.json() == {"registered": 3, "already_registered": 0}
    shouted = [{**records[0], "device_id": device_ids[0].upper()}]
    again = _register(client, admin.headers, shouted)
    assert again.json() == {"registered": 0, "already_registered": 1}
