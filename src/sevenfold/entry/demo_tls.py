"""The demo's throwaway TLS: a CA made at start and a certificate for 127.0.0.1.

``sevenfold serve`` takes an operator's certificate; the demo has none, so it makes
a CA that lives only as long as the demo's data directory and signs one server
certificate with it. Operators and the simulator trust ``ca.pem``; devices present
their daily certificates to the same server (mTLS, docs/updates.md §4-5). The CA's
private key is never written: it signs once and is dropped.
"""

import ipaddress
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sevenfold.crypto.certificate_authority import CA_KEY_USAGE
from sevenfold.protocol.clock import Clock

TLS_DIR = "tls"
CA_FILE = "ca.pem"
CERTIFICATE_FILE = "server.pem"
KEY_FILE = "server.key"
CERTIFICATE_VALIDITY = timedelta(days=7)
CLOCK_SKEW_ALLOWANCE = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class DemoTls:
    """Where the demo's TLS files are."""

    ca_file: Path
    certificate_file: Path
    key_file: Path


def create_demo_tls(data_dir: Path, host: str, *, clock: Clock) -> DemoTls:
    """Make the demo CA and a server certificate for ``host`` (an IP address) in
    ``<data_dir>/tls``; the server key file is 0600."""
    directory = data_dir / TLS_DIR
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    not_before = clock.now() - CLOCK_SKEW_ALLOWANCE
    not_after = not_before + CERTIFICATE_VALIDITY
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Sevenfold demo CA")])
    ca_certificate = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(CA_KEY_USAGE, critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    tls = DemoTls(
        ca_file=directory / CA_FILE,
        certificate_file=directory / CERTIFICATE_FILE,
        key_file=directory / KEY_FILE,
    )
    _write(tls.key_file, _key_pem(server_key))
    _write(tls.certificate_file, server_certificate.public_bytes(_PEM))
    _write(tls.ca_file, ca_certificate.public_bytes(_PEM))
    return tls


_PEM = serialization.Encoding.PEM


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        _PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes) -> None:
    """Create ``path`` 0600 from the start (never briefly readable by others)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
