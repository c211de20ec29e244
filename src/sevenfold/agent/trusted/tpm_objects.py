"""TPM objects for the ``tpm`` key store: templates, key blobs, loading, measuring.

Key blobs are a key's TPM2B_PUBLIC then its TPM2B_PRIVATE (Part 2, 12.2.5 and
12.3.7), as TPM2_Create returned them. The private part is encrypted and
integrity-protected by the storage root key's seed-derived secrets, so a blob loads
only into the TPM that made it.
"""

import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from tpm2_pytss import (
    ESAPI,
    ESYS_TR,
    TPM2_ALG,
    TPM2B_PRIVATE,
    TPM2B_PUBLIC,
    TPMA_OBJECT,
    TPML_DIGEST_VALUES,
    TPMT_HA,
    TPMT_PUBLIC,
    TPMU_HA,
    TSS2_Exception,
)

from sevenfold.agent.trusted.errors import (
    TpmError,
    TpmKeysCorruptError,
    TpmKeysExistError,
    TpmKeysMissingError,
)
from sevenfold.protocol.attestation import Measurements
from sevenfold.protocol.tpm_evidence import MEASUREMENT_PCR, measurement_events

IDENTITY_FILE = "identity.tpmkey"
ATTESTATION_FILE = "attestation.tpmkey"
MAX_BLOB_BYTES = 4096
PCR_SELECTION = f"sha256:{MEASUREMENT_PCR}"
PCR_HANDLE = ESYS_TR(MEASUREMENT_PCR)  # ESYS_TR.PCR0..PCR31 are 0..31
KEY_ATTRIBUTES = (
    TPMA_OBJECT.FIXEDTPM
    | TPMA_OBJECT.FIXEDPARENT
    | TPMA_OBJECT.SENSITIVEDATAORIGIN
    | TPMA_OBJECT.USERWITHAUTH
)
# The SRK: a restricted decryption key that only wraps its children (Part 1, 27.2).
SRK_TEMPLATE = (
    "ecc256:null:aes128cfb",
    KEY_ATTRIBUTES | TPMA_OBJECT.RESTRICTED | TPMA_OBJECT.DECRYPT | TPMA_OBJECT.NODA,
)
IDENTITY_TEMPLATE = (
    "ecc256:ecdsa-sha256:null",
    KEY_ATTRIBUTES | TPMA_OBJECT.SIGN_ENCRYPT,
)
ATTESTATION_TEMPLATE = (
    "ecc256:ecdsa-sha256:null",
    KEY_ATTRIBUTES | TPMA_OBJECT.SIGN_ENCRYPT | TPMA_OBJECT.RESTRICTED,
)


def template(spec: tuple[str, Any]) -> Any:
    return TPM2B_PUBLIC(TPMT_PUBLIC.parse(alg=spec[0], objectAttributes=spec[1]))


def connect(tcti: str) -> Any:
    try:
        return ESAPI(tcti)
    except TSS2_Exception as err:
        raise TpmError(f"cannot reach the TPM at {tcti!r}: {err}") from err


def storage_root(tpm: Any) -> Any:
    handle, *_ = tpm.create_primary(None, template(SRK_TEMPLATE), ESYS_TR.OWNER)
    return handle


def public_key_of_blob(public: Any) -> ec.EllipticCurvePublicKey:
    area = public.publicArea
    if area.type != TPM2_ALG.ECC:
        raise TpmKeysCorruptError("a saved key is not an elliptic-curve key")
    point = area.unique.ecc
    return ec.EllipticCurvePublicNumbers(
        int.from_bytes(bytes(point.x), "big"),
        int.from_bytes(bytes(point.y), "big"),
        ec.SECP256R1(),
    ).public_key()


def der_signature(signature: Any) -> bytes:
    """Return a TPMT_SIGNATURE's ECDSA r, s (Part 2, 11.3.1) as a DER signature."""
    ecdsa = signature.signature.ecdsa
    return encode_dss_signature(
        int.from_bytes(bytes(ecdsa.signatureR), "big"),
        int.from_bytes(bytes(ecdsa.signatureS), "big"),
    )


def write_blob(path: Path, public: Any, private: Any) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(
        temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(bytes(public.marshal()) + bytes(private.marshal()))
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)
    except FileExistsError as err:
        raise TpmKeysExistError(f"{path} exists; TPM keys are never replaced") from err
    finally:
        temporary.unlink(missing_ok=True)


def read_blob(path: Path) -> tuple[Any, Any]:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BLOB_BYTES + 1)
    except FileNotFoundError as err:
        raise TpmKeysMissingError(f"no TPM key at {path}") from err
    if len(data) > MAX_BLOB_BYTES:
        raise TpmKeysCorruptError(f"{path} is not a TPM key blob")
    try:
        public, used = TPM2B_PUBLIC.unmarshal(data)
        private, rest = TPM2B_PRIVATE.unmarshal(data[used:])
    except (TSS2_Exception, ValueError, TypeError) as err:
        raise TpmKeysCorruptError(f"{path} is not a TPM key blob") from err
    if used + rest != len(data):
        raise TpmKeysCorruptError(f"{path} has trailing bytes")
    return public, private


def load_keys(tpm: Any, blobs: list[tuple[Any, Any]], state_dir: Path) -> list[Any]:
    handles: list[Any] = []
    try:
        root = storage_root(tpm)
    except TSS2_Exception as err:
        raise TpmError(f"the TPM refused to make its storage root key: {err}") from err
    try:
        for public, private in blobs:
            handles.append(tpm.load(root, private, public))
    except TSS2_Exception as err:
        for handle in handles:
            tpm.flush_context(handle)
        raise TpmKeysCorruptError(
            f"the keys in {state_dir} cannot be loaded into this TPM: {err}"
        ) from err
    finally:
        # Loaded children stay usable without their parent; free the TPM's slot.
        tpm.flush_context(root)
    return handles


def measure(tpm: Any, measurements: Measurements) -> None:
    """Reset the measurement PCR and extend the measurements into it, in order."""
    tpm.pcr_reset(PCR_HANDLE)
    for digest in measurement_events(measurements):
        value = TPMT_HA(hashAlg=TPM2_ALG.SHA256, digest=TPMU_HA(sha256=digest))
        tpm.pcr_extend(PCR_HANDLE, TPML_DIGEST_VALUES([value]))


def unload(tpm: Any, handles: list[Any]) -> None:
    try:
        for handle in handles:
            tpm.flush_context(handle)
    finally:
        tpm.close()
