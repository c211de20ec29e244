"""The device's capability grant (PRODUCT.md "Device capabilities").

``sevenfold agent capability apply FILE`` installs a grant the operator obtained with
``sevenfold device enable-development|enable-cloud-test --out FILE``. The grant is
checked against the tenant CA certificates in the chain the device received when it
attested (``chain.pem``) and against the device's own ID, and it must be newer than
the grant in force (threat: replaying an old ``app-development`` grant after
``enable-cloud-test``). It is checked again whenever it is read, so a grant edited on
disk counts as none.

After a tenant CA rotation the device's chain names the new CA only; a grant signed
by the old CA then no longer verifies and the operator issues a new one.
"""

import logging
from pathlib import Path

from cryptography import x509

from sevenfold.agent.errors import CapabilityError, StateCorruptError
from sevenfold.agent.state import StateStore, read_bounded, write_atomically
from sevenfold.crypto.capabilities import verify_capability
from sevenfold.crypto.errors import CapabilityRefusedError
from sevenfold.protocol.capabilities import (
    MAX_CAPABILITY_BYTES,
    CapabilityGrant,
    CapabilityKind,
    parse_signed_capability,
)
from sevenfold.protocol.errors import CapabilityFormatError

CAPABILITY_FILE = "capability.json"
_log = logging.getLogger(__name__)


class CapabilityStore:
    """The grant in force on one device, in its state directory."""

    def __init__(self, state_dir: Path, device_id: str) -> None:
        self._state_dir = state_dir
        self._device_id = device_id

    @property
    def path(self) -> Path:
        """Where the grant in force is kept."""
        return self._state_dir / CAPABILITY_FILE

    def _tenant_cas(self) -> list[x509.Certificate]:
        try:
            chain = StateStore(self._state_dir).read_chain()
        except StateCorruptError as err:
            raise CapabilityError(
                f"the certificate chain is unreadable: {err}"
            ) from err
        if chain is None:
            raise CapabilityError(
                "the device has no certificate chain yet; attest first "
                "(`sevenfold agent run`)"
            )
        try:
            certificates = x509.load_pem_x509_certificates(chain)
        except ValueError as err:
            raise CapabilityError("the certificate chain is not PEM") from err
        return [c for c in certificates if _is_ca(c)]

    def _verify(self, data: bytes) -> CapabilityGrant:
        try:
            signed = parse_signed_capability(data)
            return verify_capability(
                signed, ca_certificates=self._tenant_cas(), device_id=self._device_id
            )
        except (CapabilityFormatError, CapabilityRefusedError) as err:
            raise CapabilityError(f"capability refused: {err}") from err

    def apply(self, data: bytes) -> CapabilityGrant:
        """Check ``data`` and make it the grant in force.

        Raises:
            CapabilityError: refused; the grant in force is unchanged.
        """
        grant = self._verify(data)
        current = self.current()
        if current is not None and grant.issued_at <= current.issued_at:
            raise CapabilityError(
                "capability refused: it is not newer than the grant in force "
                f"(issued {current.issued_at.isoformat()})"
            )
        write_atomically(self.path, data)
        return grant

    def current(self) -> CapabilityGrant | None:
        """The grant in force, checked again; None when there is none or it no
        longer verifies (logged)."""
        try:
            data = read_bounded(self.path, MAX_CAPABILITY_BYTES)
        except StateCorruptError as err:
            _log.warning("ignoring the capability file: %s", err)
            return None
        if data is None:
            return None
        try:
            return self._verify(data)
        except CapabilityError as err:
            _log.warning("ignoring the capability file: %s", err)
            return None

    def holds(self, kind: CapabilityKind) -> bool:
        """Whether the grant in force includes ``kind``."""
        current = self.current()
        return current is not None and current.holds(kind)


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(
            x509.BasicConstraints
        )
    except x509.ExtensionNotFound:
        return False
    return constraints.value.ca
