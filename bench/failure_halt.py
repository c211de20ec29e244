"""Halt latency: from the POST of the failure batch that crosses a rollout's
threshold to the rollout being paused, as an operator polling
``GET /api/v1/rollouts/{id}`` sees it.

The devices taking part are moved into the product's ``Production OS
Evaluation`` group (on ``retail-eval``) first, so each rollout holds exactly them.
Each run, over the real API as the platform administrator: a new signed OS image
is uploaded and published to ``retail-eval`` (7-day evaluation window), and a
rollout of it is created on ``retail-eval`` with one wave of every device (soaking
a day, so it never completes during the run) and a policy of ``min_devices`` =
the devices taking part and ``threshold_percent``. Once the evaluator has opened
the wave (its tick, ``rollout_evaluation_interval_s``), every device reports
``downloading`` with the new image targeted (each has then *run* the update),
then the devices post one ``update-failure`` event each, one after another. The
rollout must still be running before the batch that crosses the threshold; that
POST starts the clock, which stops when a poll (every ``POLL_INTERVAL_S``) first
reads ``paused``.
"""

import math
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from tests.support.images import build_package, make_signing_key, register_signing_key

from bench.dice_devices import OS_VERSION
from bench.failure_load import FAILURES_PATH, STATUS_PATH, failure_event
from bench.update_target import CertifiedDevice, TlsServiceTarget
from sevenfold.agent.update_setup import package_target
from sevenfold.protocol.failures import FailureKind
from sevenfold.protocol.updates import (
    ImageType,
    TargetDescription,
    UpdateState,
    UpdateStatusReport,
)

POLL_INTERVAL_S = 0.01
REQUEST_TIMEOUT_S = 60.0
HALT_TIMEOUT_S = 60.0
SOAK_S = 86_400
EVAL_WINDOW_DAYS = 7
IMAGE_PAYLOAD_BYTES = 4096
EVALUATION_GROUP = "Production OS Evaluation"  # a default group on retail-eval


@dataclass(frozen=True, slots=True)
class HaltRun:
    """One measured halt."""

    rollout_id: str
    version: str
    wave_open_wait_s: float
    crossing_failure: int  # the 1-based failure that crossed the threshold
    latency_s: float
    polls: int


@dataclass(frozen=True, slots=True)
class HaltFigures:
    """Halt latency over several runs."""

    runs: list[HaltRun]
    devices: int
    threshold_percent: float

    @property
    def median_ms(self) -> float:
        """Median latency, milliseconds."""
        if not self.runs:
            return math.nan
        return statistics.median(run.latency_s for run in self.runs) * 1000

    @property
    def max_ms(self) -> float:
        """Largest latency, milliseconds."""
        if not self.runs:
            return math.nan
        return max(run.latency_s for run in self.runs) * 1000

    def to_json(self) -> dict[str, Any]:
        """Every figure, unrounded."""
        return {
            "devices": self.devices,
            "threshold_percent": self.threshold_percent,
            "median_ms": self.median_ms,
            "max_ms": self.max_ms,
            "runs": [
                {
                    "rollout_id": run.rollout_id,
                    "version": run.version,
                    "wave_open_wait_s": run.wave_open_wait_s,
                    "crossing_failure": run.crossing_failure,
                    "latency_s": run.latency_s,
                    "polls": run.polls,
                }
                for run in self.runs
            ],
        }


def crossing_failure(devices: int, threshold_percent: float) -> int:
    """The 1-based failure after which strictly more than ``threshold_percent`` of
    ``devices`` failed (``protocol.rollouts.judge``)."""
    for failed in range(1, devices + 1):
        if 100.0 * failed > threshold_percent * devices:
            return failed
    raise ValueError("the threshold can never be crossed")


def _operator(service: TlsServiceTarget) -> httpx.Client:
    return httpx.Client(
        base_url=service.base_url,
        headers=service.headers,
        verify=service.tls.client_context(),
        trust_env=False,
        timeout=REQUEST_TIMEOUT_S,
    )


def _device(service: TlsServiceTarget, device: CertifiedDevice) -> httpx.Client:
    return httpx.Client(
        base_url=service.base_url,
        verify=device.context,
        trust_env=False,
        timeout=REQUEST_TIMEOUT_S,
    )


def _answered(response: httpx.Response) -> Any:
    """The JSON body of a successful answer."""
    if response.status_code >= 400:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: "
            f"HTTP {response.status_code} {response.text[:300]}"
        )
    return response.json()


