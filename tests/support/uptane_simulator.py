"""An in-memory Uptane server: an image repository and a per-device director.

Both are real TUF repositories made with python-tuf's Metadata API (consistent
snapshots, every version kept, ed25519 keys), served through a ``FetcherInterface``
on the device routes' URLs (docs/updates.md §4), like python-tuf's own
``tests/repository_simulator.py``. Like the service's, the image repository's
top-level targets list nothing and delegate ``blobs/*`` (terminating) to an
``images`` role that lists the images. Attack tests reach in: replay an old file, serve
other bytes for a URL, sign with a stolen key, rotate keys through root.
"""

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from securesystemslib.signer import CryptoSigner, Signer
from tuf.api.exceptions import DownloadHTTPError
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer
from tuf.ngclient import FetcherInterface

from sevenfold.protocol.clock import SystemClock
from sevenfold.protocol.updates import (
    CUSTOM_COMPONENT_ID,
    CUSTOM_DEVICE_ID,
    CUSTOM_IMAGE_ID,
    CUSTOM_KIND,
    CUSTOM_NAME,
    CUSTOM_SECURITY_VERSION,
    CUSTOM_VERSION,
    DIRECTOR_APPS_MANAGED_FIELD,
    DIRECTOR_DEVICE_ID_FIELD,
    TargetDescription,
    target_path,
)

SERVER_URL = "https://updates.sevenfold.test"
TUF_URL = f"{SERVER_URL}/api/v1/device/tuf/"
TOP_LEVEL_ROLES = (Root.type, Timestamp.type, Snapshot.type, Targets.type)
IMAGES_ROLE = "images"
Chunks = Callable[[], Iterator[bytes]]


def expires_in(days: float) -> datetime:
    """An expiry ``days`` from now (ngclient checks against the real clock)."""
    return SystemClock().now().replace(microsecond=0) + timedelta(days=days)


def custom_of(target: TargetDescription) -> dict[str, Any]:
    """The image repository's ``custom`` for a target (docs/updates.md §4)."""
    return {
        CUSTOM_KIND: target.kind.value,
        CUSTOM_COMPONENT_ID: target.component_id,
        CUSTOM_IMAGE_ID: target.image_id,
        CUSTOM_NAME: target.name,
        CUSTOM_VERSION: target.version,
        CUSTOM_SECURITY_VERSION: target.security_version,
    }


def target_entry(target: TargetDescription, custom: dict[str, Any]) -> TargetFile:
    """A TUF target entry for ``target`` with ``custom``."""
    return TargetFile(
        length=target.length,
        hashes={"sha256": target.sha256},
        path=target_path(target.sha256),
        unrecognized_fields={"custom": custom},
    )


class SimulatedRepository:
    """One TUF repository with consistent snapshots; every version is kept. With
    ``delegated`` the targets delegate ``blobs/*`` to the ``images`` role."""

    def __init__(self, name: str, *, delegated: bool = False) -> None:
        self.name = name
        self.signers: dict[str, Signer] = {}
        root = Root(expires=expires_in(365), consistent_snapshot=True)
        for role in TOP_LEVEL_ROLES:
            self.signers[role] = CryptoSigner.generate_ed25519()
            root.add_key(self.signers[role].public_key, role)
        self.root = Metadata(root)
        self.timestamp = Metadata(Timestamp(expires=expires_in(1)))
        self.snapshot = Metadata(Snapshot(expires=expires_in(7)))
        self.targets = Metadata(Targets(expires=expires_in(90)))
        self.images: Metadata[Targets] | None = None
        if delegated:
            self.signers[IMAGES_ROLE] = CryptoSigner.generate_ed25519()
            key = self.signers[IMAGES_ROLE].public_key
            self.targets.signed.delegations = Delegations(
                keys={key.keyid: key},
                roles={
                    IMAGES_ROLE: DelegatedRole(
                        IMAGES_ROLE, [key.keyid], 1, True, ["blobs/*"]
                    )
                },
            )
            self.images = Metadata(Targets(expires=expires_in(90)))
        self.files: dict[str, bytes] = {}  # "N.root.json", "timestamp.json", ...
        self.timestamps: list[bytes] = []  # every timestamp ever published
        self._publish_root(())
        self._sign_chain(first=True)

    def publish(
        self,
        *,
        timestamp_expires: datetime | None = None,
        signers: dict[str, Signer] | None = None,
    ) -> None:
        """Publish new targets, snapshot and timestamp versions (``signers``
        overrides the keys used, e.g. stolen ones)."""
        self._sign_chain(
            first=False, timestamp_expires=timestamp_expires, signers=signers
        )

    @property
    def listing(self) -> Targets:
        """The targets metadata that lists the images (``images`` if delegated)."""
        return (self.images or self.targets).signed

    def rotate_keys(self, *roles: str) -> None:
        """Replace ``roles``' keys in a new root (signed by the unchanged root key),
        then re-sign the chain with the new keys (recovery from key compromise)."""
        root = self.root.signed
        for role in roles:
            old = self.signers[role]
            root.revoke_key(old.public_key.keyid, role)
            self.signers[role] = CryptoSigner.generate_ed25519()
            root.add_key(self.signers[role].public_key, role)
        root.version += 1
        self._publish_root(())
        self._sign_chain(first=False)

    def signed_bytes(self, metadata: Metadata[Any], *signers: Signer) -> bytes:
        """``metadata`` signed by ``signers`` only, as served."""
        metadata.signatures.clear()
        for signer in signers:
            metadata.sign(signer, append=True)
        return metadata.to_bytes(JSONSerializer(compact=True))

    def _publish_root(self, extra_signers: tuple[Signer, ...]) -> None:
        data = self.signed_bytes(self.root, self.signers[Root.type], *extra_signers)
        self.files[f"{self.root.signed.version}.root.json"] = data

    def _sign_chain(
        self,
        *,
        first: bool,
        timestamp_expires: datetime | None = None,
        signers: dict[str, Signer] | None = None,
    ) -> None:
        keys = self.signers | (signers or {})
        if not first:
            self.targets.signed.version += 1
            self.snapshot.signed.version += 1
            self.timestamp.signed.version += 1
        targets = self.targets.signed
        self.files[f"{targets.version}.targets.json"] = self.signed_bytes(
            self.targets, keys[Targets.type]
        )
        snapshot = self.snapshot.signed
        snapshot.meta["targets.json"] = MetaFile(version=targets.version)
        if self.images is not None:
            images = self.images.signed
            if not first:
                images.version += 1
            self.files[f"{images.version}.{IMAGES_ROLE}.json"] = self.signed_bytes(
                self.images, keys[IMAGES_ROLE]
            )
            snapshot.meta[f"{IMAGES_ROLE}.json"] = MetaFile(version=images.version)
        self.files[f"{snapshot.version}.snapshot.json"] = self.signed_bytes(
            self.snapshot, keys[Snapshot.type]
        )
        timestamp = self.timestamp.signed
        timestamp.snapshot_meta = MetaFile(version=snapshot.version)
        timestamp.expires = timestamp_expires or expires_in(1)
        data = self.signed_bytes(self.timestamp, keys[Timestamp.type])
        self.files["timestamp.json"] = data
        self.timestamps.append(data)


