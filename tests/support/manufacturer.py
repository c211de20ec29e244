"""The test manufacturer key: every test database trusts it (see ``conftest.admin``).

``signed_records`` turns device IDs into registration records this key signed, so a
test registers devices exactly as the factory would.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from sevenfold.crypto.registration import (
    manufacturer_key_id,
    public_key_pem,
    sign_registration_record,
)
from sevenfold.service.manufacturing.models import TrustedManufacturerKey

TEST_MANUFACTURER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
TEST_MANUFACTURER_KEY_ID = manufacturer_key_id(TEST_MANUFACTURER_KEY.public_key())
SIGNED_AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def signed_records(
    device_ids: Sequence[str],
    key: Ed25519PrivateKey = TEST_MANUFACTURER_KEY,
    *,
    product: str | None = None,
) -> list[dict[str, Any]]:
    """Registration records for these devices, signed by ``key``, as JSON objects."""
    return [
        sign_registration_record(
            key, device_id=device_id, created_at=SIGNED_AT, product=product
        ).to_json()
        for device_id in device_ids
    ]


def records_jsonl(
    device_ids: Sequence[str], key: Ed25519PrivateKey = TEST_MANUFACTURER_KEY
) -> str:
    """The same records as a JSON Lines text (a factory records file)."""
    return "".join(
        sign_registration_record(
            key, device_id=device_id, created_at=SIGNED_AT
        ).to_line()
        for device_id in device_ids
    )


def trust_test_manufacturer_key(session: Session) -> None:
    """Trust the test manufacturer key in this database (as a platform admin would)."""
    session.add(
        TrustedManufacturerKey(
            id=TEST_MANUFACTURER_KEY_ID,
            name="Test factory",
            public_key_pem=public_key_pem(TEST_MANUFACTURER_KEY.public_key()),
            created_at=SIGNED_AT,
            created_by=None,
        )
    )
    session.commit()
