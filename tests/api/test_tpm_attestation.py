"""TPM attestation over the API with a real TPM (swtpm): each test is named after the
attack it stops. The TPM key store makes the evidence; ``/tpm-evidence`` checks it
with the same nonce, standing and approval checks as DICE evidence.

With ``CI=true`` a missing swtpm or tpm2-pytss fails the run instead of skipping it.
"""

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import PolicyBuilder, Store
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.support.swtpm import require_tpm_tools, swtpm

require_tpm_tools()

from sevenfold.agent.trusted.tpm_keystore import TpmKeyStore  # noqa: E402
from sevenfold.protocol.attestation import (  # noqa: E402
    ATTESTED_OS_VERSION_OID,
    encode_os_version,
)
from sevenfold.protocol.clock import ManualClock  # noqa: E402
from sevenfold.protocol.tpm_evidence import attestation_key_binding_bytes  # noqa: E402
from tests.api.attestation_support import (  # noqa: E402
    EVIDENCE,
    OS_VERSION,
    TPM_EVIDENCE,
    assert_refused,
    digest,
    enroll,
    history,
    nonce_for,
    recorded,
    running,
    tpm_evidence_body,
)
from tests.conftest import TenantAccess  # noqa: E402

SOFTWARE = running()
POINT = (serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


@pytest.fixture(scope="module")
def tcti(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One swtpm for the module (a TPM holds few keys, so stores are closed)."""
    with swtpm(tmp_path_factory.mktemp("swtpm")) as address:
        yield address


def _open(directory: Path, tcti: str) -> TpmKeyStore:
    TpmKeyStore.create(directory, tcti=tcti)
    return TpmKeyStore.open(directory, SOFTWARE, tcti=tcti)


@pytest.fixture
def store(tmp_path: Path, tcti: str) -> Iterator[TpmKeyStore]:
    with _open(tmp_path / "device", tcti) as opened:
        yield opened


def _enrolled(client: TestClient, admin: TenantAccess, store: TpmKeyStore) -> str:
    enroll(client, admin, store.device_id, SOFTWARE)
    return store.device_id


def test_tpm_device_gets_a_certificate_for_its_identity_key(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    store: TpmKeyStore,
) -> None:
    device_id = _enrolled(client, admin, store)
    evidence = store.evidence(nonce_for(client, device_id), SOFTWARE)
    response = client.post(TPM_EVIDENCE, json=tpm_evidence_body(device_id, evidence))
    assert response.status_code == 200, response.text
    body = response.json()
    leaf = x509.load_pem_x509_certificate(body["certificate"].encode())
    roots = x509.load_pem_x509_certificates(body["chain"].encode())
    verifier = (
        PolicyBuilder().store(Store(roots)).time(clock.now()).build_client_verifier()
    )
    verified = verifier.verify(leaf, [])
    assert verified.subjects == [
        x509.UniformResourceIdentifier(f"urn:sevenfold:device:{device_id}")
    ]
    assert leaf.public_key().public_bytes(*POINT) == store.public_key().public_bytes(
        *POINT
    )
    version = leaf.extensions.get_extension_for_oid(
        x509.ObjectIdentifier(ATTESTED_OS_VERSION_OID)
    ).value
    assert isinstance(version, x509.UnrecognizedExtension)
    assert version.value == encode_os_version(OS_VERSION)
    assert recorded(app, device_id) == [("certified", None)]
    assert history(client, admin, device_id)["attempts"][0]["os_version"] == OS_VERSION


def test_tpm_quote_for_a_replayed_nonce_is_refused(
    app: FastAPI, client: TestClient, admin: TenantAccess, store: TpmKeyStore
) -> None:
    device_id = _enrolled(client, admin, store)
    body = tpm_evidence_body(
        device_id, store.evidence(nonce_for(client, device_id), SOFTWARE)
    )
    assert client.post(TPM_EVIDENCE, json=body).status_code == 200
    assert_refused(app, client.post(TPM_EVIDENCE, json=body), device_id, "nonce-used")
    assert recorded(app, device_id) == [("certified", None), ("refused", "nonce-used")]


def test_tpm_quote_for_a_nonce_never_issued_is_refused(
    app: FastAPI, client: TestClient, admin: TenantAccess, store: TpmKeyStore
) -> None:
    device_id = _enrolled(client, admin, store)
    body = tpm_evidence_body(device_id, store.evidence(bytes(range(32)), SOFTWARE))
    response = client.post(TPM_EVIDENCE, json=body)
    assert_refused(app, response, device_id, "unknown-nonce")


def test_tpm_quote_with_a_tampered_measurement_is_refused(
    app: FastAPI, client: TestClient, admin: TenantAccess, store: TpmKeyStore
) -> None:
    """The device runs unapproved software but reports the approved OS digest."""
    device_id = _enrolled(client, admin, store)
    evidence = store.evidence(nonce_for(client, device_id), SOFTWARE)
    body = tpm_evidence_body(device_id, evidence)
    body["measurements"]["os_image_sha256"] = digest("os 26.11.2").hex()
    response = client.post(TPM_EVIDENCE, json=body)
    assert_refused(app, response, device_id, "measurement-mismatch")
    # Reporting the PCR value to match the lie does not help: the quote covers it.
    replayed = dataclasses.replace(
        store.evidence(nonce_for(client, device_id), SOFTWARE),
        measurements=running(os="os 26.11.2"),
    )
    response = client.post(TPM_EVIDENCE, json=tpm_evidence_body(device_id, replayed))
    assert_refused(app, response, device_id, "measurement-mismatch")


def test_tpm_attestation_key_not_bound_to_the_device_is_refused(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    store: TpmKeyStore,
    tmp_path: Path,
) -> None:
    """Another TPM's quote (its own AK, vouched for by its own identity key), and a
    software AK with the device's genuine binding of its real AK: both refused."""
    device_id = _enrolled(client, admin, store)
    with (
        swtpm(tmp_path / "attacker-tpm") as other_tpm,
        _open(tmp_path / "attacker", other_tpm) as attacker,
    ):
        theirs = attacker.evidence(nonce_for(client, device_id), SOFTWARE)
    response = client.post(TPM_EVIDENCE, json=tpm_evidence_body(device_id, theirs))
    assert_refused(app, response, device_id, "bad-chain")
    genuine = store.evidence(nonce_for(client, device_id), SOFTWARE)
    forger = ec.generate_private_key(ec.SECP256R1())
    forged = dataclasses.replace(
        genuine,
        attestation_public_key=forger.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        signature=forger.sign(genuine.quoted, ec.ECDSA(hashes.SHA256())),
    )
    assert forged.binding_bytes() != attestation_key_binding_bytes(
        genuine.nonce, genuine.attestation_public_key
    )
    response = client.post(TPM_EVIDENCE, json=tpm_evidence_body(device_id, forged))
    assert_refused(app, response, device_id, "bad-chain")
    assert [reason for _, reason in recorded(app, device_id)] == ["bad-chain"] * 2


def test_tpm_quote_sent_as_dice_evidence_is_refused(
    app: FastAPI, client: TestClient, admin: TenantAccess, store: TpmKeyStore
) -> None:
    """Each route takes one kind of evidence; a mixed body is a 422, not a guess."""
    device_id = _enrolled(client, admin, store)
    evidence = store.evidence(nonce_for(client, device_id), SOFTWARE)
    tpm_body = tpm_evidence_body(device_id, evidence)
    assert client.post(EVIDENCE, json=tpm_body).status_code == 422
    dice_body = {
        key: tpm_body[key]
        for key in ("device_id", "nonce", "measurements", "signature")
    } | {"alias_certificate": tpm_body["quoted"]}
    assert client.post(TPM_EVIDENCE, json=dice_body).status_code == 422
    assert recorded(app, device_id) == []
