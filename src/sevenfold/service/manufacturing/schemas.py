"""API shapes of trusted manufacturer keys."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class TrustedKeyIn(BaseModel):
    """Trust a manufacturer's Ed25519 public key (platform administrators)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    public_key_pem: str = Field(min_length=1, max_length=1000)


class TrustedKeyOut(BaseModel):
    """A trusted manufacturer key; ``id`` is the SHA-256 of its SPKI, in hex."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: str
    name: str
    public_key_pem: str
    created_at: datetime
