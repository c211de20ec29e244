"""API shapes of update status, check-now and update keys.

The device's status report mirrors ``protocol.updates.UpdateStatusReport.to_json()``
and is bounded field by field: at most 64 images each way, digests of exactly 64
lower-case hex characters, versions ``MAJOR.MINOR[.PATCH]``, a detail of at most 200
printable characters, and no unknown fields.
"""

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from sevenfold.protocol.errors import ProtocolError
from sevenfold.protocol.updates import (
    MAX_STATUS_DETAIL_CHARS,
    MAX_STATUS_IMAGES,
    ImageType,
    UpdateState,
    parse_version,
)
from sevenfold.service.updates.signing_keys import Repository, TufRole


def _checked_version(text: str) -> str:
    try:
        parse_version(text)
    except ProtocolError as err:
        raise ValueError(str(err)) from err
    return text


Version = Annotated[
    str, StringConstraints(max_length=20), AfterValidator(_checked_version)
]
Sha256Hex = Annotated[
    str, StringConstraints(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$")
]
Uuid = Annotated[
    str,
    StringConstraints(
        min_length=36,
        max_length=36,
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    ),
]
Detail = Annotated[
    str,
    StringConstraints(max_length=MAX_STATUS_DETAIL_CHARS, pattern=r"^[^\x00-\x1f]*$"),
]


class InstalledImageIn(BaseModel):
    """An image a device runs or is targeted with (``InstalledImage.to_json()``)."""

    model_config = ConfigDict(extra="forbid")

    image_id: Uuid
    component_id: Uuid
    version: Version
    kind: ImageType
    sha256: Sha256Hex


class UpdateStatusIn(BaseModel):
    """A device's update status report (``UpdateStatusReport.to_json()``)."""

    model_config = ConfigDict(extra="forbid")

    state: UpdateState
    os_version: Version | None = None
    installed: list[InstalledImageIn] = Field(
        default_factory=list, max_length=MAX_STATUS_IMAGES
    )
    targeted: list[InstalledImageIn] = Field(
        default_factory=list, max_length=MAX_STATUS_IMAGES
    )
    detail: Detail | None = None
    rolled_back_from: Version | None = None


class UpdateStatusAnswer(BaseModel):
    """The service's answer to a status report."""

    check_requested: bool


class CheckRequestOut(BaseModel):
    """A recorded check-now."""

    device_id: str
    check_requested_at: datetime


class ImageRef(BaseModel):
    """An installed or targeted image."""

    image_id: str
    component_id: str
    version: str
    kind: str
    sha256: str


class UpdateStatusOut(BaseModel):
    """A device's update status: its report and what the director targets."""

    device_id: str
    state: str | None
    os_version: str | None
    installed: list[ImageRef]
    targeted: list[ImageRef]
    reported_targeted: list[ImageRef]
    detail: str | None
    reported_at: datetime | None
    last_check_at: datetime | None
    check_requested_at: datetime | None
    director_targets_version: int | None


class UpdateKeyOut(BaseModel):
    """One TUF role key's public half; ``offline`` when the service holds no
    private key, ``pending`` while metadata introducing it awaits signatures."""

    repository: str
    role: str
    keyid: str
    public_key: dict[str, Any]
    offline: bool
    pending: bool
    created_at: datetime
    revoked_at: datetime | None


class UpdateRepositoryOut(BaseModel):
    """A repository's current root version, its keys and expiry warnings."""

    repository: str
    root_version: int
    keys: list[UpdateKeyOut]
    warnings: list[str]


class UpdateKeysOut(BaseModel):
    """The tenant's update keys, per repository."""

    repositories: list[UpdateRepositoryOut]


class KeyRotationIn(BaseModel):
    """Which key to rotate."""

    model_config = ConfigDict(extra="forbid")

    repository: Repository
    role: TufRole


class KeyRotationOut(BaseModel):
    """What a rotation published, or prepared as pending (``published`` false:
    offline keys must sign it, ``GET /update-keys/pending``)."""

    repository: str
    role: str
    old_keyid: str
    new_keyid: str
    root_version: int
    published: bool


class TakeOfflineIn(BaseModel):
    """Move the image repository's root or targets role to an operator-held
    ECDSA P-256 key (its public half, PEM)."""

    model_config = ConfigDict(extra="forbid")

    repository: Repository
    role: TufRole
    public_key_pem: str = Field(min_length=1, max_length=1024)


KeyId = Annotated[
    str, StringConstraints(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$")
]
SignatureHex = Annotated[
    str, StringConstraints(min_length=2, max_length=512, pattern=r"^[0-9a-f]+$")
]


class PendingMetadataOut(BaseModel):
    """A metadata version waiting for offline signatures. ``signed_bytes`` is the
    base64 of the canonical bytes a signature covers; ``current`` the signed part
    of the version in force (for a diff)."""

    repository: str
    role: str
    version: int
    expires: datetime
    metadata: dict[str, Any]
    signed_bytes: str
    current: dict[str, Any] | None
    signed_keyids: list[str]
    missing_keyids: list[str]


class PendingMetadataListOut(BaseModel):
    """Everything waiting for offline signatures."""

    pending: list[PendingMetadataOut]


class MetadataSignatureIn(BaseModel):
    """An operator's signature over a pending version's canonical bytes."""

    model_config = ConfigDict(extra="forbid")

    repository: Repository
    role: TufRole
    version: int = Field(ge=1, le=2**31 - 1)
    keyid: KeyId
    signature: SignatureHex


class MetadataSignatureOut(BaseModel):
    """Whether the signature completed the pending versions (then published), and
    what still waits."""

    published: bool
    pending: list[PendingMetadataOut]
