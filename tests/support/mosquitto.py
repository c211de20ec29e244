"""A real MQTT broker for the broker-trust tests: Debian's ``mosquitto``, started on a
free loopback port with a generated config that trusts one tenant CA bundle.

The broker authenticates clients by certificate only (``require_certificate``,
``use_identity_as_username``, no anonymous clients), as a customer's cloud would. Its
own server certificate comes from a throwaway test CA made here, so the client side
verifies the broker as well. A 20-line MQTT 3.1.1 CONNECT / CONNACK exchange stands
in for an MQTT client library: the tests need the broker's verdict, nothing more.
"""

import contextlib
import ipaddress
import os
import pwd
import shutil
import socket
import ssl
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.live_server import free_port

HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 10.0
CONNACK_ACCEPTED = 0


@dataclass(frozen=True, slots=True)
class Broker:
    """A running mosquitto: its port, the CA that verifies it, and its log file."""

    port: int
    server_ca_pem: bytes
    log_file: Path

    def log(self) -> str:
        """The broker's log so far."""
        return self.log_file.read_text(errors="replace")

    def log_once_it_shows(self, text: str, timeout_s: float = 5.0) -> str:
        """The log, once ``text`` is in it: mosquitto may log a verdict a moment
        after the client has seen the connection end.

        Raises:
            AssertionError: ``text`` did not appear in time.
        """
        deadline = time.monotonic() + timeout_s
        while text not in (log := self.log()):
            assert time.monotonic() < deadline, f"{text!r} not logged:\n{log}"
            time.sleep(0.02)
        return log


def require_mosquitto() -> str:
    """The mosquitto binary; in CI (``CI=true``) its absence fails the test."""
    binary = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if binary is None:
        message = "mosquitto is not installed (./dev test installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return binary


@contextlib.contextmanager
def mosquitto(directory: Path, client_ca_pem: bytes) -> Iterator[Broker]:
    """Run mosquitto in the foreground, trusting ``client_ca_pem`` for client
    certificates, until the block ends."""
    binary = require_mosquitto()
    directory.mkdir(parents=True, exist_ok=True)
    server_ca_pem = write_server_identity(directory)
    (directory / "clients-ca.pem").write_bytes(client_ca_pem)
    port = free_port()
    log_file = directory / "mosquitto.log"
    lines = [
        # As root mosquitto drops to user "mosquitto", which cannot read the test's
        # private temporary directory; keep the running user.
        f"user {pwd.getpwuid(os.geteuid()).pw_name}",
        "persistence false",
        "allow_anonymous false",
        f"log_dest file {log_file}",
        "log_type all",
        "connection_messages true",
        f"listener {port} {HOST}",
        f"cafile {directory / 'clients-ca.pem'}",
        f"certfile {directory / 'server.pem'}",
        f"keyfile {directory / 'server.key'}",
        "require_certificate true",
        "use_identity_as_username true",
    ]
    config_file = directory / "mosquitto.conf"
    config_file.write_text("\n".join(lines) + "\n")
    process = subprocess.Popen(
        [binary, "-c", str(config_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, process)
        yield Broker(port=port, server_ca_pem=server_ca_pem, log_file=log_file)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def mqtt_connect(port: int, context: ssl.SSLContext, client_id: str) -> int:
    """Open TLS to the broker, send MQTT 3.1.1 CONNECT, return the CONNACK code.

    Raises:
        ssl.SSLError: the TLS handshake failed, or the broker sent an alert (with
            TLS 1.3 a refused client certificate surfaces at the first read).
        ConnectionError: the broker closed the connection without a CONNACK.
    """
    name = client_id.encode()
    # Protocol "MQTT" level 4, flags: clean session; keep-alive 60 s.
    variable = b"\x00\x04MQTT\x04\x02" + struct.pack("!H", 60)
    payload = struct.pack("!H", len(name)) + name
    remaining = len(variable) + len(payload)
    assert remaining < 128, "one-byte remaining length"
    with (
        socket.create_connection((HOST, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=HOST) as tls,
    ):
        tls.sendall(bytes([0x10, remaining]) + variable + payload)
        connack = b""
        while len(connack) < 4:
            chunk = tls.recv(4 - len(connack))
            if not chunk:
                raise ConnectionError("the broker closed without a CONNACK")
            connack += chunk
    assert connack[:2] == b"\x20\x02", f"not a CONNACK: {connack!r}"
    return connack[3]


def write_server_identity(directory: Path) -> bytes:
    """Write a server certificate and key for 127.0.0.1 (``server.pem``,
    ``server.key``) issued by a fresh test CA; return the CA as PEM."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Broker test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    (directory / "server.pem").write_bytes(
        server.public_bytes(serialization.Encoding.PEM)
    )
    (directory / "server.key").write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca.public_bytes(serialization.Encoding.PEM)


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mosquitto exited with status {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("mosquitto did not start listening")
