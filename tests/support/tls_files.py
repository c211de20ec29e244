"""Throwaway TLS material for HTTPS tests: a test CA, a server certificate for
127.0.0.1 it signed, and PEM files for a client certificate and key."""

import ipaddress
import os
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True, slots=True)
class ServerTls:
    """Files for a TLS server on 127.0.0.1 and the CA that clients trust."""

    ca_file: Path
    certificate_file: Path
    key_file: Path

    def client_context(
        self, certificate_file: Path | None = None, key_file: Path | None = None
    ) -> ssl.SSLContext:
        """A client context trusting the server; presents a certificate if given."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        if certificate_file is not None:
            context.load_cert_chain(certificate_file, key_file)
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """A private key as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_private(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` with mode 0600."""
    path.write_bytes(data)
    os.chmod(path, 0o600)
    return path


def self_signed(key: ec.EllipticCurvePrivateKey, common_name: str) -> x509.Certificate:
    """A self-signed certificate for ``key``."""
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )


def server_tls(directory: Path) -> ServerTls:
    """A test CA and a server certificate for 127.0.0.1, as files in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = self_signed(ca_key, "Sevenfold test server CA")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = directory / "server-ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    certificate_file = directory / "server.pem"
    certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file = write_private(directory / "server-key.pem", key_pem(key))
    return ServerTls(
        ca_file=ca_file, certificate_file=certificate_file, key_file=key_file
    )