class HaltBench:
    """Runs halts against one service: the operator's client, the devices'."""

    def __init__(
        self,
        service: TlsServiceTarget,
        devices: list[CertifiedDevice],
        workdir: Path,
        *,
        threshold_percent: float,
    ) -> None:
        self._service = service
        self._devices = devices
        self._workdir = workdir
        self._threshold = threshold_percent
        self._key = make_signing_key()
        self._operator = _operator(service)
        self._clients = {d.device_id: _device(service, d) for d in devices}
        register_signing_key(self._operator, service.token, self._key, platform=True)
        # Only these devices take OS releases under evaluation: they move to the
        # product's evaluation group (retail-eval), so every rollout holds them all.
        groups = _answered(
            self._operator.get(
                "/api/v1/device-groups", params={"product_id": service.product_id}
            )
        )
        evaluation = next(g["id"] for g in groups if g["name"] == EVALUATION_GROUP)
        for device in devices:
            _answered(
                self._operator.patch(
                    f"/api/v1/devices/{device.device_id}",
                    json={"device_group_id": evaluation},
                )
            )

    def close(self) -> None:
        """Close every client."""
        self._operator.close()
        for client in self._clients.values():
            client.close()

    def measure(self, runs: int) -> HaltFigures:
        """``runs`` halts, each of a new release."""
        measured = [self._one(f"30.{index + 1}") for index in range(runs)]
        return HaltFigures(measured, len(self._devices), self._threshold)

    def _publish(self, version: str) -> tuple[dict[str, Any], TargetDescription]:
        package = build_package(
            self._key,
            payload=os.urandom(IMAGE_PAYLOAD_BYTES),
            kind=ImageType.OS,
            version=version,
            security_version=1,
        )
        package_file = self._workdir / f"os-{version}.pkg"
        package_file.write_bytes(package)
        image = _answered(
            self._operator.post(
                "/api/v1/images",
                content=package,
                headers={"Content-Type": "application/octet-stream"},
            )
        )
        release = _answered(
            self._operator.post(
                "/api/v1/os-releases",
                json={"image_id": image["id"], "eval_window_days": EVAL_WINDOW_DAYS},
            )
        )
        return release, package_target(package_file)

    def _rollout(self, release_id: str) -> dict[str, Any]:
        created: dict[str, Any] = _answered(
            self._operator.post(
                "/api/v1/rollouts",
                json={
                    "os_release_id": release_id,
                    "os_feed": "retail-eval",
                    "waves": [{"size": 100, "unit": "percent", "min_soak_s": SOAK_S}],
                    "policy": {
                        "min_devices": len(self._devices),
                        "threshold_percent": self._threshold,
                    },
                },
            )
        )
        return created

    def _show(self, rollout_id: str) -> dict[str, Any]:
        shown: dict[str, Any] = _answered(
            self._operator.get(f"/api/v1/rollouts/{rollout_id}")
        )
        return shown

    def _wait_for(self, rollout_id: str, done: Any, what: str) -> dict[str, Any]:
        deadline = time.perf_counter() + HALT_TIMEOUT_S
        while True:
            shown = self._show(rollout_id)
            if done(shown):
                return shown
            if time.perf_counter() > deadline:
                raise RuntimeError(f"rollout {rollout_id}: {what} timed out: {shown}")
            time.sleep(POLL_INTERVAL_S)

    def _one(self, version: str) -> HaltRun:
        release, target = self._publish(version)
        rollout = self._rollout(release["id"])
        if rollout["waves"][0]["devices"] != len(self._devices):
            raise RuntimeError(f"the wave holds {rollout['waves'][0]['devices']}")
        rollout_id = rollout["id"]
        created = time.perf_counter()
        self._wait_for(
            rollout_id, lambda r: r["waves"][0]["opened_at"] is not None, "opening"
        )
        opened_wait_s = time.perf_counter() - created
        downloading = UpdateStatusReport(
            state=UpdateState.DOWNLOADING,
            os_version=OS_VERSION,
            targeted=(target.as_installed(),),
        ).to_json()
        for device in self._devices:
            client = self._clients[device.device_id]
            _answered(client.post(STATUS_PATH, json=downloading))
        self._wait_for(
            rollout_id,
            lambda r: r["waves"][0]["ran"] == len(self._devices),
            "every device running the update",
        )
        crossing = crossing_failure(len(self._devices), self._threshold)
        for number, device in enumerate(self._devices[:crossing], start=1):
            if number == crossing and self._show(rollout_id)["state"] != "running":
                raise RuntimeError(f"rollout {rollout_id} stopped before crossing")
            batch = {
                "events": [
                    failure_event(FailureKind.UPDATE_FAILURE, image_id=target.image_id)
                ],
                "dropped_total": 0,
            }
            client = self._clients[device.device_id]
            sent = time.perf_counter()
            _answered(client.post(FAILURES_PATH, json=batch))
        polls = 0
        while True:
            polls += 1
            state = self._show(rollout_id)["state"]
            if state == "paused":
                latency_s = time.perf_counter() - sent
                break
            if time.perf_counter() - sent > HALT_TIMEOUT_S:
                raise RuntimeError(f"rollout {rollout_id} did not halt ({state})")
            time.sleep(POLL_INTERVAL_S)
        return HaltRun(rollout_id, version, opened_wait_s, crossing, latency_s, polls)
