"""The demo's update act: an OS release goes through evaluation to retail; a bad one
is rolled out, halts its own rollout and is cancelled (docs/updates.md §3,
docs/failures.md).

The demo plays the platform too: it makes an image-signing key, builds signed OS
packages 26.10 (the factory image), 26.11 and 26.12, registers the key and uploads
them as the platform administrator (the bootstrap token is one, as ``init`` makes
it). Every device that is not revoked gets A/B install slots holding the factory
image and runs the agent's real updater over mTLS (``sim.updates``). Then:

1. 26.11 is published to retail-eval with a 14-day window: devices in the "… OS
   Evaluation" groups install it (trial boot, re-attest, commit); retail devices
   are offered nothing.
2. 26.11 is promoted by hand (the window is cut short for the demo; the service
   promotes on its own once it passes): retail devices install it.
3. 26.12 is published to retail-eval with a rollout (one wave, every evaluation
   device; halt when more than 20 % of the devices that ran it fail). On hardware
   revision B (every other evaluation device; a simulated fault) 26.12's security
   module does not answer: the trial boot cannot re-attest, and the agents record
   and upload attestation and bad-slot-boot failures. The rollout halts itself and
   the operator cancels 26.12; no retail device is ever offered it.
4. 26.12.1, the fix, is published: every evaluation device moves to it (hardware B
   first comes back from its rollback).
"""

import asyncio
import hashlib
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sevenfold.crypto.image_signing import build_package, key_id, public_key_pem
from sevenfold.protocol.attestation import MeasurementKind
from sevenfold.protocol.image_package import ImageManifest
from sevenfold.protocol.updates import ImageType, TargetDescription
from sevenfold.protocol.vocabulary import DeviceStatus, OsFeed
from sevenfold.sim.client import OperatorClient
from sevenfold.sim.device import SIM_SOFTWARE
from sevenfold.sim.errors import ScenarioError
from sevenfold.sim.records import (
    ImageRecord,
    OsReleaseDetailRecord,
    OsReleaseRecord,
    RolloutRecord,
)
from sevenfold.sim.updates import CheckResult, FleetUpdaters, UpdatingDevice

if TYPE_CHECKING:  # demo.py imports this module to list the act
    from sevenfold.entry.demo import DemoContext

FACTORY_VERSION = "26.10"
EVALUATED_VERSION = "26.11"
CANCELLED_VERSION = "26.12"
FIX_VERSION = "26.12.1"
HALT_THRESHOLD_PERCENT = 20.0
ROLLOUT_WAIT_S = 30.0  # the wave opens, and the halt comes, within a few ticks
EVAL_WINDOW_DAYS = 14
SECURITY_VERSION = 1
OS_PAYLOAD_BYTES = 16 * 1024
OS_COMPONENT_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "sevenfold-demo/os"))
IMAGES_DIR = "os-images"


@dataclass(frozen=True, slots=True)
class DemoOsImage:
    """A signed OS package, on disk and described as a TUF target."""

    path: Path
    package: bytes
    target: TargetDescription


def build_os_image(
    key: Ed25519PrivateKey, version: str, directory: Path
) -> DemoOsImage:
    """A signed OS package of ``version`` with a small made-up root file system."""
    payload = (f"Sevenfold demo OS {version}\n".encode() * OS_PAYLOAD_BYTES)[
        :OS_PAYLOAD_BYTES
    ]
    manifest = ImageManifest(
        type=ImageType.OS,
        component_id=OS_COMPONENT_ID,
        image_id=str(uuid.uuid4()),
        name="Demo OS",
        version=version,
        security_version=SECURITY_VERSION,
        payload_bytes=len(payload),
        payload_sha256=hashlib.sha256(payload).hexdigest(),
        signing_key_id=key_id(key.public_key()),
    )
    package = build_package(manifest, payload, key)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / f"demo-os-{version}.pkg"
    path.write_bytes(package)
    target = TargetDescription(
        kind=ImageType.OS,
        component_id=manifest.component_id,
        image_id=manifest.image_id,
        name=manifest.name,
        version=version,
        security_version=SECURITY_VERSION,
        sha256=hashlib.sha256(package).hexdigest(),
        length=len(package),
    )
    return DemoOsImage(path=path, package=package, target=target)


@dataclass(frozen=True, slots=True)
class _Group:
    name: str
    os_feed: str


