"""The ``tpm`` key store: device keys made and kept inside a TPM 2.0, via tpm2-pytss.

``create`` asks the TPM for two P-256 keys under its storage root key (SRK, a
primary key the TPM re-derives from its owner seed, so it is never stored):

* the identity key, an unrestricted signing key: its public key is the device ID
  and it makes ``sign``'s signatures;
* the attestation key (AK), a restricted signing key: it signs only structures the
  TPM generated (Part 1, 25.2.4), so a quote it signed was made by the TPM.

Both are fixedTPM, fixedParent and sensitiveDataOrigin (Part 2, 8.3): the TPM made
their private parts and will not export them. The state directory keeps each key's
TPM2B_PUBLIC and TPM2B_PRIVATE; the private part is wrapped by the SRK, a secret
of this TPM only, so the files are useless anywhere else.

``open`` loads the keys and measures the software: it resets the measurement PCR
and extends the measurements into it (``sevenfold.protocol.tpm_evidence``), as a
measured boot would. ``evidence`` is a TPM2_Quote over that PCR with the service's
nonce as qualifying data, plus the identity key's signature vouching for the AK.

The hierarchies are assumed to have empty authorization values, as a TPM fresh
from the factory (and swtpm) has.
"""

import hashlib
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tpm2_pytss import (
    TPM2_ALG,
    TPM2_RH,
    TPM2_ST,
    TPM2B_DIGEST,
    TPMS_SCHEME_HASH,
    TPMT_SIG_SCHEME,
    TPMT_TK_HASHCHECK,
    TPMU_SIG_SCHEME,
    TSS2_Exception,
)

from sevenfold.agent.trusted.errors import (
    MeasurementsChangedError,
    ReservedMessageError,
    TpmError,
    TpmKeysExistError,
)
from sevenfold.agent.trusted.tpm_objects import (
    ATTESTATION_FILE,
    ATTESTATION_TEMPLATE,
    IDENTITY_FILE,
    IDENTITY_TEMPLATE,
    PCR_SELECTION,
    connect,
    der_signature,
    load_keys,
    measure,
    public_key_of_blob,
    read_blob,
    storage_root,
    template,
    unload,
    write_blob,
)
from sevenfold.crypto.device_ids import device_id_of
from sevenfold.protocol.attestation import Measurements, check_nonce
from sevenfold.protocol.tpm_evidence import (
    ATTESTATION_KEY_DOMAIN,
    MEASUREMENT_PCR,
    TpmEvidence,
    attestation_key_binding_bytes,
)


