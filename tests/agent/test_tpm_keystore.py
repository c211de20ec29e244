"""The TPM key store against swtpm: keys made in the TPM, quotes, what never leaves.

The tests start swtpm themselves (``tests.support.swtpm``); with ``CI=true`` a
missing swtpm or tpm2-pytss fails the run instead of skipping it.
"""

import dataclasses
import inspect
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.swtpm import require_tpm_tools, swtpm

require_tpm_tools()

from sevenfold.agent.trusted.errors import (  # noqa: E402
    MeasurementsChangedError,
    ReservedMessageError,
    TpmKeysCorruptError,
    TpmKeysExistError,
    TpmKeysMissingError,
)
from sevenfold.agent.trusted.keystore import KeyStore  # noqa: E402
from sevenfold.agent.trusted.tpm_keystore import TpmKeyStore  # noqa: E402
from sevenfold.agent.trusted.tpm_objects import (  # noqa: E402
    ATTESTATION_FILE,
    IDENTITY_FILE,
)
from sevenfold.crypto.errors import (  # noqa: E402
    NonceMismatchError,
    PcrMismatchError,
    QuoteSignatureError,
    UnboundAttestationKeyError,
)
from sevenfold.crypto.tpm_quote import parse_quote, verify_tpm_evidence  # noqa: E402
from sevenfold.protocol.attestation import Evidence  # noqa: E402
from sevenfold.protocol.tpm_evidence import (  # noqa: E402
    ATTESTATION_KEY_DOMAIN,
    TpmEvidence,
    attestation_key_binding_bytes,
    measurement_pcr_value,
)
from tests.support.dice import NONCE, measurements  # noqa: E402
from tests.support.tpm_quotes import SoftwareTpm  # noqa: E402

SOFTWARE = measurements()
OTHER_NONCE = bytes(range(100, 132))
ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


