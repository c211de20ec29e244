"""DICE key derivation, emulated in software: UDS -> CDI -> DeviceID and Alias keys.

The layering follows the Open Profile for DICE (google/open-dice,
docs/specification.md), with HKDF-SHA256 and ECDSA P-256 in place of its
SHA-512/Ed25519 defaults, as Microsoft RIoT and the TCG DICE certificate profiles do:

    CDI[0]    = KDF(32, UDS,    H(boot stage measurement || inputs), "CDI_Attest")
    CDI[1]    = KDF(32, CDI[0], H(H(OS image || agent) || inputs),  "CDI_Attest")
    DeviceID  = key pair from KDF(32, CDI[0], ASYM_SALT, "Key Pair")
    Alias     = key pair from KDF(32, CDI[1], ASYM_SALT, "Key Pair")

with ``KDF(length, ikm, salt, info) = HKDF-SHA256`` and ``inputs`` open-dice's
config, authority, mode and hidden values, held constant here (zero-filled, mode
"normal"): this emulation has no configuration descriptor or code-signing authority.

The DeviceID key depends only on the UDS and the boot stage, so it survives software
updates; the Alias key also depends on the OS image and agent and changes with them.
"""

import hashlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

UDS_BYTES = 32
CDI_BYTES = 32
# The measurement of the emulated first boot stage (the code DICE measures before
# handing over to the first mutable layer). A constant, so the device ID stays stable.
EMULATED_BOOT_STAGE_SHA256 = hashlib.sha256(
    b"sevenfold software DICE, boot stage 1"
).digest()
# open-dice docs/specification.md: the fixed salt for asymmetric key derivation.
ASYM_SALT = bytes.fromhex(
    "63B6A04D2C077FC10F639F21DA793844356CC2B0B441B3A77124035C03F8E1BE"
    "6035D31F282821A7450A02222AB1B3CFF1679B05AB1CA5D1AFFB789CCD2B0B3B"
)
_MODE_NORMAL = 1  # open-dice mode byte: 0 not configured, 1 normal, 2 debug, 3 recovery
_ZERO_CONFIG = bytes(64)
_ZERO_AUTHORITY = bytes(64)
_ZERO_HIDDEN = bytes(64)
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
# FIPS 186-5 A.2.1 draws 64 bits more than the order's size, so the reduction
# below is biased by at most 2**-64.
_SCALAR_SOURCE_BYTES = 40


def kdf(length: int, ikm: bytes, salt: bytes, info: bytes) -> bytes:
    """Return open-dice's KDF, instantiated as HKDF-SHA256 (RFC 5869)."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(
        ikm
    )


def derive_cdi(secret: bytes, code_measurement: bytes) -> bytes:
    """Return the next layer's CDI from this layer's secret and the next code's hash.

    ``secret`` is the UDS for the first layer and the previous CDI after that.
    """
    if len(secret) != CDI_BYTES or len(code_measurement) != 32:
        raise ValueError("a DICE secret and a code measurement are 32 bytes each")
    inputs = hashlib.sha256(
        code_measurement
        + _ZERO_CONFIG
        + _ZERO_AUTHORITY
        + bytes([_MODE_NORMAL])
        + _ZERO_HIDDEN
    ).digest()
    return kdf(CDI_BYTES, secret, inputs, b"CDI_Attest")


def key_from_cdi(cdi: bytes) -> ec.EllipticCurvePrivateKey:
    """Return the P-256 key pair a CDI determines.

    The seed is open-dice's ``KDF(32, CDI, ASYM_SALT, "Key Pair")``. open-dice
    leaves keypair-from-seed to the signature scheme and RIoT's
    ``RiotCrypt_DeriveEccKey`` uses its own labelled KDF, so for P-256 this profile
    fixes its own mapping, FIPS 186-5 A.2.1 ("extra random bits"):

        d = (int(HKDF-SHA256(seed, salt=ASYM_SALT, info="P-256 scalar", 40 bytes))
             mod (n - 1)) + 1

    which always lands in [1, n - 1]. Keys made this way do not interoperate with
    real open-dice or RIoT devices; they need not, as the UDS is emulated.
    """
    seed = kdf(32, cdi, ASYM_SALT, b"Key Pair")
    source = kdf(_SCALAR_SOURCE_BYTES, seed, ASYM_SALT, b"P-256 scalar")
    scalar = int.from_bytes(source, "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def software_measurement(os_image_sha256: bytes, agent_sha256: bytes) -> bytes:
    """Return the measurement of the layer the Alias key belongs to: OS and agent."""
    return hashlib.sha256(
        b"sevenfold/alias-layer/v1\x00" + os_image_sha256 + agent_sha256
    ).digest()


def device_id_key(
    uds: bytes, boot_stage_sha256: bytes = EMULATED_BOOT_STAGE_SHA256
) -> ec.EllipticCurvePrivateKey:
    """Return the DeviceID key: from the first-layer CDI, stable across updates."""
    return key_from_cdi(derive_cdi(uds, boot_stage_sha256))


def alias_key(
    uds: bytes,
    os_image_sha256: bytes,
    agent_sha256: bytes,
    boot_stage_sha256: bytes = EMULATED_BOOT_STAGE_SHA256,
) -> ec.EllipticCurvePrivateKey:
    """Return the Alias key: from the next-layer CDI over the OS image and agent."""
    first = derive_cdi(uds, boot_stage_sha256)
    return key_from_cdi(
        derive_cdi(first, software_measurement(os_image_sha256, agent_sha256))
    )
