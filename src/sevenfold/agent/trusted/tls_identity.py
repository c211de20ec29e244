"""TLS client contexts that authenticate with a key the trusted core keeps.

A device proves its identity to the customer's cloud (an MQTT broker, say) with its
tenant-CA certificate, over TLS. The TLS stack needs the certificate's private key,
and the rest of the agent must never hold it. So the trusted core builds the whole
``ssl.SSLContext`` and hands out only that: the context can make TLS handshakes with
the key, and Python's ``ssl`` offers no way to read a key back out of a context.

Python's ``ssl`` can load a private key only from a file (``load_cert_chain`` has no
in-memory form), so the key is written, PEM-encoded, to a 0600 file in a fresh 0700
directory and the directory is removed as soon as OpenSSL has read it. That leaves a
window of one ``load_cert_chain`` call in which a process running as the same user
(or root) could read the file; such a process could read the agent's memory anyway.
The directory is on ``/dev/shm`` (tmpfs) where it exists, so the key never reaches a
disk block, and a crash inside the window leaves it in RAM only, gone at reboot.

A TPM-held key cannot be written out at all; a TPM backend would give OpenSSL a
handle to the key through an OpenSSL provider (tpm2-openssl), which Python's ``ssl``
cannot load. That is why only the ``dice`` backend offers client contexts.

This is the one trusted-core module that imports ``ssl`` (the import-linter contract
names it as the exception): it configures TLS, it never opens a connection.
"""

import os
import ssl
from pathlib import Path
from shutil import rmtree
from tempfile import mkdtemp

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sevenfold.agent.trusted.errors import ClientCertificateError

# tmpfs: keys written there live in RAM only. Shared and world-writable, like /tmp,
# which mkdtemp handles safely (unpredictable name, O_EXCL, mode 0700).
_RAM_BACKED = Path("/dev/shm")  # noqa: S108
DIRECTORY_PREFIX = "sevenfold-tls-"


def key_directory_root() -> Path | None:
    """Where the short-lived key directory is made: ``/dev/shm`` if usable, else the
    system temporary directory (``None``)."""
    if _RAM_BACKED.is_dir() and os.access(_RAM_BACKED, os.W_OK | os.X_OK):
        return _RAM_BACKED
    return None


def client_context(
    key: ec.EllipticCurvePrivateKey, certificate_pem: bytes, ca_pem: bytes | None
) -> ssl.SSLContext:
    """Return a TLS client context that presents ``certificate_pem`` with ``key``.

    The context verifies the server against ``ca_pem`` (PEM bundle) or, when it is
    ``None``, against the system's trusted roots, and checks the server's host name.

    Raises:
        ClientCertificateError: ``certificate_pem`` is not a certificate for ``key``,
            or ``ca_pem`` holds no usable CA certificate.
    """
    # PROTOCOL_TLS_CLIENT: CERT_REQUIRED and check_hostname on, by default.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        if ca_pem is None:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        else:
            context.load_verify_locations(cadata=ca_pem.decode("ascii"))
    except (ssl.SSLError, UnicodeDecodeError) as err:
        raise ClientCertificateError(f"the CA bundle cannot be loaded: {err}") from err
    _load_identity(context, key, certificate_pem)
    return context


def _load_identity(
    context: ssl.SSLContext, key: ec.EllipticCurvePrivateKey, certificate_pem: bytes
) -> None:
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # mkdtemp makes the directory 0700 under an unpredictable name, atomically.
    directory = Path(mkdtemp(prefix=DIRECTORY_PREFIX, dir=key_directory_root()))
    try:
        key_file = _write_private(directory / "key.pem", key_pem)
        certificate_file = _write_private(
            directory / "certificate.pem", certificate_pem
        )
        # OpenSSL checks that the certificate's public key matches the key.
        context.load_cert_chain(certificate_file, key_file)
    except ssl.SSLError as err:
        raise ClientCertificateError(
            f"the certificate cannot be used with this device's key: {err}"
        ) from err
    finally:
        # Not ignore_errors: a key file that could not be removed must be reported.
        rmtree(directory)


def _write_private(path: Path, data: bytes) -> Path:
    # O_EXCL | O_NOFOLLOW: never write through a file or link someone planted.
    descriptor = os.open(
        path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600
    )
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    return path