class UpdateAct:
    """Publish, evaluate, promote; publish and cancel; show who runs what."""

    title = (
        "Update: an OS release through evaluation to retail; a bad one halts its "
        "own rollout and is cancelled"
    )

    def __init__(self, *, concurrency: int = 16) -> None:
        self._concurrency = concurrency

    async def play(self, context: "DemoContext") -> list[str]:
        """Run the act over HTTPS; return the lines to print."""
        fleet_summary = context.fleet_summary
        if fleet_summary is None:
            raise ScenarioError("the update act needs the fleet act's product")
        key = Ed25519PrivateKey.generate()
        images = {
            version: build_os_image(key, version, context.data_dir / IMAGES_DIR)
            for version in (
                FACTORY_VERSION,
                EVALUATED_VERSION,
                CANCELLED_VERSION,
                FIX_VERSION,
            )
        }
        factory = images[FACTORY_VERSION]
        groups = {g.group_id: _Group(g.name, g.os_feed) for g in fleet_summary.groups}
        async with OperatorClient(
            context.base_url,
            context.token,
            clock=context.clock,
            verify=context.tls_verify(),
        ) as client:
            uploaded = await _publish_platform_images(client, key, images)
            await client.approve_measurement(
                fleet_summary.product.id,
                MeasurementKind.OS,
                bytes.fromhex(factory.target.sha256),
                version=FACTORY_VERSION,
                label=f"Demo OS {FACTORY_VERSION} (factory image)",
            )
            records = await client.list_devices(product_id=fleet_summary.product.id)
            revoked = {r.id for r in records if r.status == DeviceStatus.REVOKED.value}
            story = _Story(
                client=client,
                device_groups={
                    r.id: groups[r.device_group_id]
                    for r in records
                    if r.device_group_id in groups
                },
            )
            story.lines.append(
                f"Platform: signed OS {', '.join(images)} with a new image-signing "
                "key, registered the key and uploaded the packages"
            )
            async with FleetUpdaters(
                context.base_url,
                server_ca=context.server_ca,
                agent_sha256=SIM_SOFTWARE.agent_sha256,
                clock=context.clock,
                concurrency=self._concurrency,
                security_module_fault=story.security_module_fault,
            ) as updaters:
                story.fleet = [
                    updaters.install_factory(device, factory.path, factory.target)
                    for device in context.fleet
                    if device.device_id not in revoked
                ]
                story.lines.append(
                    f"{len(story.fleet)} devices boot the factory OS "
                    f"{FACTORY_VERSION} from A/B install slots and run the agent's "
                    "updater over mTLS with their certificates"
                    + (f"; {len(revoked)} revoked takes no part" if revoked else "")
                )
                story.pick_hardware_b()
                releases = await story.play(updaters, uploaded)
        story.finish(releases)
        context.notes["updates"] = _json(story, releases, revoked)
        return story.lines


async def _publish_platform_images(
    client: OperatorClient, key: Ed25519PrivateKey, images: dict[str, DemoOsImage]
) -> dict[str, ImageRecord]:
    """Register the platform key and upload the OS packages (platform admin)."""
    await client.add_platform_signing_key(
        "Demo platform OS key", public_key_pem(key.public_key())
    )
    return {
        version: await client.upload_image(image.package)
        for version, image in images.items()
    }


