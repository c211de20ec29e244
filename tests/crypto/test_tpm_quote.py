"""Verifying TPM evidence without a TPM: the TPMS_ATTEST parser and each link."""

import contextlib
import hashlib
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sevenfold.crypto.errors import (
    MalformedQuoteError,
    NonceMismatchError,
    NotAQuoteError,
    PcrMismatchError,
    QuoteSignatureError,
    UnboundAttestationKeyError,
)
from sevenfold.crypto.tpm_quote import parse_quote, verify_tpm_evidence
from sevenfold.protocol.tpm_evidence import (
    MEASUREMENT_PCR,
    TpmEvidence,
    measurement_pcr_value,
)
from tests.support.dice import NONCE, measurements
from tests.support.tpm_quotes import SoftwareTpm, attest, pcr_select

DEVICE = SoftwareTpm.generate()


def _verify(evidence: TpmEvidence, nonce: bytes = NONCE) -> None:
    verify_tpm_evidence(
        evidence, registered_device_id=DEVICE.device_id, expected_nonce=nonce
    )


def test_evidence_from_the_registered_device_verifies() -> None:
    software = measurements()
    assert (
        verify_tpm_evidence(
            DEVICE.evidence(software=software),
            registered_device_id=DEVICE.device_id,
            expected_nonce=NONCE,
        )
        == software
    )


def test_measurement_pcr_replays_the_extends_from_zero() -> None:
    software = measurements()
    value = bytes(32)
    for digest in (
        software.os_image_sha256,
        software.agent_sha256,
        *software.app_image_sha256s,
    ):
        value = hashlib.sha256(value + digest).digest()
    assert measurement_pcr_value(software) == value


def test_quote_parser_reads_the_fields() -> None:
    quote = parse_quote(attest(nonce=NONCE, pcr_digest=bytes(range(32))))
    assert quote.extra_data == NONCE
    assert quote.pcr_digest == bytes(range(32))
    assert quote.pcr_selection == ((0x000B, (MEASUREMENT_PCR,)),)
    assert (quote.reset_count, quote.restart_count) == (1, 0)


def test_quote_with_another_nonce_is_refused() -> None:
    with pytest.raises(NonceMismatchError):
        _verify(DEVICE.evidence(nonce=bytes(32)))


def test_evidence_claiming_the_expected_nonce_over_an_old_quote_is_refused() -> None:
    old = DEVICE.evidence(nonce=bytes(32))
    relabelled = DEVICE.signed(replace(old, nonce=NONCE))
    with pytest.raises(NonceMismatchError):
        _verify(relabelled)


def test_tampered_os_measurement_is_refused() -> None:
    evidence = DEVICE.evidence()
    approved = measurements(os_image=b"os 2.0")
    with pytest.raises(PcrMismatchError):
        _verify(replace(evidence, measurements=approved))
    with pytest.raises(PcrMismatchError):
        _verify(
            replace(
                evidence,
                measurements=approved,
                pcr_values=(measurement_pcr_value(approved),),
            )
        )


def test_quote_of_another_pcr_is_refused() -> None:
    evidence = DEVICE.evidence()
    other = attest(
        nonce=NONCE,
        pcr_digest=hashlib.sha256(evidence.pcr_values[0]).digest(),
        bitmap=pcr_select(16),
    )
    with pytest.raises(PcrMismatchError):
        _verify(DEVICE.signed(replace(evidence, quoted=other)))


def test_forged_quote_signature_is_refused() -> None:
    evidence = DEVICE.evidence()
    forger = SoftwareTpm.generate()
    with pytest.raises(QuoteSignatureError):
        _verify(replace(evidence, signature=forger.signed(evidence).signature))


def test_attestation_key_not_bound_to_the_device_is_refused() -> None:
    other = SoftwareTpm.generate()
    with pytest.raises(UnboundAttestationKeyError):
        _verify(other.evidence())


@pytest.mark.parametrize(
    ("magic", "kind"), [(0x00544347, 0x8018), (0xFF544347, 0x8017)]
)
def test_structure_not_generated_by_a_tpm_as_a_quote_is_refused(
    magic: int, kind: int
) -> None:
    evidence = DEVICE.evidence()
    quoted = attest(
        nonce=NONCE,
        pcr_digest=hashlib.sha256(evidence.pcr_values[0]).digest(),
        magic=magic,
        kind=kind,
    )
    with pytest.raises(NotAQuoteError):
        _verify(DEVICE.signed(replace(evidence, quoted=quoted)))


def test_unreadable_attestation_key_is_refused() -> None:
    evidence = DEVICE.signed(
        replace(DEVICE.evidence(), attestation_public_key=b"\x30\x03\x02\x01\x01")
    )
    with pytest.raises(MalformedQuoteError):
        _verify(evidence)


@pytest.mark.parametrize("cut", [0, 5, 6, 40, 80, 120])
def test_truncated_quote_is_refused(cut: int) -> None:
    quoted = attest(nonce=NONCE, pcr_digest=bytes(32))
    with pytest.raises(MalformedQuoteError):
        parse_quote(quoted[: len(quoted) - 1 - cut])


def test_quote_with_trailing_bytes_is_refused() -> None:
    with pytest.raises(MalformedQuoteError):
        parse_quote(attest(nonce=NONCE, pcr_digest=bytes(32)) + b"\x00")


def test_oversized_length_fields_are_refused() -> None:
    with pytest.raises(MalformedQuoteError):
        parse_quote(attest(nonce=bytes(67), pcr_digest=bytes(32)))
    with pytest.raises(MalformedQuoteError):
        parse_quote(attest(nonce=NONCE, pcr_digest=bytes(32), bitmap=bytes(5)))


@given(st.binary(max_size=2048))
def test_garbage_never_escapes_the_typed_errors(data: bytes) -> None:
    with contextlib.suppress(MalformedQuoteError, NotAQuoteError):
        parse_quote(data)


@given(st.binary(max_size=400))
def test_an_oversized_signer_name_is_a_malformed_quote(tail: bytes) -> None:
    with pytest.raises(MalformedQuoteError):
        parse_quote(b"\xff\x54\x43\x47\x80\x18\xff\xff" + tail)


@given(st.data())
def test_corrupted_quotes_raise_only_typed_errors(data: st.DataObject) -> None:
    quoted = bytearray(attest(nonce=NONCE, pcr_digest=bytes(32)))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(quoted) - 1))
        quoted[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(quoted)))
    with contextlib.suppress(MalformedQuoteError, NotAQuoteError):
        parse_quote(bytes(quoted[:cut]))
