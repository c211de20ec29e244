"""The ``dice`` key store: DICE emulated in software, for development and simulation.

A unique device secret (UDS) lives in ``<state_dir>/uds``, a file only its owner can
read. Opening the store runs the emulated DICE layers once, as a boot would
(``sevenfold.crypto.dice_derivation``): the DeviceID key certifies the Alias key and
its measurements, then the UDS, the CDIs and the DeviceID private key are dropped, so
the running agent holds only the Alias key, as a DICE layer-1 would.

Python cannot wipe memory or keep a determined caller in the same process from
reaching an object's internals; the key is held in a closure behind a name-mangled
slot so that no public member exposes it by accident. Real hardware (a secure element
or a DICE-capable SoC) is what keeps the UDS out of reach of the OS.
"""

import os
import secrets
import ssl
import stat
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from sevenfold.agent.trusted import tls_identity
from sevenfold.agent.trusted.errors import (
    MeasurementsChangedError,
    ReservedMessageError,
    UdsCorruptError,
    UdsExistsError,
    UdsInsecureError,
    UdsMissingError,
)
from sevenfold.crypto.device_ids import device_id_of
from sevenfold.crypto.dice_chain import issue_alias_certificate
from sevenfold.crypto.dice_derivation import UDS_BYTES, alias_key, device_id_key
from sevenfold.protocol.attestation import (
    EVIDENCE_DOMAIN,
    Evidence,
    Measurements,
    signed_evidence_bytes,
)
from sevenfold.protocol.clock import Clock

UDS_FILE = "uds"
DEFAULT_ALIAS_LIFETIME = timedelta(days=365)
# Devices' clocks drift; an Alias certificate is valid a little before it is issued.
CLOCK_SKEW = timedelta(minutes=5)
_PRIVATE_TO_OWNER = 0o077  # any group or other permission bit


def _signer(key: ec.EllipticCurvePrivateKey) -> Callable[[bytes], bytes]:
    def sign(data: bytes) -> bytes:
        return key.sign(data, ec.ECDSA(hashes.SHA256()))

    return sign


ContextMaker = Callable[[bytes, bytes | None], ssl.SSLContext]


def _context_maker(key: ec.EllipticCurvePrivateKey) -> ContextMaker:
    def make(certificate_pem: bytes, ca_pem: bytes | None) -> ssl.SSLContext:
        return tls_identity.client_context(key, certificate_pem, ca_pem)

    return make