@dataclass(slots=True, kw_only=True)
class _Story:
    """The act's three steps, each followed by one check of every device."""

    client: OperatorClient
    device_groups: dict[str, _Group]
    fleet: list[UpdatingDevice] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    rounds: list[dict[str, object]] = field(default_factory=list)
    hardware_b: set[str] = field(default_factory=set)
    rollout: RolloutRecord | None = None

    def pick_hardware_b(self) -> None:
        """Every other evaluation device is hardware revision B (at least one)."""
        evaluation = [d for d in self.fleet if _is_eval(d, self.device_groups)]
        self.hardware_b = {d.device.device_id for d in evaluation[::2]}

    def security_module_fault(self, device_id: str, os_version: str) -> bool:
        """The injected fault: 26.12's security module fails on hardware B."""
        return os_version == CANCELLED_VERSION and device_id in self.hardware_b

    async def play(
        self, updaters: FleetUpdaters, uploaded: dict[str, ImageRecord]
    ) -> list[OsReleaseDetailRecord]:
        """Publish, promote, publish and cancel; return the releases as they end."""
        client = self.client
        evaluated = await client.publish_os_release(
            uploaded[EVALUATED_VERSION].id, eval_window_days=EVAL_WINDOW_DAYS
        )
        self.lines.append(
            f"Published OS {EVALUATED_VERSION} to retail-eval "
            f"({EVAL_WINDOW_DAYS}-day evaluation, promotion due "
            f"{evaluated.promote_at:%Y-%m-%d})"
        )
        await self._check(updaters, f"publish {EVALUATED_VERSION}")
        await client.change_os_release(
            evaluated.id, "promote", "evaluation window cut short for the demo"
        )
        self.lines.append(
            f"Promoted OS {EVALUATED_VERSION} to retail by hand: the evaluation "
            "window is cut short for the demo (the service promotes on its own "
            "once the window passes)"
        )
        await self._check(updaters, f"promote {EVALUATED_VERSION}")
        cancelled = await self._halted_rollout(updaters, uploaded[CANCELLED_VERSION])
        fix = await client.publish_os_release(
            uploaded[FIX_VERSION].id, eval_window_days=EVAL_WINDOW_DAYS
        )
        self.lines.append(
            f"Published OS {FIX_VERSION} (the fix) to retail-eval, no rollout"
        )
        await self._check(updaters, f"publish {FIX_VERSION}")
        return [
            await client.get_os_release(release.id)
            for release in (evaluated, cancelled, fix)
        ]

    async def _halted_rollout(
        self, updaters: FleetUpdaters, image: ImageRecord
    ) -> OsReleaseRecord:
        """Publish 26.12 with a rollout, let hardware B fail it, wait for the halt,
        cancel the release."""
        client = self.client
        release = await client.publish_os_release(
            image.id, eval_window_days=EVAL_WINDOW_DAYS
        )
        evaluation = sum(_is_eval(d, self.device_groups) for d in self.fleet)
        if evaluation == 0:
            self.lines.append(
                f"Published OS {CANCELLED_VERSION} to retail-eval; this fleet has no "
                "evaluation device to roll it out to, so it is cancelled untried"
            )
            return await client.change_os_release(
                release.id, "cancel", "no evaluation devices to try it"
            )
        min_devices = min(3, evaluation)
        rollout = await client.create_os_rollout(
            release.id,
            OsFeed.RETAIL_EVAL.value,
            # The wave soaks for the evaluation window: judged all the while.
            waves=[
                {
                    "size": 100,
                    "unit": "percent",
                    "min_soak_s": EVAL_WINDOW_DAYS * 86_400,
                }
            ],
            policy={
                "min_devices": min_devices,
                "threshold_percent": HALT_THRESHOLD_PERCENT,
            },
        )
        self.lines.append(
            f"Published OS {CANCELLED_VERSION} to retail-eval with a rollout: one "
            "wave of every evaluation device; it halts itself when more than "
            f"{HALT_THRESHOLD_PERCENT:g} % of the devices that ran it fail (judged "
            f"once {min_devices} have run it)"
        )
        await self._wait_for(rollout.id, lambda r: r.waves[0].opened_at is not None)
        self.lines.append(
            f"Hardware revision B ({len(self.hardware_b)} of {evaluation} evaluation "
            f"devices): {CANCELLED_VERSION}'s security module does not answer "
            "(a simulated fault)"
        )
        await self._check(updaters, f"roll out {CANCELLED_VERSION}")
        halted = await self._wait_for(rollout.id, lambda r: r.state == "paused")
        self.rollout = halted
        self.lines.append(
            "The agents recorded and uploaded their failures; the rollout halted "
            f"itself: {halted.halt_reason}"
        )
        cancelled = await client.change_os_release(
            release.id, "cancel", "its rollout halted: fails on hardware revision B"
        )
        self.lines.append(
            f"Cancelled OS {CANCELLED_VERSION} (the halt flagged it for review); "
            "retail devices were never offered it"
        )
        return cancelled

    async def _wait_for(
        self, rollout_id: str, done: Callable[[RolloutRecord], bool]
    ) -> RolloutRecord:
        deadline = asyncio.get_running_loop().time() + ROLLOUT_WAIT_S
        while True:
            rollout = await self.client.get_rollout(rollout_id)
            if done(rollout):
                return rollout
            if asyncio.get_running_loop().time() > deadline:
                raise ScenarioError(
                    f"rollout {rollout_id} is {rollout.state} after "
                    f"{ROLLOUT_WAIT_S:g} s; the service's evaluator did not act"
                )
            await asyncio.sleep(0.2)

    async def _check(self, updaters: FleetUpdaters, step: str) -> None:
        results = await updaters.check(self.fleet)
        self.lines.extend(_round_lines(results, self.device_groups))
        self.rounds.append(_round(step, results, self.device_groups))

    def finish(self, releases: list[OsReleaseDetailRecord]) -> None:
        """Add the closing tables."""
        self.lines.append("Who runs what now:")
        self.lines.extend(_group_table(self.fleet, self.device_groups))
        self.lines.append("The service's count of devices per release:")
        self.lines.extend(_release_lines(releases))
        failed = sum(device.failed for device in self.fleet)
        committed = sum(
            CANCELLED_VERSION in d.versions_run
            for d in self.fleet
            if d.device.device_id not in self.hardware_b
        )
        retail = sum(
            CANCELLED_VERSION in d.versions_run
            for d in self.fleet
            if not _is_eval(d, self.device_groups)
        )
        self.lines.append(
            f"{failed} devices failed trial boots of {CANCELLED_VERSION} and rolled "
            f"back; {committed} committed it before the halt; {retail} retail "
            "devices ever ran it"
        )