@dataclass
class UptaneSimulator(FetcherInterface):
    """The image repository, one device's director and the blob store, served at
    the device routes' URLs. ``overrides`` serve other bytes for a URL."""

    device_id: str
    image: SimulatedRepository = field(
        default_factory=lambda: SimulatedRepository("image", delegated=True)
    )
    director: SimulatedRepository = field(
        default_factory=lambda: SimulatedRepository("director")
    )
    blobs: dict[str, bytes] = field(default_factory=dict)
    overrides: dict[str, Chunks] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.set_director_targets(())

    # -- the service's side -------------------------------------------------------

    def release(self, package: bytes, target: TargetDescription) -> None:
        """Add an image to the image repository (and its bytes to the blob store)."""
        assert hashlib.sha256(package).hexdigest() == target.sha256
        self.blobs[target.sha256] = package
        entry = target_entry(target, custom_of(target))
        self.image.listing.targets[entry.path] = entry
        self.image.publish()

    def set_director_targets(
        self,
        targets: tuple[TargetDescription, ...],
        *,
        apps_managed: bool = True,
        device_id: str | None = None,
        publish: bool = True,
    ) -> None:
        """Direct this device to run ``targets`` (bound to ``device_id``, by default
        the simulated device)."""
        bound_to = device_id or self.device_id
        director = self.director.targets.signed
        director.targets = {}
        for target in targets:
            custom = custom_of(target) | {CUSTOM_DEVICE_ID: bound_to}
            entry = target_entry(target, custom)
            director.targets[entry.path] = entry
        director.unrecognized_fields = {
            DIRECTOR_DEVICE_ID_FIELD: bound_to,
            DIRECTOR_APPS_MANAGED_FIELD: apps_managed,
        }
        if publish:
            self.director.publish()

    # -- FetcherInterface -----------------------------------------------------------

    def _fetch(self, url: str) -> Iterator[bytes]:
        self.fetched.append(url)
        if url in self.overrides:
            return self.overrides[url]()
        if not url.startswith(TUF_URL):
            raise DownloadHTTPError(f"unknown URL {url}", 404)
        repository, _, name = url.removeprefix(TUF_URL).partition("/")
        data: bytes | None = None
        if repository == "targets" and name.startswith("blobs/"):
            data = self.blobs.get(name.removeprefix("blobs/"))
        elif repository in ("image", "director"):
            served = self.image if repository == "image" else self.director
            data = served.files.get(name)
        if data is None:
            raise DownloadHTTPError(f"{url} not found", 404)
        return iter([data])

    def url(self, repository: str, name: str) -> str:
        """The URL the agent fetches ``name`` of ``repository`` from."""
        return f"{TUF_URL}{repository}/{name}"
