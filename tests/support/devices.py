"""Real device identities for tests: P-256 keys whose public halves are device IDs."""

from cryptography.hazmat.primitives.asymmetric import ec

from sevenfold.crypto.device_ids import device_id_of


def new_device_ids(count: int) -> list[str]:
    """Return ``count`` fresh, valid device IDs."""
    return [
        device_id_of(ec.generate_private_key(ec.SECP256R1()).public_key())
        for _ in range(count)
    ]
