"""The DICE key store's TLS client context: it authenticates with the Alias key,
verifies the server, and leaves no key file behind."""

import os
import shutil
import socket
import ssl
import stat
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sevenfold.agent.trusted import tls_identity
from sevenfold.agent.trusted.dice_keystore import DiceKeyStore
from sevenfold.agent.trusted.errors import ClientCertificateError
from sevenfold.crypto.certificate_authority import (
    certificate_pem,
    issue_device_certificate,
    make_certificate_authority,
)
from sevenfold.protocol.clock import ManualClock
from tests.support.dice import measurements
from tests.support.mosquitto import HOST, write_server_identity

NOW = datetime.now(UTC)


@pytest.fixture
def keystore(tmp_path: Path) -> DiceKeyStore:
    DiceKeyStore.create(tmp_path / "trusted")
    return DiceKeyStore.open(
        tmp_path / "trusted", measurements(), clock=ManualClock(NOW)
    )


def _device_certificate(store: DiceKeyStore) -> tuple[bytes, bytes]:
    """A tenant CA and the device certificate it issued for the Alias key (PEM)."""
    ca = make_certificate_authority(
        tenant_id="tenant-a", generation=1, now=NOW - timedelta(hours=1)
    )
    issued = issue_device_certificate(
        ca.private_key, ca.certificate, store.public_key(), store.device_id,
        not_before=NOW - timedelta(minutes=5),
    )  # fmt: skip
    return (
        certificate_pem(ca.certificate).encode(),
        certificate_pem(issued).encode(),
    )


def _handshake(
    tmp_path: Path, client: ssl.SSLContext, tenant_ca_pem: bytes
) -> dict[str, object]:
    """Handshake against a TLS server (its CA: ``server_ca.pem`` in ``tmp_path``)
    that requires a client certificate from the tenant CA; return the peer cert
    the server saw."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    server.verify_mode = ssl.CERT_REQUIRED
    server.load_verify_locations(cadata=tenant_ca_pem.decode())
    seen: dict[str, object] = {}
    left, right = socket.socketpair()

    def serve() -> None:
        try:
            with server.wrap_socket(right, server_side=True) as tls:
                seen.update(tls.getpeercert() or {})
                tls.sendall(b"ok")
        except (ssl.SSLError, OSError):
            right.close()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client.wrap_socket(left, server_hostname=HOST) as tls:
            assert tls.recv(2) == b"ok"
    finally:
        thread.join(timeout=10)
    return seen


def test_context_authenticates_with_the_alias_key(
    keystore: DiceKeyStore, tmp_path: Path
) -> None:
    server_ca = write_server_identity(tmp_path)
    tenant_ca, device_certificate = _device_certificate(keystore)
    context = keystore.client_ssl_context(device_certificate, server_ca)
    seen = _handshake(tmp_path, context, tenant_ca)
    subject = seen["subject"]
    assert isinstance(subject, tuple)
    assert dict(entry[0] for entry in subject)["commonName"] == keystore.device_id[:64]


def test_context_verifies_the_server_with_ca_pem(
    keystore: DiceKeyStore, tmp_path: Path
) -> None:
    write_server_identity(tmp_path)
    other_server_ca = write_server_identity(tmp_path / "elsewhere")
    tenant_ca, device_certificate = _device_certificate(keystore)
    context = keystore.client_ssl_context(device_certificate, other_server_ca)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(tmp_path, context, tenant_ca)


def test_no_key_file_remains_after_the_context_is_made(
    keystore: DiceKeyStore, tmp_path: Path
) -> None:
    root = tls_identity.key_directory_root() or Path(tempfile.gettempdir())
    before = set(root.glob(f"{tls_identity.DIRECTORY_PREFIX}*"))
    server_ca = write_server_identity(tmp_path)
    tenant_ca, device_certificate = _device_certificate(keystore)
    context = keystore.client_ssl_context(device_certificate, server_ca)
    assert set(root.glob(f"{tls_identity.DIRECTORY_PREFIX}*")) == before
    assert _handshake(tmp_path, context, tenant_ca)  # the context still works


def test_key_file_is_private_while_it_exists(
    keystore: DiceKeyStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Look at the directory just before the key store removes it."""
    modes: dict[str, int] = {}
    removed: list[Path] = []
    real_rmtree = shutil.rmtree

    def spy(path: Path) -> None:
        modes["."] = stat.S_IMODE(os.stat(path).st_mode)
        for entry in Path(path).iterdir():
            modes[entry.name] = stat.S_IMODE(entry.lstat().st_mode)
        real_rmtree(path)
        removed.append(Path(path))

    monkeypatch.setattr(tls_identity, "rmtree", spy)
    _, device_certificate = _device_certificate(keystore)
    keystore.client_ssl_context(device_certificate, None)
    assert modes == {".": 0o700, "key.pem": 0o600, "certificate.pem": 0o600}
    assert len(removed) == 1
    assert not removed[0].exists()


def test_certificate_for_another_key_is_refused(
    keystore: DiceKeyStore, tmp_path: Path
) -> None:
    DiceKeyStore.create(tmp_path / "other")
    other = DiceKeyStore.open(
        tmp_path / "other", measurements(), clock=ManualClock(NOW)
    )
    _, not_ours = _device_certificate(other)
    with pytest.raises(ClientCertificateError, match="this device's key"):
        keystore.client_ssl_context(not_ours, None)


def test_unusable_ca_bundle_is_refused(keystore: DiceKeyStore) -> None:
    _, device_certificate = _device_certificate(keystore)
    with pytest.raises(ClientCertificateError, match="CA bundle"):
        keystore.client_ssl_context(device_certificate, b"not a certificate")
