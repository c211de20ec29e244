"""The agent's update download transport against a real, misbehaving HTTP server,
a real proxy (tinyproxy) and a real mTLS server, and under python-tuf's ngclient."""

import logging
import random
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from securesystemslib.signer import CryptoSigner
from tuf.api.exceptions import (
    DownloadError,
    DownloadHTTPError,
    DownloadLengthMismatchError,
    LengthOrHashMismatchError,
    SlowRetrievalError,
)
from tuf.api.metadata import (
    TOP_LEVEL_ROLE_NAMES,
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer
from tuf.ngclient import Updater

from sevenfold.agent.config import ProxyConfig
from sevenfold.agent.errors import AgentConfigError
from sevenfold.agent.update_fetcher import FetcherSettings, UpdateFetcher
from tests.agent.tinyproxy import tinyproxy
from tests.support.flaky_http import FlakyServer, etag_of, flaky_http_server
from tests.support.tls_files import key_pem, self_signed, server_tls, write_private

KIB = 1024
MIB = 1024 * KIB
PATH = "/images/app.bin"
PASSWORD = "pr0xy-s3cret"
SEED = 7


def _data(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


class _Harness:
    """A fetcher whose backoff sleeps are recorded, not waited."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def fetcher(self, **overrides: Any) -> UpdateFetcher:
        fields: dict[str, Any] = {
            "connect_timeout_s": 5.0,
            "read_timeout_s": 5.0,
            "deadline_s": 60.0,
            "max_attempts": 4,
            "backoff_base_s": 0.1,
            "backoff_max_s": 2.0,
            "chunk_bytes": 16 * KIB,
        }
        fields.update(overrides)
        return UpdateFetcher(
            FetcherSettings(**fields), rng=random.Random(SEED), sleep=self.sleeps.append
        )


@pytest.fixture
def harness() -> _Harness:
    return _Harness()


@pytest.fixture
def server() -> Iterator[FlakyServer]:
    with flaky_http_server({}) as running:
        yield running


def test_a_link_that_drops_every_64_kib_completes_refetching_at_most_one_chunk_per_drop(
    harness: _Harness, server: FlakyServer
) -> None:
    data = _data(2 * MIB)
    server.files[PATH] = data
    server.flakiness.drop_every_bytes = 64 * KIB
    fetcher = harness.fetcher(chunk_bytes=16 * KIB)

    assert fetcher.download_bytes(server.url + PATH, len(data)) == data

    drops = server.drops[PATH]
    assert drops == 2 * MIB // (64 * KIB) - 1
    assert server.bytes_sent[PATH] <= len(data) + drops * fetcher.settings.chunk_bytes
    assert fetcher.resumes == drops
    assert fetcher.attempts == drops + 1
    assert fetcher.bytes_received == len(data)


def test_a_resume_asks_for_the_exact_byte_it_stopped_at(
    harness: _Harness, server: FlakyServer
) -> None:
    data = _data(250_000)
    server.files[PATH] = data
    server.flakiness.drop_every_bytes = 100_000

    assert harness.fetcher().download_bytes(server.url + PATH, len(data)) == data

    assert [request.range for request in server.requests] == [
        None,
        "bytes=100000-",
        "bytes=200000-",
    ]
    assert server.requests[1].headers["If-Range"] == etag_of(data)


def test_a_server_that_ignores_range_cannot_splice_a_restarted_body_in(
    harness: _Harness, server: FlakyServer
) -> None:
    server.files[PATH] = _data(200_000)
    server.flakiness.drop_every_bytes = 50_000
    server.flakiness.ignore_range = True

    with pytest.raises(DownloadError, match="Range request with HTTP 200"):
        harness.fetcher().download_bytes(server.url + PATH, 200_000)


def test_a_file_replaced_mid_download_is_refused_not_spliced(
    harness: _Harness, server: FlakyServer
) -> None:
    server.files[PATH] = _data(200_000, seed=1)
    server.flakiness.drop_every_bytes = 50_000
    server.flakiness.replace_after_first_drop[PATH] = _data(200_000, seed=2)

    with pytest.raises(DownloadError, match="ETag"):
        harness.fetcher().download_bytes(server.url + PATH, 200_000)


def test_a_stalled_server_is_a_slow_retrieval_within_the_deadline(
    harness: _Harness, server: FlakyServer
) -> None:
    server.files[PATH] = _data(100_000)
    server.flakiness.stall_after_bytes = 10_000
    fetcher = harness.fetcher(read_timeout_s=0.3, deadline_s=1.0, max_attempts=100)

    with pytest.raises(SlowRetrievalError):
        fetcher.download_bytes(server.url + PATH, 100_000)


@pytest.mark.parametrize("before_headers", [True, False])
def test_a_server_that_stalls_on_every_attempt_is_a_slow_retrieval(
    harness: _Harness, server: FlakyServer, before_headers: bool
) -> None:
    server.files[PATH] = _data(100_000)
    server.flakiness.stall_before_headers = before_headers
    server.flakiness.stall_after_bytes = 0
    fetcher = harness.fetcher(read_timeout_s=0.3, max_attempts=2)

    with pytest.raises(SlowRetrievalError):
        fetcher.download_bytes(server.url + PATH, 100_000)
    assert fetcher.attempts == 2


def test_404_is_an_http_error_at_once_without_retries(
    harness: _Harness, server: FlakyServer
) -> None:
    fetcher = harness.fetcher()

    with pytest.raises(DownloadHTTPError) as raised:
        fetcher.download_bytes(server.url + "/missing.json", 1000)

    assert raised.value.status_code == 404
    assert fetcher.attempts == 1
    assert harness.sleeps == []


def test_a_404_keeps_the_connection_for_the_next_request(
    harness: _Harness, server: FlakyServer
) -> None:
    """ngclient's expected 404 for root N+1 must not cost a new TLS handshake."""
    server.files[PATH] = _data(4 * KIB)
    fetcher = harness.fetcher()

    for _ in range(2):
        with pytest.raises(DownloadHTTPError):
            fetcher.download_bytes(server.url + "/2.root.json", 1000)
        assert fetcher.download_bytes(server.url + PATH, 8 * KIB) == server.files[PATH]

    assert len(server.requests) == 4
    assert len({request.peer_port for request in server.requests}) == 1


def test_503s_are_retried_with_growing_jittered_backoff(
    harness: _Harness, server: FlakyServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sevenfold.agent.update_fetcher")
    data = _data(10_000)
    server.files[PATH] = data
    server.flakiness.first_statuses = [503, 503, 503]
    fetcher = harness.fetcher(max_attempts=5, backoff_base_s=0.5, backoff_max_s=30.0)

    assert fetcher.download_bytes(server.url + PATH, len(data)) == data

    caps = [0.5, 1.0, 2.0]
    replay = random.Random(SEED)
    assert harness.sleeps == [replay.uniform(0, cap) for cap in caps]
    assert all(
        0 <= slept <= cap for slept, cap in zip(harness.sleeps, caps, strict=True)
    )
    assert len(set(harness.sleeps)) == 3
    assert fetcher.attempts == 4
    retries = [r for r in caplog.records if r.getMessage().startswith("retrying")]
    assert len(retries) == 3
    assert all(server.url + PATH in r.getMessage() for r in retries)


def test_a_server_failing_every_attempt_is_an_http_error_once_attempts_run_out(
    harness: _Harness, server: FlakyServer
) -> None:
    server.files[PATH] = _data(1000)
    server.flakiness.first_statuses = [503, 503, 503]

    with pytest.raises(DownloadHTTPError) as raised:
        harness.fetcher(max_attempts=3).download_bytes(server.url + PATH, 1000)

    assert raised.value.status_code == 503
    assert len(harness.sleeps) == 2


def test_endless_data_stops_at_max_length(
    harness: _Harness, server: FlakyServer
) -> None:
    server.files[PATH] = _data(50_000)
    server.flakiness.endless = True

    with pytest.raises(DownloadLengthMismatchError):
        harness.fetcher().download_bytes(server.url + PATH, 200_000)
    assert server.bytes_sent[PATH] > 200_000


def test_bytes_beyond_content_length_are_never_handed_on(
    harness: _Harness, server: FlakyServer
) -> None:
    data = _data(30_000)
    server.files[PATH] = data
    server.files["/other.bin"] = b"other"
    server.flakiness.extra_bytes = 5000
    fetcher = harness.fetcher()

    assert fetcher.download_bytes(server.url + PATH, 1 * MIB) == data
    assert fetcher.download_bytes(server.url + "/other.bin", 1 * MIB) == b"other"


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(AgentConfigError):
        FetcherSettings(max_attempts=0)
    with pytest.raises(AgentConfigError):
        FetcherSettings(deadline_s=0)
    with pytest.raises(AgentConfigError):
        FetcherSettings(backoff_base_s=10.0, backoff_max_s=1.0)


def test_downloads_go_through_an_authenticating_proxy_without_logging_its_password(
    harness: _Harness,
    server: FlakyServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    data = _data(300_000)
    server.files[PATH] = data
    url = server.url + PATH
    with tinyproxy(tmp_path, basic_auth=("agent", PASSWORD)) as proxy:
        anonymous = harness.fetcher(proxy=ProxyConfig(url=proxy.url), max_attempts=1)
        with pytest.raises(DownloadError, match=r"through the proxy|proxy refused"):
            anonymous.download_bytes(url, len(data))
        wrong = ProxyConfig(url=proxy.url, username="agent", password="wrong")
        with pytest.raises(DownloadError, match=r"through the proxy|proxy refused"):
            harness.fetcher(proxy=wrong, max_attempts=1).download_bytes(url, len(data))
        assert server.requests == []
        right = ProxyConfig(url=proxy.url, username="agent", password=PASSWORD)
        fetcher = harness.fetcher(proxy=right)
        assert fetcher.download_bytes(url, len(data)) == data
        log = proxy.log()
    assert f"GET {url}" in log
    assert "Proxy-Authorization" not in server.requests[0].headers
    assert PASSWORD not in caplog.text
    assert PASSWORD not in repr(fetcher.settings)


def test_no_proxy_hosts_are_fetched_directly(
    harness: _Harness, server: FlakyServer, tmp_path: Path
) -> None:
    server.files[PATH] = b"direct"
    with tinyproxy(tmp_path) as proxy:
        fetcher = harness.fetcher(
            proxy=ProxyConfig(url=proxy.url), no_proxy=("127.0.0.1",)
        )
        assert fetcher.download_bytes(server.url + PATH, 100) == b"direct"
        log = proxy.log()
    assert PATH not in log


def _client_certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = self_signed(key, "device-under-test")
    certificate_file = directory / "client.pem"
    certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return certificate_file, write_private(directory / "client-key.pem", key_pem(key))


class _MutualTls:
    """A server TLS context requiring a client certificate, and client contexts."""

    def __init__(self, directory: Path) -> None:
        self.files = server_tls(directory / "server")
        certificate, key = _client_certificate(directory)
        self.server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server.load_cert_chain(self.files.certificate_file, self.files.key_file)
        self.server.load_verify_locations(cafile=str(certificate))
        self.server.verify_mode = ssl.CERT_REQUIRED
        self.device = self.files.client_context(certificate, key)
        self.anonymous = self.files.client_context()


def test_mtls_download_needs_the_device_client_certificate(
    harness: _Harness, tmp_path: Path
) -> None:
    tls = _MutualTls(tmp_path)
    data = _data(200_000)
    with flaky_http_server({PATH: data}, tls=tls.server) as tls_server:
        tls_server.flakiness.drop_every_bytes = 64 * KIB
        with_certificate = harness.fetcher(ssl_context=tls.device)
        assert with_certificate.download_bytes(tls_server.url + PATH, len(data)) == data
        assert with_certificate.resumes == tls_server.drops[PATH] > 0

        without = harness.fetcher(ssl_context=tls.anonymous, max_attempts=2)
        with pytest.raises(DownloadError):
            without.download_bytes(tls_server.url + PATH, len(data))
        assert without.bytes_received == 0


def test_a_server_certificate_the_device_does_not_trust_is_refused_at_once(
    harness: _Harness, tmp_path: Path
) -> None:
    tls = _MutualTls(tmp_path)
    with flaky_http_server({PATH: b"image"}, tls=tls.server) as impostor:
        fetcher = harness.fetcher(ssl_context=ssl.create_default_context())
        with pytest.raises(DownloadError, match="TLS failure"):
            fetcher.download_bytes(impostor.url + PATH, 100)
    assert fetcher.attempts == 1
    assert impostor.requests == []


def test_mtls_downloads_tunnel_through_an_authenticating_proxy(
    harness: _Harness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tls = _MutualTls(tmp_path)
    data = _data(200_000)
    with (
        flaky_http_server({PATH: data}, tls=tls.server) as tls_server,
        tinyproxy(tmp_path, basic_auth=("agent", PASSWORD)) as proxy,
    ):
        url = tls_server.url + PATH
        anonymous = harness.fetcher(
            proxy=ProxyConfig(url=proxy.url), ssl_context=tls.device
        )
        with pytest.raises(
            DownloadHTTPError, match="proxy refused the tunnel"
        ) as raised:
            anonymous.download_bytes(url, len(data))
        assert raised.value.status_code == 407
        assert anonymous.attempts == 1
        right = ProxyConfig(url=proxy.url, username="agent", password=PASSWORD)
        fetcher = harness.fetcher(proxy=right, ssl_context=tls.device)
        assert fetcher.download_bytes(url, len(data)) == data
        log = proxy.log()
    assert "CONNECT 127.0.0.1" in log
    assert PASSWORD not in caplog.text


def _tuf_repository(target_name: str, target: bytes) -> dict[str, bytes]:
    """A one-target TUF repository (consistent snapshots) as URL path → bytes."""
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    signers = {role: CryptoSigner.generate_ecdsa() for role in TOP_LEVEL_ROLE_NAMES}
    root = Root(expires=expires, consistent_snapshot=True)
    for role, signer in signers.items():
        root.add_key(signer.public_key, role)
    target_file = TargetFile.from_data(target_name, target, ["sha256"])
    targets = Targets(expires=expires, targets={target_name: target_file})
    snapshot = Snapshot(expires=expires, meta={"targets.json": MetaFile(version=1)})
    timestamp = Timestamp(expires=expires, snapshot_meta=MetaFile(version=1))
    published: dict[str, bytes] = {}
    roles: list[Metadata[Any]] = [
        Metadata(root), Metadata(targets), Metadata(snapshot), Metadata(timestamp)
    ]  # fmt: skip
    for metadata in roles:
        role = metadata.signed.type
        metadata.sign(signers[role])
        name = "timestamp.json" if role == "timestamp" else f"1.{role}.json"
        published[f"/metadata/{name}"] = metadata.to_bytes(JSONSerializer())
    digest = target_file.hashes["sha256"]
    published[f"/targets/{digest}.{target_name}"] = target
    return published


def test_ngclient_downloads_and_verifies_a_target_over_a_link_dropping_every_32_kib(
    harness: _Harness, server: FlakyServer, tmp_path: Path
) -> None:
    image = _data(400_000)
    server.files.update(_tuf_repository("app.bin", image))
    server.flakiness.drop_every_bytes = 32 * KIB
    fetcher = harness.fetcher(chunk_bytes=8 * KIB)
    (tmp_path / "downloads").mkdir()
    updater = Updater(
        str(tmp_path / "metadata"),
        f"{server.url}/metadata/",
        str(tmp_path / "downloads"),
        f"{server.url}/targets/",
        fetcher=fetcher,
        bootstrap=server.files["/metadata/1.root.json"],
    )

    updater.refresh()
    info = updater.get_targetinfo("app.bin")
    assert info is not None
    downloaded = updater.download_target(info)

    assert Path(downloaded).read_bytes() == image
    assert fetcher.resumes >= 400_000 // (32 * KIB)
    assert "/metadata/2.root.json" in [request.path for request in server.requests]


def test_ngclient_rejects_a_target_the_server_swapped(
    harness: _Harness, server: FlakyServer, tmp_path: Path
) -> None:
    server.files.update(_tuf_repository("app.bin", _data(50_000)))
    target_path = next(path for path in server.files if path.startswith("/targets/"))
    server.files[target_path] = _data(50_000, seed=99)
    (tmp_path / "downloads").mkdir()
    updater = Updater(
        str(tmp_path / "metadata"),
        f"{server.url}/metadata/",
        str(tmp_path / "downloads"),
        f"{server.url}/targets/",
        fetcher=harness.fetcher(),
        bootstrap=server.files["/metadata/1.root.json"],
    )
    updater.refresh()
    info = updater.get_targetinfo("app.bin")
    assert info is not None

    with pytest.raises(LengthOrHashMismatchError):
        updater.download_target(info)
