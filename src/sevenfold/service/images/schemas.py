"""API shapes of image-signing keys and uploaded images (docs/updates.md §1-2)."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class SigningKeyIn(BaseModel):
    """Register an Ed25519 image-signing public key; the service computes its ID."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    public_key_pem: str = Field(min_length=1, max_length=1000)


class SigningKeyOut(BaseModel):
    """An image-signing key; ``id`` is the SHA-256 of the raw public key, in hex.

    ``tenant_id`` is None for a platform key (it signs OS images).
    """

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: str
    tenant_id: str | None
    name: str
    public_key_pem: str
    created_at: datetime


class ImageOut(BaseModel):
    """An uploaded, verified image package.

    ``sha256`` and ``size_bytes`` describe the whole package file (what devices
    download); ``payload_sha256``/``payload_bytes`` the payload inside it.
    ``tenant_id`` is None for a platform OS image.
    """

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: str
    tenant_id: str | None
    kind: str
    component_id: str
    name: str
    version: str
    security_version: int
    sha256: str
    size_bytes: int
    payload_sha256: str
    payload_bytes: int
    entry_point: str | None
    capabilities: list[str]
    signing_key_id: str
    uploaded_at: datetime


class ImagePage(BaseModel):
    """A page of images and the cursor of the next one (None at the end)."""

    items: list[ImageOut]
    next_cursor: str | None
