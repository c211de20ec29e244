"""Errors raised by the crypto package.

CryptoError
├── InvalidDeviceIdError            the text is not a P-256 public key in device-ID form
├── DerDecodeError                  bytes are not the strict DER the decoder expects
│   └── TcbInfoDecodeError          a tcg-dice-TcbInfo extension is malformed
├── AttestationError                evidence or an Alias certificate is refused
│   ├── MalformedCertificateError       the Alias certificate is not usable
│   ├── UntrustedAliasCertificateError  not signed by the registered DeviceID key
│   ├── CertificateNotValidNowError     outside its validity period
│   ├── MeasurementsMismatchError       signed measurements differ from the TcbInfo
│   ├── EvidenceSignatureError          the Alias key did not sign the evidence
│   ├── NonceMismatchError              not an answer to the challenge that was sent
│   ├── UnboundAttestationKeyError      the TPM AK is not vouched for by the DeviceID
│   ├── MalformedQuoteError             a TPMS_ATTEST or AK public key is unparsable
│   ├── NotAQuoteError                  not a TPM-generated PCR quote (magic, type)
│   ├── QuoteSignatureError             the AK did not sign the quote
│   └── PcrMismatchError                quoted PCRs differ from the measurements' replay
├── RegistrationRecordError         a factory registration record is refused
│   ├── UntrustedManufacturerKeyError   signed by a key the service does not trust
│   └── RegistrationSignatureError      the signature does not verify (forged, altered)
├── InvalidManufacturerKeyError     not an Ed25519 manufacturer key
├── InvalidImageSigningKeyError     not an Ed25519 image-signing key (or bad passphrase)
├── ImageSignatureError             the key did not sign this image manifest
├── DeviceCertificateError          a device client certificate is refused (``reason``)
└── CapabilityRefusedError          a capability grant is for another device or unsigned
"""


class CryptoError(Exception):
    """Base of every crypto failure."""


class InvalidDeviceIdError(CryptoError, ValueError):
    """The text is not 128 hex characters naming a point on P-256."""


class DerDecodeError(CryptoError, ValueError):
    """The bytes are not well-formed DER of the expected shape."""


class TcbInfoDecodeError(DerDecodeError):
    """A DiceTcbInfo (TCG DICE Attestation Architecture) cannot be decoded."""


class AttestationError(CryptoError):
    """Evidence is refused; the device has not proven what it runs."""


class MalformedCertificateError(AttestationError):
    """The Alias certificate cannot be parsed or lacks what DICE requires of it."""


class UntrustedAliasCertificateError(AttestationError):
    """The Alias certificate is not signed by the registered DeviceID key."""


class CertificateNotValidNowError(AttestationError):
    """The Alias certificate has expired or is not yet valid."""


class MeasurementsMismatchError(AttestationError):
    """The measurements in the evidence differ from those the DeviceID certified."""


class EvidenceSignatureError(AttestationError):
    """The evidence signature was not made by the certified Alias key."""


class NonceMismatchError(AttestationError):
    """The evidence answers another challenge (a replay)."""


class UnboundAttestationKeyError(AttestationError):
    """The TPM attestation key is not vouched for by the registered DeviceID key."""


class MalformedQuoteError(AttestationError):
    """A TPMS_ATTEST or an attestation public key cannot be parsed."""


class NotAQuoteError(AttestationError):
    """The structure is not TPM-generated (magic) or not a PCR quote (type)."""


class QuoteSignatureError(AttestationError):
    """The quote signature was not made by the attestation key."""


class PcrMismatchError(AttestationError):
    """The quoted PCRs differ from the replay of the reported measurements."""


class RegistrationRecordError(CryptoError):
    """A registration record is refused; ``reason`` is a stable, client-safe word."""

    reason = "invalid-record"


class UntrustedManufacturerKeyError(RegistrationRecordError):
    """The record names a manufacturer key the verifier does not trust."""

    reason = "unknown-manufacturer-key"


class RegistrationSignatureError(RegistrationRecordError):
    """The trusted manufacturer key did not sign this record (forged or altered)."""

    reason = "bad-signature"


class InvalidManufacturerKeyError(CryptoError, ValueError):
    """The text is not an Ed25519 public (or encrypted private) manufacturer key."""


class InvalidImageSigningKeyError(CryptoError, ValueError):
    """The text is not an Ed25519 public (or encrypted private) image-signing key."""


class ImageSignatureError(CryptoError):
    """The image-signing key did not sign this manifest (forged or altered)."""


class DeviceCertificateError(CryptoError):
    """A device's TLS client certificate is refused; ``reason`` is client-safe."""

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__(detail)
        self.reason = reason


class CapabilityRefusedError(CryptoError):
    """A capability grant was made for another device or no tenant CA signed it."""
