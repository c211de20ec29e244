"""Signing and checking device capability grants with the tenant CA key.

The service signs with the tenant's active CA key (ECDSA P-256, SHA-256); a device
checks against the CA certificate in the chain it received when it attested, so it
trusts a grant exactly as far as it trusts its own tenant. Threats: a grant copied
from another device (device ID bound), altered (signature over canonical JSON with a
domain tag), unsigned or signed by another tenant's CA (signature check).

The CA key signs certificates and, here, grants only: the grant's signing input
starts with a domain tag (``protocol.capabilities.SIGNING_DOMAIN``), never with the
DER SEQUENCE byte a TBSCertificate starts with, so neither signature can be passed
off as the other.
"""

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from sevenfold.crypto.errors import CapabilityRefusedError
from sevenfold.protocol.capabilities import CapabilityGrant, SignedCapability


def sign_grant(
    grant: CapabilityGrant, ca_private_key: ec.EllipticCurvePrivateKey
) -> SignedCapability:
    """Sign ``grant`` with the tenant CA's private key."""
    signature = ca_private_key.sign(grant.signing_input(), ec.ECDSA(hashes.SHA256()))
    return SignedCapability(grant=grant, signature=signature)


def verify_capability(
    signed: SignedCapability,
    *,
    ca_certificates: list[x509.Certificate],
    device_id: str,
) -> CapabilityGrant:
    """Return the grant if one of ``ca_certificates`` signed it for ``device_id``.

    Raises:
        CapabilityRefusedError: made for another device, or no CA signed it.
    """
    if signed.grant.device_id != device_id:
        raise CapabilityRefusedError("the capability was made for another device")
    for certificate in ca_certificates:
        public_key = certificate.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            continue
        try:
            public_key.verify(
                signed.signature,
                signed.grant.signing_input(),
                ec.ECDSA(hashes.SHA256()),
            )
        except InvalidSignature:
            continue
        return signed.grant
    raise CapabilityRefusedError("the capability is not signed by the device's tenant")
