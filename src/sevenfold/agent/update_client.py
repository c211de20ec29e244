"""The agent's TUF client: two ngclient ``Updater``s, image and director (docs §5).

Each check builds new ``Updater``s (ngclient refreshes once per instance) over
``<state_dir>/tuf/{image,director}``, refreshes both, and cross-checks them with
``agreed_targets``. Verified images are downloaded into ``<state_dir>/downloads``;
ngclient caps every download at the signed length and checks the hashes before the
file is handed back, so nothing unverified ever reaches the install backend.

Trust anchor. ngclient 7 needs ``bootstrap=``: the root it starts from. A device
provisioned with ``agent init --image-root F --director-root F`` has each
repository's root pinned in ``<state_dir>/tuf/<repo>/trusted_root.json``. Otherwise,
on its very first check, the agent fetches ``1.root.json`` of each repository over
the mutually authenticated TLS connection to its own tenant's service and pins it
there: trust on first use, where "first use" is an mTLS session the service
authenticated with the device certificate and the device authenticated with the
service's CA. From then on ngclient's ``root_history`` carries the chain (every
newer root must be signed by a threshold of the previous root's keys), so later
checks pass ``bootstrap=None`` and ngclient starts from its cached, already
verified ``root.json``.
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from tuf.api.exceptions import (
    DownloadError,
    DownloadLengthMismatchError,
    LengthOrHashMismatchError,
    RepositoryError,
)
from tuf.api.metadata import Metadata, Root, TargetFile, Targets
from tuf.ngclient import FetcherInterface, Updater, UpdaterConfig

from sevenfold.agent.errors import (
    UpdateError,
    UpdateMetadataRefusedError,
    UpdateTargetRefusedError,
    UpdateUnreachableError,
)
from sevenfold.agent.state import read_bounded, write_atomically
from sevenfold.agent.update_verification import AgreedTargets, agreed_targets
from sevenfold.protocol.updates import TargetDescription, target_path

IMAGE_REPOSITORY = "image"
DIRECTOR_REPOSITORY = "director"
REPOSITORIES = (IMAGE_REPOSITORY, DIRECTOR_REPOSITORY)
TUF_PATH = "/api/v1/device/tuf/"
TRUSTED_ROOT_FILE = "trusted_root.json"
CACHED_ROOT_FILE = "root.json"  # ngclient's link to root_history/<N>.root.json
DOWNLOADS_DIR = "downloads"
USER_AGENT = "sevenfold-agent"
MAX_ROOT_BYTES = UpdaterConfig().root_max_length

FetcherFactory = Callable[[], FetcherInterface]
_log = logging.getLogger(__name__)


def metadata_dir(state_dir: Path, repository: str) -> Path:
    """Where ngclient keeps one repository's metadata."""
    return state_dir / "tuf" / repository


def downloads_dir(state_dir: Path) -> Path:
    """Where verified images are downloaded before install."""
    return state_dir / DOWNLOADS_DIR


def pin_trusted_root(state_dir: Path, repository: str, root_json: bytes) -> int:
    """Pin ``root_json`` as the repository's trust anchor; return its version.

    Raises:
        UpdateMetadataRefusedError: not root metadata signed by its own threshold.
    """
    if repository not in REPOSITORIES:
        raise ValueError(f"unknown repository {repository!r}")
    version = _self_signed_root_version(root_json)
    directory = metadata_dir(state_dir, repository)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomically(directory / TRUSTED_ROOT_FILE, root_json)
    return version


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedUpdate:
    """The result of one refresh: the agreed targets and a way to download them."""

    agreed: AgreedTargets
    _image_updater: Updater
    _image_entries: dict[str, TargetFile]

    def download(self, targets: Iterable[TargetDescription]) -> dict[str, Path]:
        """Download (or find already downloaded) each target; return sha256 -> file.

        Raises:
            UpdateTargetRefusedError: longer than signed, or the hashes differ.
            UpdateUnreachableError: the download failed.
        """
        files: dict[str, Path] = {}
        for target in targets:
            entry = self._image_entries[target_path(target.sha256)]
            try:
                cached = self._image_updater.find_cached_target(entry)
                path = cached or self._image_updater.download_target(entry)
            except (RepositoryError, DownloadError, OSError) as err:
                raise _translated(err, target=True) from err
            files[target.sha256] = Path(path)
        return files


