"""App sets on disk: ``apps/sets/<digest>/`` and the ``apps/current`` symlink.

A set is built complete in ``apps/sets/.staging-<digest>/``, renamed into place,
and made current by ``os.replace`` of a symlink, so a reader (and a power cut) sees
the whole old set or the whole new one, never a mix (docs/updates.md §6).
"""

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from sevenfold.agent.errors import InstallStateCorruptError
from sevenfold.agent.install.packages import copy_verified, fsync_directory
from sevenfold.agent.install.records import (
    app_set_from_json,
    app_set_to_json,
    read_record,
    write_record,
)
from sevenfold.protocol.updates import TargetDescription, is_sha256_hex

SETS_DIR = "sets"
CURRENT_LINK = "current"
SET_FILE = "set.json"
STAGING_PREFIX = ".staging-"
_LINK_TEMPORARY = ".current.tmp"


def app_file_name(index: int) -> str:
    """The file name of the ``index``-th app of a set."""
    return f"app-{index}.pkg"


class AppSets:
    """The app sets under one ``apps/`` directory."""

    def __init__(self, apps_dir: Path) -> None:
        self._apps_dir = apps_dir
        self._sets_dir = apps_dir / SETS_DIR

    def set_dir(self, digest: str) -> Path:
        return self._sets_dir / digest

    def current_digest(self) -> str | None:
        """The digest ``apps/current`` points at; ``None`` before the first set.

        Raises:
            InstallStateCorruptError: the link points anywhere but a set.
        """
        try:
            pointed = os.readlink(self._apps_dir / CURRENT_LINK)
        except FileNotFoundError:
            return None
        except OSError as err:
            raise InstallStateCorruptError(
                f"apps/current is unreadable: {err}"
            ) from err
        directory, _, digest = pointed.partition("/")
        if directory != SETS_DIR or not is_sha256_hex(digest):
            raise InstallStateCorruptError(f"apps/current points at {pointed!r}")
        return digest

    def current_apps(self) -> tuple[TargetDescription, ...]:
        """The targets of the current set (empty before the first set).

        Raises:
            InstallStateCorruptError: the set's ``set.json`` is missing or malformed.
        """
        digest = self.current_digest()
        if digest is None:
            return ()
        apps = read_record(self.set_dir(digest) / SET_FILE, app_set_from_json)
        if apps is None:
            raise InstallStateCorruptError(f"app set {digest} has no {SET_FILE}")
        return apps

    def current_paths(self) -> tuple[Path, ...]:
        digest = self.current_digest()
        if digest is None:
            return ()
        return tuple(
            self.set_dir(digest) / app_file_name(index)
            for index in range(len(self.current_apps()))
        )

    def build(
        self,
        digest: str,
        apps: Sequence[tuple[Path, TargetDescription]],
        *,
        after_first_chunk: Callable[[], None],
    ) -> None:
        """Copy and verify every package into a complete ``sets/<digest>/``."""
        self._sets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        staging = self._sets_dir / f"{STAGING_PREFIX}{digest}"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(self.set_dir(digest), ignore_errors=True)
        staging.mkdir(mode=0o700)
        for index, (package, target) in enumerate(apps):
            copy_verified(
                package,
                staging / app_file_name(index),
                target,
                after_first_chunk=after_first_chunk if index == 0 else _nothing,
            )
        write_record(
            staging / SET_FILE, app_set_to_json(tuple(target for _, target in apps))
        )
        os.replace(staging, self.set_dir(digest))
        fsync_directory(self._sets_dir)

    def switch(self, digest: str) -> None:
        """Point ``apps/current`` at ``sets/<digest>`` in one ``os.replace``."""
        temporary = self._apps_dir / _LINK_TEMPORARY
        temporary.unlink(missing_ok=True)
        os.symlink(f"{SETS_DIR}/{digest}", temporary)
        os.replace(temporary, self._apps_dir / CURRENT_LINK)
        fsync_directory(self._apps_dir)

    def remove_unused(self) -> bool:
        """Delete every set (and staging directory) but the current one.

        Returns whether anything was removed.
        """
        if not self._sets_dir.is_dir():
            return False
        current = self.current_digest()
        unused = [path for path in self._sets_dir.iterdir() if path.name != current]
        for path in unused:
            shutil.rmtree(path)
        (self._apps_dir / _LINK_TEMPORARY).unlink(missing_ok=True)
        if unused:
            fsync_directory(self._sets_dir)
        return bool(unused)


def _nothing() -> None:
    """No checkpoint inside the copy of the second and later apps."""