class DiceKeyStore:
    """A ``KeyStore`` backed by a software-emulated DICE UDS."""

    __slots__ = (
        "__client_context",
        "__sign",
        "_alias_certificate",
        "_alias_public_key",
        "_device_id",
        "_measurements",
    )

    def __init__(
        self,
        *,
        signer: Callable[[bytes], bytes],
        device_id: str,
        alias_public_key: ec.EllipticCurvePublicKey,
        alias_certificate: bytes,
        measurements: Measurements,
        client_context: ContextMaker,
    ) -> None:
        self.__sign = signer
        self.__client_context = client_context
        self._device_id = device_id
        self._alias_public_key = alias_public_key
        self._alias_certificate = alias_certificate
        self._measurements = measurements

    @classmethod
    def create(cls, state_dir: Path) -> None:
        """Provision a new 32-byte UDS in ``state_dir``, readable by its owner only.

        The write is atomic: a private temporary file is written and fsynced, then
        linked into place (``os.link`` fails if a UDS appeared meanwhile, where
        ``os.replace`` would overwrite it) and the directory is fsynced.

        Raises:
            UdsExistsError: the directory already holds a UDS.
        """
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = state_dir / UDS_FILE
        if target.exists() or target.is_symlink():
            raise UdsExistsError(f"{target} exists; a device secret is never replaced")
        temporary = state_dir / f".{UDS_FILE}.{secrets.token_hex(8)}.tmp"
        descriptor = os.open(
            temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o400
        )
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(secrets.token_bytes(UDS_BYTES))
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temporary, target)
        except FileExistsError as err:
            raise UdsExistsError(
                f"{target} exists; a device secret is never replaced"
            ) from err
        finally:
            temporary.unlink(missing_ok=True)
        _fsync_directory(state_dir)

    @classmethod
    def open(
        cls,
        state_dir: Path,
        measurements: Measurements,
        *,
        clock: Clock,
        alias_lifetime: timedelta = DEFAULT_ALIAS_LIFETIME,
    ) -> "DiceKeyStore":
        """Derive the device's keys for the software it runs; certify the Alias key.

        Raises:
            UdsMissingError: no UDS has been provisioned.
            UdsInsecureError: the UDS file is not private to the running user.
            UdsCorruptError: the file does not hold a 32-byte UDS.
        """
        uds = _read_uds(state_dir / UDS_FILE)
        identity = device_id_key(uds)
        alias = alias_key(uds, measurements.os_image_sha256, measurements.agent_sha256)
        now = clock.now()
        certificate = issue_alias_certificate(
            device_id_key=identity,
            alias_public_key=alias.public_key(),
            measurements=measurements,
            not_before=now - CLOCK_SKEW,
            not_after=now + alias_lifetime,
        )
        return cls(
            signer=_signer(alias),
            device_id=device_id_of(identity.public_key()),
            alias_public_key=alias.public_key(),
            alias_certificate=certificate,
            measurements=measurements,
            client_context=_context_maker(alias),
        )

    @property
    def device_id(self) -> str:
        """The device ID: hex X||Y of the DeviceID public key."""
        return self._device_id

    @property
    def alias_certificate(self) -> bytes:
        """The DER Alias certificate the DeviceID key issued at open."""
        return self._alias_certificate

    def public_key(self) -> ec.EllipticCurvePublicKey:
        """Return the Alias public key, which verifies ``sign``."""
        return self._alias_public_key

    def sign(self, data: bytes) -> bytes:
        """Return an ECDSA P-256 SHA-256 signature (DER) by the Alias key.

        Raises:
            ReservedMessageError: ``data`` is in the evidence domain; only
                ``evidence`` signs there, so a signature from ``sign`` can never
                pass for evidence.
        """
        if data.startswith(EVIDENCE_DOMAIN):
            raise ReservedMessageError("evidence is signed by evidence() only")
        return self.__sign(data)

    def client_ssl_context(
        self, certificate_pem: bytes, ca_pem: bytes | None
    ) -> ssl.SSLContext:
        """Return a TLS client context that authenticates with the Alias key.

        ``certificate_pem`` is the device certificate the service issued for the
        Alias key (the agent's ``certificate.pem``); ``ca_pem`` is the bundle that
        verifies the server, or ``None`` for the system's roots. The caller gets a
        context, never the key: see ``tls_identity`` for how the key reaches OpenSSL
        (through a 0600 file that exists for one call). Only this backend offers it:
        a TPM key would need an OpenSSL provider, which Python's ``ssl`` cannot load.

        Raises:
            ClientCertificateError: the certificate is not for the Alias key, or
                ``ca_pem`` holds no usable CA certificate.
        """
        return self.__client_context(certificate_pem, ca_pem)

    def evidence(self, nonce: bytes, measurements: Measurements) -> Evidence:
        """Return evidence for ``nonce`` signed by the Alias key.

        Raises:
            MeasurementsChangedError: the Alias key was derived for other software;
                reopen the key store after a software update.
            ValueError: the nonce is not 16 to 64 bytes.
        """
        if measurements != self._measurements:
            raise MeasurementsChangedError(
                "the Alias key is bound to other measurements"
            )
        return Evidence(
            alias_certificate=self._alias_certificate,
            measurements=measurements,
            nonce=nonce,
            signature=self.__sign(signed_evidence_bytes(nonce, measurements)),
        )


def _read_uds(path: Path) -> bytes:
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError as err:
        raise UdsMissingError(f"no device secret at {path}") from err
    except OSError as err:  # ELOOP: a symbolic link stands in for the secret
        raise UdsInsecureError(f"{path} cannot be opened safely: {err}") from err
    with os.fdopen(descriptor, "rb") as handle:
        status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode) or status.st_uid != os.geteuid():
            raise UdsInsecureError(f"{path} is not a regular file owned by this user")
        if status.st_mode & _PRIVATE_TO_OWNER:
            raise UdsInsecureError(
                f"{path} has mode {stat.S_IMODE(status.st_mode):o}; "
                "a device secret is readable by its owner only (0400 or 0600)"
            )
        uds = handle.read(UDS_BYTES + 1)
    if len(uds) != UDS_BYTES:
        raise UdsCorruptError(f"{path} does not hold a {UDS_BYTES}-byte secret")
    return uds


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
