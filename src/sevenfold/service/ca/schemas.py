"""API shapes of tenant CA certificates."""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from sevenfold.service.ca.service import CaStatus, CaView

PEM_MEDIA_TYPE = "application/x-pem-file"
DER_MEDIA_TYPE = "application/pkix-cert"


class CertificateFormat(StrEnum):
    """How a CA certificate is downloaded."""

    PEM = "pem"
    DER = "der"


class CaCertificateOut(BaseModel):
    """One of the tenant's CA certificates (never its key)."""

    model_config = ConfigDict(frozen=True)

    id: str
    status: CaStatus
    in_chain: bool
    subject: str
    thumbprint_sha256: str
    not_before: datetime
    not_after: datetime
    activates_at: datetime
    created_at: datetime

    @classmethod
    def from_view(cls, view: CaView) -> "CaCertificateOut":
        """The API shape of a CA and its status."""
        ca = view.ca
        return cls(
            id=ca.id,
            status=view.status,
            in_chain=view.in_chain,
            subject=ca.subject,
            thumbprint_sha256=ca.thumbprint_sha256,
            not_before=ca.not_before,
            not_after=ca.not_after,
            activates_at=ca.activates_at,
            created_at=ca.created_at,
        )