def _group_name(device: UpdatingDevice, groups: dict[str, _Group]) -> str:
    group = groups.get(device.device.device_id)
    return "-" if group is None else group.name


def _feed(device: UpdatingDevice, groups: dict[str, _Group]) -> str | None:
    group = groups.get(device.device.device_id)
    return None if group is None else group.os_feed


def _is_eval(device: UpdatingDevice, groups: dict[str, _Group]) -> bool:
    group = groups.get(device.device.device_id)
    return group is not None and group.os_feed == OsFeed.RETAIL_EVAL.value


def _round_lines(results: list[CheckResult], groups: dict[str, _Group]) -> list[str]:
    lines = []
    for label, in_eval in (("evaluation", True), ("retail", False)):
        chosen = [r for r in results if _is_eval(r.device, groups) == in_eval]
        updated = Counter(r.device.os_version for r in chosen if r.updated)
        failed = Counter(r.device.os_version for r in chosen if r.failed)
        stayed = Counter(
            r.device.os_version for r in chosen if not (r.updated or r.failed)
        )
        parts = (
            [
                f"{count} installed {version} (trial boot, re-attested, committed)"
                for version, count in sorted(updated.items())
            ]
            + [
                f"{count} failed their trial boots and rolled back to {version}"
                for version, count in sorted(failed.items())
            ]
            + [
                f"{count} offered nothing new (stay on {version})"
                for version, count in sorted(stayed.items())
            ]
        )
        lines.append(f"  {label} devices checked: {'; '.join(parts) or 'none'}")
    return lines


def _round(
    step: str, results: list[CheckResult], groups: dict[str, _Group]
) -> dict[str, object]:
    by_group: dict[str, Counter[str]] = {}
    for result in results:
        name = _group_name(result.device, groups)
        by_group.setdefault(name, Counter())[result.device.os_version] += 1
    return {
        "step": step,
        "updated": sum(r.updated for r in results),
        "failed": sum(r.failed for r in results),
        "os_versions_by_group": {k: dict(v) for k, v in sorted(by_group.items())},
    }


def _group_table(fleet: list[UpdatingDevice], groups: dict[str, _Group]) -> list[str]:
    by_group: dict[str, Counter[str]] = {}
    feeds: dict[str, str] = {}
    for device in fleet:
        name = _group_name(device, groups)
        by_group.setdefault(name, Counter())[device.os_version] += 1
        group = groups.get(device.device.device_id)
        feeds[name] = "-" if group is None else group.os_feed
    width = max([len("Group"), *map(len, by_group)])
    lines = [f"  {'Group':<{width}}  {'Feed':<11}  Devices  OS"]
    for name, versions in sorted(by_group.items()):
        running = ", ".join(f"{n} on {v}" for v, n in sorted(versions.items()))
        total = sum(versions.values())
        lines.append(f"  {name:<{width}}  {feeds[name]:<11}  {total:>7}  {running}")
    return lines


def _release_lines(releases: list[OsReleaseDetailRecord]) -> list[str]:
    lines = []
    for release in releases:
        counts = release.device_counts
        running = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        running = running or "none"
        lines.append(
            f"  OS {release.version:<6} {release.state:<11} devices: {running}"
        )
    return lines


def _json(
    story: _Story, releases: list[OsReleaseDetailRecord], revoked: set[str]
) -> dict[str, object]:
    groups = story.device_groups
    return {
        "rounds": story.rounds,
        "devices": [
            {
                "device_id": device.device.device_id,
                "group": _group_name(device, groups),
                "os_feed": _feed(device, groups),
                "os_version": device.os_version,
                "versions_run": device.versions_run,
                "failed": device.failed,
            }
            for device in story.fleet
        ],
        "releases": [
            {
                "version": release.version,
                "state": release.state,
                "device_counts": release.device_counts,
            }
            for release in releases
        ],
        "failed": sum(device.failed for device in story.fleet),
        "hardware_b": sorted(story.hardware_b),
        "rollout": None
        if story.rollout is None
        else story.rollout.model_dump(mode="json"),
        "not_taking_part": sorted(revoked),
    }
