"""The DICE Alias certificate: issued by the DeviceID key, checked by the service.

The Alias certificate binds the Alias public key to the measurements it was derived
from, in a tcg-dice-TcbInfo extension (TCG DICE Attestation Architecture, OID
2.23.133.5.4.1). FWIDs are ordered: the OS image, the agent, then each app image.
The DeviceID key has no certificate of its own here: its public key is the device ID
registered with the service, so that registration is the trust anchor.
"""

import warnings
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

from sevenfold.crypto.device_ids import device_id_of, public_key_of
from sevenfold.crypto.dice_derivation import kdf
from sevenfold.crypto.errors import (
    CertificateNotValidNowError,
    MalformedCertificateError,
    TcbInfoDecodeError,
    UntrustedAliasCertificateError,
)
from sevenfold.crypto.tcb_info import (
    SHA256_OID,
    TCG_DICE_TCB_INFO_OID,
    Fwid,
    TcbInfo,
    decode_tcb_info,
    encode_tcb_info,
)
from sevenfold.protocol.attestation import Measurements

TCB_VENDOR = "Sevenfold"
TCB_MODEL = "software-dice"
ALIAS_LAYER = 1
# open-dice docs/specification.md: the salt for certificate IDs, which name the
# subject and issuer and give the serial number.
ID_SALT = bytes.fromhex(
    "DBDBAEBC8020DA9FF0DD5A24C83AA5A54286DFC263031E329B4DA148430659FE"
    "62CDB5B7E1E00FC680306711EB444AF77209359496FCFF1DB9520BA51C7B29EA"
)
_TCB_INFO_OID = x509.ObjectIdentifier(TCG_DICE_TCB_INFO_OID)


@dataclass(frozen=True, slots=True, kw_only=True)
class AttestedTcb:
    """What a verified Alias certificate proves about a registered device."""

    device_id: str
    alias_public_key: ec.EllipticCurvePublicKey
    measurements: Measurements
    tcb_info: TcbInfo
    not_valid_after: datetime


def certificate_id(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """Return open-dice's 20-byte ID of a public key: KDF(20, key, ID_SALT, "ID")."""
    point = public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return kdf(20, point, ID_SALT, b"ID")


def tcb_info_of(measurements: Measurements) -> TcbInfo:
    """Return the TcbInfo an Alias certificate carries for ``measurements``."""
    digests = (
        measurements.os_image_sha256,
        measurements.agent_sha256,
        *measurements.app_image_sha256s,
    )
    return TcbInfo(
        vendor=TCB_VENDOR,
        model=TCB_MODEL,
        layer=ALIAS_LAYER,
        fwids=tuple(Fwid(hash_algorithm=SHA256_OID, digest=d) for d in digests),
    )


def measurements_of(tcb_info: TcbInfo) -> Measurements:
    """Return the measurements a TcbInfo from ``tcb_info_of`` holds.

    Raises:
        MalformedCertificateError: the FWIDs are not SHA-256 OS, agent and app digests.
    """
    fwids = tcb_info.fwids or ()
    if len(fwids) < 2 or any(f.hash_algorithm != SHA256_OID for f in fwids):
        raise MalformedCertificateError("the TcbInfo lacks SHA-256 OS and agent FWIDs")
    try:
        return Measurements(
            os_image_sha256=fwids[0].digest,
            agent_sha256=fwids[1].digest,
            app_image_sha256s=tuple(f.digest for f in fwids[2:]),
        )
    except ValueError as err:
        raise MalformedCertificateError(
            f"the TcbInfo FWIDs are unusable: {err}"
        ) from err


def issue_alias_certificate(
    *,
    device_id_key: ec.EllipticCurvePrivateKey,
    alias_public_key: ec.EllipticCurvePublicKey,
    measurements: Measurements,
    not_before: datetime,
    not_after: datetime,
) -> bytes:
    """Return the DER Alias certificate, signed by the DeviceID key."""
    issuer_id = certificate_id(device_id_key.public_key()).hex()
    subject_id = certificate_id(alias_public_key)
    # open-dice names subject and issuer by the hex ID in a serialNumber attribute
    # and derives the serial number from the subject ID (made positive here).
    serial = int.from_bytes(bytes([subject_id[0] & 0x7F]) + subject_id[1:], "big") or 1
    builder = (
        x509.CertificateBuilder()
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.SERIAL_NUMBER, issuer_id)]))
        .subject_name(
            x509.Name([x509.NameAttribute(NameOID.SERIAL_NUMBER, subject_id.hex())])
        )
        .public_key(alias_public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                device_id_key.public_key()
            ),
            critical=False,
        )
        # Critical, as the TCG DICE Attestation Architecture asks: a verifier that
        # cannot read the measurements must not accept the certificate.
        .add_extension(
            x509.UnrecognizedExtension(
                _TCB_INFO_OID, encode_tcb_info(tcb_info_of(measurements))
            ),
            critical=True,
        )
    )
    certificate = builder.sign(device_id_key, hashes.SHA256())
    return certificate.public_bytes(serialization.Encoding.DER)


