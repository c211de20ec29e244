"""Approved measurements (operator API), attestation over real HTTP with a real DICE
key store, and garbage evidence that must never reach a server error."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sevenfold.agent.trusted.dice_keystore import DiceKeyStore
from sevenfold.protocol.clock import ManualClock
from tests.api.attestation_support import (
    API,
    EVIDENCE,
    NONCES,
    approve,
    enrolled,
    evidence_body,
    history,
    nonce_for,
    running,
)
from tests.api.tenancy_support import access_with_role, assert_problem
from tests.conftest import TenantAccess
from tests.support.fleet import create_product
from tests.support.manufacturer import signed_records


def _path(product_id: str) -> str:
    return f"{API}/products/{product_id}/approved-measurements"


def test_approved_measurements_are_added_listed_and_removed_by_role(
    client: TestClient, admin: TenantAccess
) -> None:
    product = create_product(client, admin.headers, "Gateway")
    os_image = approve(
        client, admin, product["id"],
        kind="os", sha256="AB" * 32, version="26.11", label="retail",
    )  # fmt: skip
    assert (os_image["sha256"], os_image["version"]) == ("ab" * 32, "26.11")
    approve(client, admin, product["id"], kind="app", sha256="cd" * 32)
    listed = client.get(_path(product["id"]), headers=admin.headers).json()
    assert [(m["kind"], m["sha256"]) for m in listed] == [
        ("app", "cd" * 32),
        ("os", "ab" * 32),
    ]
    again = client.post(
        _path(product["id"]),
        json={"kind": "os", "sha256": "ab" * 32, "version": "26.11"},
        headers=admin.headers,
    )
    assert_problem(again, 409, "conflict")
    contributor = access_with_role(client, admin, "contributor")
    one = f"{_path(product['id'])}/{os_image['id']}"
    assert client.delete(one, headers=contributor.headers).status_code == 403
    assert client.delete(one, headers=admin.headers).status_code == 204
    assert client.delete(one, headers=admin.headers).status_code == 404
    assert len(client.get(_path(product["id"]), headers=admin.headers).json()) == 1


def test_an_os_needs_a_version_and_nothing_else_has_one(
    client: TestClient, admin: TenantAccess
) -> None:
    product = create_product(client, admin.headers, "Gateway")
    for body in (
        {"kind": "os", "sha256": "ab" * 32},
        {"kind": "agent", "sha256": "ab" * 32, "version": "26.11"},
        {"kind": "os", "sha256": "ab" * 32, "version": "latest"},
        {"kind": "app", "sha256": "zz" * 32},
        {"kind": "kernel", "sha256": "ab" * 32},
    ):
        response = client.post(_path(product["id"]), json=body, headers=admin.headers)
        assert_problem(response, 422, "validation-error")


def test_deleting_a_product_deletes_its_approved_measurements(
    client: TestClient, admin: TenantAccess
) -> None:
    product = create_product(client, admin.headers, "Gateway")
    approve(client, admin, product["id"], kind="app", sha256="cd" * 32)
    deleted = client.delete(f"{API}/products/{product['id']}", headers=admin.headers)
    assert deleted.status_code == 204, deleted.text
    gone = client.get(_path(product["id"]), headers=admin.headers)
    assert_problem(gone, 404, "not-found")


def test_attestation_history_is_only_for_the_devices_tenant(
    client: TestClient,
    admin: TenantAccess,
    other_tenant: TenantAccess,
    clock: ManualClock,
) -> None:
    attester = enrolled(client, admin, clock)
    body = evidence_body(
        attester.device_id,
        attester.device.evidence(nonce_for(client, attester.device_id)),
    )
    client.post(EVIDENCE, json=body)
    client.post(EVIDENCE, json=body)
    seen = history(client, admin, attester.device_id)
    assert [a["outcome"] for a in seen["attempts"]] == ["refused", "certified"]
    assert [e["reason"] for e in seen["events"]] == ["nonce-used"]
    foreign = client.get(
        f"{API}/devices/{attester.device_id}/attestations",
        headers=other_tenant.headers,
    )
    assert_problem(foreign, 404, "not-found")


def test_a_real_dice_key_store_attests_over_http(
    live_url: str, admin: TenantAccess, clock: ManualClock, tmp_path: Path
) -> None:
    software = running(apps=("app 1.0", "app 2.0"))
    state_dir = tmp_path / "device-state"
    DiceKeyStore.create(state_dir)
    store = DiceKeyStore.open(state_dir, software, clock=clock)
    with (
        httpx.Client(base_url=live_url) as device,
        httpx.Client(base_url=live_url, headers=admin.headers) as operator,
    ):
        registered = operator.post(
            f"{API}/manufacturing/device-registrations",
            json={"records": signed_records([store.device_id])},
        )
        assert registered.status_code == 200, registered.text
        product = operator.post(f"{API}/products", json={"name": "Gateway"}).json()
        groups = operator.get(
            f"{API}/device-groups", params={"product_id": product["id"]}
        ).json()
        operator.post(
            f"{API}/devices/{store.device_id}/claim",
            json={"device_group_id": groups[0]["id"]},
        ).raise_for_status()
        for kind, digest, version in (
            ("os", software.os_image_sha256, "26.11"),
            ("agent", software.agent_sha256, None),
            *(("app", app, None) for app in software.app_image_sha256s),
        ):
            operator.post(
                _path(product["id"]),
                json={"kind": kind, "sha256": digest.hex(), "version": version},
            ).raise_for_status()
        nonce = nonce_for(device, store.device_id)
        evidence = store.evidence(nonce, software)
        answer = device.post(EVIDENCE, json=evidence_body(store.device_id, evidence))
        assert answer.status_code == 200, answer.text
        leaf = x509.load_pem_x509_certificate(answer.json()["certificate"].encode())
        assert leaf.public_key() == store.public_key()
        chain = operator.get(f"{API}/ca-certificates/chain").text
        assert answer.json()["chain"] == chain
        replay = device.post(EVIDENCE, json=evidence_body(store.device_id, evidence))
        assert replay.json()["reason"] == "nonce-used"


_HEX = st.text("0123456789abcdef", min_size=0, max_size=70)
_B64 = st.text("ABCDEFabcdef0123456789+/=-_", min_size=0, max_size=200)
_JSON_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=50), _HEX, _B64
)


@st.composite
def _garbage_evidence(draw: st.DrawFn, device_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "device_id": draw(st.sampled_from([device_id, "00" * 64, "x"])),
        "nonce": draw(st.one_of(_B64, st.text(max_size=50))),
        "alias_certificate": draw(st.one_of(_B64, st.just("MAo="))),
        "measurements": draw(
            st.one_of(
                _JSON_VALUE,
                st.fixed_dictionaries(
                    {
                        "os_image_sha256": _HEX,
                        "agent_sha256": _HEX,
                        "app_image_sha256s": st.lists(_HEX, max_size=3),
                    }
                ),
            )
        ),
        "signature": draw(_B64),
    }
    drop = draw(st.sets(st.sampled_from(sorted(body)), max_size=2))
    extra = draw(st.dictionaries(st.text(max_size=5), _JSON_VALUE, max_size=2))
    return {**{k: v for k, v in body.items() if k not in drop}, **extra}


def test_garbage_evidence_never_gets_a_server_error(
    client: TestClient, admin: TenantAccess, clock: ManualClock
) -> None:
    attester = enrolled(client, admin, clock)

    @given(body=_garbage_evidence(attester.device_id))
    @settings(
        max_examples=150,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def submit(body: dict[str, Any]) -> None:
        response = client.post(EVIDENCE, json=body)
        assert response.status_code in {403, 422}, response.text
        assert "BEGIN CERTIFICATE" not in response.text

    submit()
    asked = client.post(NONCES, json={"device_id": "zz"})
    assert_problem(asked, 422, "validation-error")


def test_racing_replays_of_one_nonce_certify_once(
    live_url: str, admin: TenantAccess, clock: ManualClock, client: TestClient
) -> None:
    """Eight concurrent submissions of the same evidence: exactly one certificate."""
    attester = enrolled(client, admin, clock)
    body = evidence_body(
        attester.device_id,
        attester.device.evidence(nonce_for(client, attester.device_id)),
    )

    def submit(_: int) -> int:
        with httpx.Client(base_url=live_url) as device:
            return device.post(EVIDENCE, json=body).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(submit, range(8)))
    assert statuses == [200] + [403] * 7