class UpdateClient:
    """Refreshes and verifies the image and director repositories of one device."""

    def __init__(
        self,
        *,
        state_dir: Path,
        server_url: str,
        device_id: str,
        fetcher_factory: FetcherFactory,
        user_agent: str = USER_AGENT,
        targets_base_url: str | None = None,
    ) -> None:
        self._state_dir = state_dir
        self._base_url = server_url.rstrip("/") + TUF_PATH
        # Metadata always comes from the service; targets may come from any mirror
        # (content-addressed ``blobs/<sha256>``), which the metadata makes untrusted.
        self._targets_url = (
            f"{self._base_url}targets/"
            if targets_base_url is None
            else targets_base_url.rstrip("/") + "/"
        )
        self._device_id = device_id
        self._fetcher_factory = fetcher_factory
        self._config = UpdaterConfig(
            prefix_targets_with_hash=False, app_user_agent=user_agent
        )

    def refresh(self) -> VerifiedUpdate:
        """Refresh both repositories and cross-check them (Uptane full verification).

        Raises:
            UpdateMetadataRefusedError: TUF verification failed (rollback, freeze,
                mix-and-match, bad signatures, endless data).
            UpdateVerificationError: director and image repository disagree, or the
                director metadata is not bound to this device.
            UpdateUnreachableError: the service did not answer usably.
        """
        fetcher = self._fetcher_factory()
        image = self._updater(IMAGE_REPOSITORY, fetcher)
        director = self._updater(DIRECTOR_REPOSITORY, fetcher)
        entries: dict[str, TargetFile] = {}
        try:
            image.refresh()
            director.refresh()
            # ngclient offers no public accessor for the verified top-level targets
            # role, and the director's device binding lives in its extra fields.
            director_targets: Targets = director._trusted_set.targets

            def lookup(path: str) -> TargetFile | None:
                entry = image.get_targetinfo(path)
                if entry is not None:
                    entries[path] = entry
                return entry

            agreed = agreed_targets(director_targets, lookup, self._device_id)
        except (RepositoryError, DownloadError, OSError) as err:
            raise _translated(err, target=False) from err
        return VerifiedUpdate(
            agreed=agreed, _image_updater=image, _image_entries=entries
        )

    def _updater(self, repository: str, fetcher: FetcherInterface) -> Updater:
        directory = metadata_dir(self._state_dir, repository)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        downloads = downloads_dir(self._state_dir)
        downloads.mkdir(parents=True, exist_ok=True, mode=0o700)
        bootstrap = self._trust_anchor(repository, directory, fetcher)
        try:
            return Updater(
                metadata_dir=str(directory),
                metadata_base_url=f"{self._base_url}{repository}/",
                target_dir=str(downloads),
                target_base_url=self._targets_url,
                fetcher=fetcher,
                config=self._config,
                bootstrap=bootstrap,
            )
        except (RepositoryError, OSError) as err:
            raise UpdateMetadataRefusedError(
                f"{repository} repository: the trusted root is unusable: {err}"
            ) from err

    def _trust_anchor(
        self, repository: str, directory: Path, fetcher: FetcherInterface
    ) -> bytes | None:
        """``None`` once ngclient has a verified root chain; else the pinned root,
        fetched and pinned first if there is none (TOFU over mTLS, module doc)."""
        if (directory / CACHED_ROOT_FILE).exists():
            return None
        pinned = read_bounded(directory / TRUSTED_ROOT_FILE, MAX_ROOT_BYTES)
        if pinned is not None:
            return pinned
        url = f"{self._base_url}{repository}/1.root.json"
        try:
            fetched = fetcher.download_bytes(url, MAX_ROOT_BYTES)
        except DownloadError as err:
            raise _translated(err, target=False) from err
        version = pin_trusted_root(self._state_dir, repository, fetched)
        _log.warning(
            "device %s: pinned %s root version %d on first use over mTLS",
            self._device_id, repository, version,
        )  # fmt: skip
        return fetched


def _self_signed_root_version(root_json: bytes) -> int:
    try:
        root = Metadata[Root].from_bytes(root_json)
        if not isinstance(root.signed, Root):
            raise UpdateMetadataRefusedError("a trusted root must be root metadata")
        root.signed.verify_delegate(Root.type, root.signed_bytes, root.signatures)
    except (RepositoryError, ValueError, TypeError, KeyError) as err:
        raise UpdateMetadataRefusedError(f"unusable root metadata: {err}") from err
    return root.signed.version


def _translated(err: Exception, *, target: bool) -> UpdateError:
    """The agent error (and report reason) for an ngclient or fetcher failure."""
    described = f"{type(err).__name__}: {err}"
    if target and isinstance(
        err, DownloadLengthMismatchError | LengthOrHashMismatchError
    ):
        return UpdateTargetRefusedError(described)
    if isinstance(err, RepositoryError | DownloadLengthMismatchError):
        return UpdateMetadataRefusedError(described)
    if isinstance(err, DownloadError):
        return UpdateUnreachableError(described)
    if isinstance(err, UpdateError):
        return err
    return UpdateError(f"local storage: {described}")