def verify_alias_chain(
    alias_cert_der: bytes, expected_device_id: str, now: datetime
) -> AttestedTcb:
    """Check an Alias certificate against a registered device ID and return its TCB.

    Raises:
        InvalidDeviceIdError: ``expected_device_id`` is malformed.
        MalformedCertificateError: not a P-256 ECDSA-SHA256 certificate with a
            decodable TcbInfo holding the measurements.
        UntrustedAliasCertificateError: not signed by the registered DeviceID key.
        CertificateNotValidNowError: ``now`` is outside the validity period.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    device_key = public_key_of(expected_device_id)
    certificate = _load(alias_cert_der)
    if certificate.signature_algorithm_oid != SignatureAlgorithmOID.ECDSA_WITH_SHA256:
        raise UntrustedAliasCertificateError(
            "the Alias certificate is not ECDSA-SHA256"
        )
    try:
        device_key.verify(
            certificate.signature,
            certificate.tbs_certificate_bytes,
            ec.ECDSA(hashes.SHA256()),
        )
    except InvalidSignature as err:
        raise UntrustedAliasCertificateError(
            "the Alias certificate is not signed by the registered device"
        ) from err
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise CertificateNotValidNowError("the Alias certificate is not valid now")
    try:
        alias_public_key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm) as err:
        raise MalformedCertificateError("the Alias key cannot be read") from err
    if not isinstance(alias_public_key, ec.EllipticCurvePublicKey) or not isinstance(
        alias_public_key.curve, ec.SECP256R1
    ):
        raise MalformedCertificateError("the Alias key is not a P-256 key")
    tcb_info = _tcb_info(certificate)
    return AttestedTcb(
        device_id=device_id_of(device_key),
        alias_public_key=alias_public_key,
        measurements=measurements_of(tcb_info),
        tcb_info=tcb_info,
        not_valid_after=certificate.not_valid_after_utc,
    )


def _load(der: bytes) -> x509.Certificate:
    try:
        with warnings.catch_warnings():
            # cryptography only warns about a serial that is zero or negative
            # (RFC 5280 4.1.2.2 requires a positive one); we refuse such a certificate.
            warnings.simplefilter("error", CryptographyDeprecationWarning)
            certificate = x509.load_der_x509_certificate(der)
            # Parsing is lazy: touch the fields the checks below rely on.
            _ = (certificate.signature_algorithm_oid, certificate.extensions)
            _ = certificate.not_valid_after_utc
    except (ValueError, x509.DuplicateExtension, CryptographyDeprecationWarning) as err:
        raise MalformedCertificateError(
            "the Alias certificate is not DER X.509"
        ) from err
    return certificate


def _tcb_info(certificate: x509.Certificate) -> TcbInfo:
    try:
        extension = certificate.extensions.get_extension_for_oid(_TCB_INFO_OID)
    except x509.ExtensionNotFound as err:
        raise MalformedCertificateError("the Alias certificate has no TcbInfo") from err
    value = extension.value
    if not isinstance(value, x509.UnrecognizedExtension):
        raise MalformedCertificateError("the TcbInfo extension is not raw DER")
    try:
        return decode_tcb_info(value.value)
    except TcbInfoDecodeError as err:
        raise MalformedCertificateError(f"the TcbInfo is malformed: {err}") from err