@pytest.fixture(scope="session")
def tcti(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One swtpm for the session (a TPM holds few keys, so stores are closed)."""
    with swtpm(tmp_path_factory.mktemp("swtpm")) as address:
        yield address


@pytest.fixture
def state_dir(tmp_path: Path, tcti: str) -> Path:
    directory = tmp_path / "trusted"
    TpmKeyStore.create(directory, tcti=tcti)
    return directory


@pytest.fixture
def store(state_dir: Path, tcti: str) -> Iterator[TpmKeyStore]:
    with TpmKeyStore.open(state_dir, SOFTWARE, tcti=tcti) as opened:
        yield opened


def _verify(store: TpmKeyStore, evidence: TpmEvidence, nonce: bytes = NONCE) -> None:
    verify_tpm_evidence(
        evidence, registered_device_id=store.device_id, expected_nonce=nonce
    )


def test_quote_from_the_tpm_verifies_against_the_device_id(
    store: TpmKeyStore,
) -> None:
    keystore: KeyStore[TpmEvidence] = store
    anyone: KeyStore[Evidence | TpmEvidence] = store
    evidence = keystore.evidence(NONCE, SOFTWARE)
    assert anyone.device_id == store.device_id
    assert evidence.pcr_values == (measurement_pcr_value(SOFTWARE),)
    assert parse_quote(evidence.quoted).extra_data == NONCE
    assert (
        verify_tpm_evidence(
            evidence, registered_device_id=store.device_id, expected_nonce=NONCE
        )
        == SOFTWARE
    )


def test_sign_is_made_by_the_identity_key_in_the_tpm(store: TpmKeyStore) -> None:
    signature = store.sign(b"a certificate signing request")
    store.public_key().verify(signature, b"a certificate signing request", ECDSA_SHA256)
    assert len(store.device_id) == 128


def test_quote_with_another_nonce_is_refused(store: TpmKeyStore) -> None:
    replayed = store.evidence(OTHER_NONCE, SOFTWARE)
    with pytest.raises(NonceMismatchError):
        _verify(store, replayed)


def test_tampered_os_measurement_is_refused(tcti: str, state_dir: Path) -> None:
    rootkit = measurements(os_image=b"os with a rootkit")
    with TpmKeyStore.open(state_dir, rootkit, tcti=tcti) as store:
        evidence = store.evidence(NONCE, rootkit)
        claimed = replace(
            evidence,
            measurements=SOFTWARE,
            pcr_values=(measurement_pcr_value(SOFTWARE),),
        )
        with pytest.raises(PcrMismatchError):
            _verify(store, claimed)


def test_forged_quote_signature_is_refused(store: TpmKeyStore) -> None:
    old = store.evidence(OTHER_NONCE, SOFTWARE)
    # Rewrite the old quote's extraData (the nonce, after magic, type and the
    # qualifiedSigner TPM2B) to answer the new challenge; the AK never signed that.
    start = old.quoted.index(OTHER_NONCE)
    forged = old.quoted[:start] + NONCE + old.quoted[start + len(NONCE) :]
    binding = store.evidence(NONCE, SOFTWARE).attestation_key_binding
    with pytest.raises(QuoteSignatureError):
        _verify(
            store,
            replace(old, quoted=forged, nonce=NONCE, attestation_key_binding=binding),
        )


def test_attestation_key_not_bound_to_the_device_is_refused(
    store: TpmKeyStore,
) -> None:
    impostor = SoftwareTpm.generate()
    forged = impostor.evidence(NONCE, SOFTWARE)
    with pytest.raises(UnboundAttestationKeyError):
        _verify(store, forged)
    binding = attestation_key_binding_bytes(NONCE, forged.attestation_public_key)
    with pytest.raises(ReservedMessageError):
        store.sign(binding)
    with pytest.raises(ReservedMessageError):
        store.sign(ATTESTATION_KEY_DOMAIN)


def test_evidence_for_other_software_is_refused(store: TpmKeyStore) -> None:
    with pytest.raises(MeasurementsChangedError):
        store.evidence(NONCE, measurements(os_image=b"os 2.0"))


def _public_values(store: TpmKeyStore) -> list[object]:
    """Every value a public member yields: attributes, and the results of methods."""
    calls = {"sign": (b"data",), "evidence": (NONCE, SOFTWARE)}
    values: list[object] = []
    for name in dir(store):
        if name.startswith("_") or name == "close":
            continue
        member = getattr(store, name)
        if not inspect.ismethod(member):
            values.append(member)
        elif not inspect.signature(member).parameters or name in calls:
            values.append(member(*calls.get(name, ())))
    for value in list(values):
        if dataclasses.is_dataclass(value):
            values.extend(getattr(value, f.name) for f in dataclasses.fields(value))
    return values


def test_identity_key_never_leaves_the_tpm(state_dir: Path, store: TpmKeyStore) -> None:
    assert {n for n in dir(store) if not n.startswith("_")} == {
        "attestation_public_key",
        "close",
        "create",
        "device_id",
        "evidence",
        "open",
        "public_key",
        "sign",
    }
    assert not hasattr(store, "__dict__")
    for value in _public_values(store):
        assert not isinstance(value, ec.EllipticCurvePrivateKey)
        assert not hasattr(value, "private_numbers")
    for name in (IDENTITY_FILE, ATTESTATION_FILE):
        blob = (state_dir / name).read_bytes()
        for load in (
            serialization.load_der_private_key,
            serialization.load_pem_private_key,
        ):
            with pytest.raises((ValueError, TypeError)):
                load(blob, password=None)


def test_saved_keys_do_not_load_into_another_tpm(
    tmp_path: Path, state_dir: Path
) -> None:
    with (
        swtpm(tmp_path / "another-tpm") as other,
        pytest.raises(TpmKeysCorruptError),
    ):
        TpmKeyStore.open(state_dir, SOFTWARE, tcti=other)


def test_device_id_is_stable_across_restarts(tmp_path: Path) -> None:
    tpm_state, keys = tmp_path / "swtpm", tmp_path / "trusted"
    with swtpm(tpm_state) as address:
        TpmKeyStore.create(keys, tcti=address)
        with TpmKeyStore.open(keys, SOFTWARE, tcti=address) as store:
            before = store.device_id
    with (
        swtpm(tpm_state) as address,
        TpmKeyStore.open(keys, SOFTWARE, tcti=address) as store,
    ):
        assert store.device_id == before
        _verify(store, store.evidence(NONCE, SOFTWARE))


def test_keys_are_never_replaced(state_dir: Path, tcti: str) -> None:
    before = (state_dir / IDENTITY_FILE).read_bytes()
    with pytest.raises(TpmKeysExistError):
        TpmKeyStore.create(state_dir, tcti=tcti)
    assert (state_dir / IDENTITY_FILE).read_bytes() == before


def test_missing_keys_are_reported(tmp_path: Path, tcti: str) -> None:
    with pytest.raises(TpmKeysMissingError):
        TpmKeyStore.open(tmp_path, SOFTWARE, tcti=tcti)


def test_corrupt_key_blob_is_refused(state_dir: Path, tcti: str) -> None:
    (state_dir / IDENTITY_FILE).write_bytes(b"\x00\x05junk")
    with pytest.raises(TpmKeysCorruptError):
        TpmKeyStore.open(state_dir, SOFTWARE, tcti=tcti)
