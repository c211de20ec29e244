"""Download throughput of an OS image: the agent's fetcher next to ``curl``.

The image is fetched from the service's target route
(``GET /api/v1/device/tuf/targets/blobs/{sha256}``) over HTTPS with a device's
client certificate, and from a plain static mirror of the artifact directory
(``python -m http.server`` over ``artifacts/blobs``, plain HTTP). Each way runs
``repeats`` times; the median is reported.

* **agent**: ``UpdateFetcher.fetch`` (the real transport, default chunk size
  ``DEFAULT_CHUNK_BYTES``), a fresh fetcher (so a fresh connection and handshake)
  per download, the body iterated and dropped: transport only, as for curl (the
  agent's ngclient then writes and hashes it).
* **curl**: ``curl --cert --key --cacert -o /dev/null``, timed by curl's own
  ``time_total`` (connect and handshake included, process start not).

MB/s is 10^6 bytes per second.
"""

import contextlib
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.load import LOOPBACK
from bench.update_target import CertifiedDevice, UpdateTarget
from sevenfold.agent.update_fetcher import (
    DEFAULT_CHUNK_BYTES,
    FetcherSettings,
    UpdateFetcher,
)

BLOBS_PATH = "/api/v1/device/tuf/targets/blobs/"
CURL_TIMEOUT_S = 600.0
MIRROR_STOP_TIMEOUT_S = 15.0
SERVICE_SOURCE = "service target route, HTTPS + client certificate"
MIRROR_SOURCE = "static mirror (http.server), plain HTTP"
_SERVING = re.compile(rb"Serving HTTP on \S+ port (\d+)")


@dataclass(frozen=True, slots=True, kw_only=True)
class DownloadResult:
    """One way of downloading the image, ``repeats`` times."""

    source: str
    client: str
    size_bytes: int
    seconds: tuple[float, ...]

    @property
    def median_s(self) -> float:
        """The median download time."""
        return statistics.median(self.seconds)

    @property
    def mb_per_s(self) -> float:
        """10^6 bytes per second at the median time."""
        return self.size_bytes / self.median_s / 1e6 if self.median_s > 0 else 0.0


def fetcher_seconds(url: str, device: CertifiedDevice | None, size_bytes: int) -> float:
    """Download ``url`` once with a fresh ``UpdateFetcher``; return the seconds."""
    settings = FetcherSettings(ssl_context=None if device is None else device.context)
    fetcher = UpdateFetcher(settings)
    started = time.perf_counter()
    received = 0
    for chunk in fetcher.fetch(url):
        received += len(chunk)
    seconds = time.perf_counter() - started
    fetcher.close()
    if received != size_bytes or fetcher.bytes_received != size_bytes:
        raise RuntimeError(f"the fetcher got {received} of {size_bytes} bytes")
    return seconds


def curl_seconds(
    url: str, device: CertifiedDevice | None, ca_file: Path, size_bytes: int
) -> float:
    """Download ``url`` once with ``curl -o /dev/null``; return curl's time_total."""
    tls = (
        []
        if device is None
        else [
            *("--cert", str(device.certificate_file)),
            *("--key", str(device.key_file)),
            *("--cacert", str(ca_file)),
        ]
    )
    result = subprocess.run(
        [
            "curl", "--silent", "--show-error", "--fail", "--noproxy", "*", *tls,
            "--output", "/dev/null", "--write-out", "%{size_download} %{time_total}",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=CURL_TIMEOUT_S,
        check=True,
    )  # fmt: skip
    size_text, seconds_text = result.stdout.split()
    if int(size_text) != size_bytes:
        raise RuntimeError(f"curl got {size_text} of {size_bytes} bytes")
    return float(seconds_text)


@contextlib.contextmanager
def static_mirror(directory: Path, log_file: Path) -> Iterator[str]:
    """``python -m http.server`` over ``directory`` on 127.0.0.1; yield its URL."""
    with log_file.open("ab") as log:
        child = subprocess.Popen(
            [
                sys.executable, "-u", "-m", "http.server", "0",
                "--bind", LOOPBACK, "--directory", str(directory),
            ],
            stdout=subprocess.PIPE,
            stderr=log,
        )  # fmt: skip
    try:
        # Its first line names the port it bound (or it exited: EOF).
        line = child.stdout.readline() if child.stdout else b""
        match = _SERVING.search(line)
        if match is None:
            raise RuntimeError(f"the static mirror did not start: {line.decode()}")
        yield f"http://{LOOPBACK}:{int(match.group(1))}"
    finally:
        child.terminate()
        child.wait(timeout=MIRROR_STOP_TIMEOUT_S)
        if child.stdout:
            child.stdout.close()


def measure_downloads(
    target: UpdateTarget, device: CertifiedDevice, *, repeats: int, workdir: Path
) -> list[DownloadResult]:
    """The agent's fetcher and curl, from the service (mTLS) and from the mirror."""
    size = target.release.length
    sha256 = target.release.sha256
    ca_file = target.service.tls.ca_file
    fetcher_name = f"agent UpdateFetcher ({DEFAULT_CHUNK_BYTES // 1024} KiB chunks)"
    results = []
    with static_mirror(target.artifact_dir, workdir / "mirror.log") as mirror_url:
        sources: list[tuple[str, str, CertifiedDevice | None]] = [
            (SERVICE_SOURCE, target.base_url + BLOBS_PATH + sha256, device),
            (MIRROR_SOURCE, f"{mirror_url}/{sha256}", None),
        ]
        for source, url, tls_device in sources:
            agent = tuple(
                fetcher_seconds(url, tls_device, size) for _ in range(repeats)
            )
            curl = tuple(
                curl_seconds(url, tls_device, ca_file, size) for _ in range(repeats)
            )
            results.append(
                DownloadResult(
                    source=source, client=fetcher_name, size_bytes=size, seconds=agent
                )
            )
            results.append(
                DownloadResult(
                    source=source, client="curl", size_bytes=size, seconds=curl
                )
            )
    return results
