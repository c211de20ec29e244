"""Image packages and consistency checks for the install backend's tests."""

import hashlib
import json
import os
from pathlib import Path

from sevenfold.agent.install import BootOutcome, DirInstallBackend
from sevenfold.agent.install.records import target_to_json
from sevenfold.protocol.updates import ImageType, TargetDescription

DEFAULT_IMAGE_BYTES = 150_000  # more than one copy chunk, so a copy can be cut


def make_image(
    directory: Path,
    *,
    kind: ImageType,
    component_id: str,
    version: str,
    security_version: int,
    size_bytes: int = DEFAULT_IMAGE_BYTES,
) -> tuple[Path, TargetDescription]:
    """Write a deterministic package and return it with its target."""
    seed = hashlib.sha256(f"{kind}/{component_id}/{version}".encode()).digest()
    content = (seed * (size_bytes // len(seed) + 1))[:size_bytes]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{component_id}-{version}-{security_version}.pkg"
    path.write_bytes(content)
    target = TargetDescription(
        kind=kind,
        component_id=component_id,
        image_id=f"img-{component_id}-{version}",
        name=component_id,
        version=version,
        security_version=security_version,
        sha256=hashlib.sha256(content).hexdigest(),
        length=len(content),
    )
    return path, target


def os_image(
    directory: Path, version: str, security_version: int, size_bytes: int = 0
) -> tuple[Path, TargetDescription]:
    return make_image(
        directory,
        kind=ImageType.OS,
        component_id="os",
        version=version,
        security_version=security_version,
        size_bytes=size_bytes or DEFAULT_IMAGE_BYTES,
    )


def app_image(
    directory: Path, component_id: str, version: str, security_version: int
) -> tuple[Path, TargetDescription]:
    return make_image(
        directory,
        kind=ImageType.APP,
        component_id=component_id,
        version=version,
        security_version=security_version,
        size_bytes=40_000,
    )


def write_plan(
    path: Path,
    new_os: tuple[Path, TargetDescription],
    new_apps: list[tuple[Path, TargetDescription]],
) -> None:
    """The operations' inputs for ``tests/support/install_driver.py``."""
    plan = {
        "os": {"package": str(new_os[0]), "target": target_to_json(new_os[1])},
        "apps": [
            {"package": str(package), "target": target_to_json(target)}
            for package, target in new_apps
        ],
    }
    path.write_text(json.dumps(plan))


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_install_consistent(
    root: Path, backend: DirInstallBackend, outcome: BootOutcome
) -> None:
    """What must hold after any ``boot()``: the booted and committed slots verify,
    the bootloader environment agrees with committed.json, no transaction is left,
    and every app of the current set matches its target."""
    booted = json.loads((root / "slots" / outcome.slot / "slot.json").read_text())
    booted_package = root / "slots" / outcome.slot / "os.pkg"
    assert file_sha256(booted_package) == booted["package_sha256"]
    assert backend.os_image_path() == booted_package
    assert target_to_json(backend.current_os()) == booted["target"]
    committed = json.loads((root / "committed.json").read_text())
    committed_slot = root / "slots" / committed["slot"]
    assert file_sha256(committed_slot / "os.pkg") == committed["os"]["sha256"]
    assert committed["security_floor"] >= committed["os"]["security_version"]
    env = json.loads((root / "bootloader.json").read_text())
    assert env["boot_slot"] == outcome.slot
    if env["upgrade_available"]:
        assert outcome.slot != committed["slot"]
        assert 1 <= env["bootcount"] <= env["bootlimit"]
        assert outcome.trial == backend.current_os() == backend.pending_trial()
    else:
        assert outcome.slot == committed["slot"]
        assert env["bootcount"] == 0
        assert outcome.trial is None
        assert backend.pending_trial() is None
    assert not (root / "update.json").exists()
    apps = backend.current_apps()
    paths = backend.app_image_paths()
    assert len(apps) == len(paths)
    for path, app in zip(paths, apps, strict=True):
        assert file_sha256(path) == app.sha256
    sets = root / "apps" / "sets"
    leftovers = sorted(path.name for path in sets.iterdir()) if sets.exists() else []
    link = root / "apps" / "current"
    current = os.readlink(link).split("/")[-1] if link.is_symlink() else None
    assert leftovers == ([] if current is None else [current])


class PowerLoss(BaseException):
    """Raised by a test checkpoint: the power went at this step."""


class PowerCut:
    """A checkpoint that raises ``PowerLoss`` at a named step or at the ``nth`` step
    counted once ``armed``."""

    def __init__(
        self, *, at_step: str | None = None, nth: int | None = None, armed: bool = True
    ) -> None:
        self.at_step = at_step
        self.nth = nth
        self.armed = armed
        self.seen: list[str] = []

    def __call__(self, step: str) -> None:
        if not self.armed:
            return
        self.seen.append(step)
        if step == self.at_step or len(self.seen) == self.nth:
            raise PowerLoss(step)