class TpmKeyStore:
    """A ``KeyStore`` whose keys live in a TPM 2.0 and never leave it."""

    __slots__ = (
        "__tpm",
        "_attestation",
        "_attestation_public_key",
        "_device_id",
        "_identity",
        "_identity_public_key",
        "_measurements",
    )

    def __init__(
        self, *, tpm: Any, identity: Any, attestation: Any, measurements: Measurements
    ) -> None:
        self.__tpm = tpm
        self._identity, identity_public = identity
        self._attestation, attestation_public = attestation
        self._identity_public_key = public_key_of_blob(identity_public)
        self._attestation_public_key = public_key_of_blob(
            attestation_public
        ).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self._device_id = device_id_of(self._identity_public_key)
        self._measurements = measurements

    @classmethod
    def create(cls, state_dir: Path, *, tcti: str) -> None:
        """Have the TPM make the identity key and the AK; save their wrapped blobs.

        Raises:
            TpmKeysExistError: the directory already holds TPM keys.
            TpmError: the TPM cannot be reached or refused to make the keys.
        """
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        targets = (state_dir / IDENTITY_FILE, state_dir / ATTESTATION_FILE)
        if any(target.exists() or target.is_symlink() for target in targets):
            raise TpmKeysExistError(f"{state_dir} holds TPM keys; they are kept")
        tpm = connect(tcti)
        try:
            root = storage_root(tpm)
            for target, spec in zip(
                targets, (IDENTITY_TEMPLATE, ATTESTATION_TEMPLATE), strict=True
            ):
                private, public, *_ = tpm.create(root, None, template(spec))
                write_blob(target, public, private)
            tpm.flush_context(root)
        except TSS2_Exception as err:
            raise TpmError(f"the TPM refused to make the keys: {err}") from err
        finally:
            tpm.close()

    @classmethod
    def open(cls, state_dir: Path, measurements: Measurements, *, tcti: str) -> Self:
        """Load the device's keys into the TPM and measure ``measurements``.

        Raises:
            TpmKeysMissingError: ``create`` has not been run for this directory.
            TpmKeysCorruptError: a blob is malformed or belongs to another TPM.
            TpmError: the TPM cannot be reached or refused a command.
        """
        blobs = [
            read_blob(state_dir / name) for name in (IDENTITY_FILE, ATTESTATION_FILE)
        ]
        tpm = connect(tcti)
        try:
            handles = load_keys(tpm, blobs, state_dir)
        except BaseException:
            tpm.close()
            raise
        try:
            measure(tpm, measurements)
        except TSS2_Exception as err:
            unload(tpm, handles)
            raise TpmError(f"the TPM refused to measure: {err}") from err
        return cls(
            tpm=tpm,
            identity=(handles[0], blobs[0][0]),
            attestation=(handles[1], blobs[1][0]),
            measurements=measurements,
        )

    def close(self) -> None:
        """Unload the keys from the TPM and close the connection."""
        unload(self.__tpm, [self._identity, self._attestation])

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def device_id(self) -> str:
        """The device ID: hex X||Y of the identity key's public key."""
        return self._device_id

    @property
    def attestation_public_key(self) -> bytes:
        """The AK's DER SubjectPublicKeyInfo."""
        return self._attestation_public_key

    def public_key(self) -> ec.EllipticCurvePublicKey:
        """Return the identity public key, which verifies ``sign``."""
        return self._identity_public_key

    def sign(self, data: bytes) -> bytes:
        """Return the TPM's ECDSA P-256 SHA-256 signature (DER) by the identity key.

        Raises:
            ReservedMessageError: ``data`` is in the attestation-key domain; only
                ``evidence`` vouches for an AK, so ``sign`` cannot bind another key.
            TpmError: the TPM refused to sign.
        """
        if data.startswith(ATTESTATION_KEY_DOMAIN):
            raise ReservedMessageError("attestation keys are vouched for by evidence()")
        return self.__sign(data)

    def __sign(self, data: bytes) -> bytes:
        scheme = TPMT_SIG_SCHEME(
            scheme=TPM2_ALG.ECDSA,
            details=TPMU_SIG_SCHEME(ecdsa=TPMS_SCHEME_HASH(hashAlg=TPM2_ALG.SHA256)),
        )
        # A null ticket (Part 2, 10.7.6): the key is unrestricted, so the TPM need
        # not have hashed the message itself.
        ticket = TPMT_TK_HASHCHECK(tag=TPM2_ST.HASHCHECK, hierarchy=TPM2_RH.NULL)
        digest = TPM2B_DIGEST(hashlib.sha256(data).digest())
        try:
            signature = self.__tpm.sign(self._identity, digest, scheme, ticket)
        except TSS2_Exception as err:
            raise TpmError(f"the TPM refused to sign: {err}") from err
        return der_signature(signature)

    def evidence(self, nonce: bytes, measurements: Measurements) -> TpmEvidence:
        """Return a TPM quote over the measurement PCR for ``nonce``.

        Raises:
            MeasurementsChangedError: the PCR holds other measurements; reopen the
                key store after a software update.
            ValueError: the nonce is not 16 to 64 bytes.
            TpmError: the TPM refused to quote.
        """
        if measurements != self._measurements:
            raise MeasurementsChangedError("the PCR holds other measurements")
        check_nonce(nonce)
        try:
            quoted, signature = self.__tpm.quote(
                self._attestation,
                PCR_SELECTION,
                nonce,
                TPMT_SIG_SCHEME(scheme=TPM2_ALG.NULL),
            )
            _, _, values = self.__tpm.pcr_read(PCR_SELECTION)
        except TSS2_Exception as err:
            raise TpmError(f"the TPM refused to quote: {err}") from err
        return TpmEvidence(
            # TPM2B_ATTEST is a u16 size, then the TPMS_ATTEST (Part 2, 10.12.13).
            quoted=bytes(quoted.marshal())[2:],
            signature=der_signature(signature),
            attestation_public_key=self._attestation_public_key,
            attestation_key_binding=self.__sign(
                attestation_key_binding_bytes(nonce, self._attestation_public_key)
            ),
            pcr_indices=(MEASUREMENT_PCR,),
            pcr_values=tuple(bytes(value) for value in values.digests),
            measurements=measurements,
            nonce=nonce,
        )
