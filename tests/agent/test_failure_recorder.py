"""What gets recorded (docs/failures.md §1): network failures classified from the
errors the agent's own client raises against real sockets, app exits, and the
recorder's keys and context."""

import asyncio
import contextlib
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sevenfold.agent.config import AgentConfig, ProxyConfig
from sevenfold.agent.errors import (
    FailureUploadError,
    FailureUploadRefusedError,
    NoDeviceIdentityError,
    ProxyAuthenticationError,
    UpdateUnreachableError,
)
from sevenfold.agent.failure_queue import FailureQueue
from sevenfold.agent.failure_recorder import (
    QueueFailureRecorder,
    classify_network_failure,
)
from sevenfold.agent.failure_upload import FailureReportClient
from sevenfold.agent.measurements import FixedMeasurementSource
from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.failures import (
    FailureBatch,
    FailureKind,
    NetworkFailureKind,
    parse_failure_batch,
)
from tests.api.attestation_support import running
from tests.support.live_server import free_port

EMPTY = FailureBatch(events=())


@contextlib.contextmanager
def scripted_server(answer: bytes | None, *, read_first: bool = True) -> Iterator[int]:
    """A TCP server on 127.0.0.1 that, per connection, reads the request (when
    ``read_first``) and sends ``answer`` then closes; ``None``: says nothing and
    keeps the connection open until the block ends."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stopping = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stopping.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if answer is None:
                held.append(connection)
                continue
            with connection:
                connection.settimeout(2)
                with contextlib.suppress(OSError):
                    if read_first:
                        connection.recv(65536)
                    connection.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stopping.set()
        thread.join(timeout=5)
        listener.close()
        for connection in held:
            connection.close()


def _config(tmp_path: Path, url: str, **overrides: object) -> AgentConfig:
    settings: dict[str, object] = {
        "state_dir": tmp_path,
        "server_url": url,
        "measurements": FixedMeasurementSource(measurements=running()),
        "connect_timeout_s": 2.0,
        "read_timeout_s": 0.3,
        "deadline_s": 5.0,
    }
    settings.update(overrides)
    return AgentConfig(**settings)  # type: ignore[arg-type]


def _upload_error(config: AgentConfig) -> FailureUploadError:
    client = FailureReportClient(config)
    with pytest.raises(FailureUploadError) as caught:
        asyncio.run(client.upload(EMPTY))
    return caught.value


def test_a_refused_connection_is_a_connect_failure(tmp_path: Path) -> None:
    error = _upload_error(_config(tmp_path, f"http://127.0.0.1:{free_port()}"))
    assert classify_network_failure(error) is NetworkFailureKind.CONNECT


def test_an_unknown_host_is_a_dns_failure(tmp_path: Path) -> None:
    error = _upload_error(_config(tmp_path, "http://sevenfold-no-such-host.invalid"))
    assert classify_network_failure(error) is NetworkFailureKind.DNS


def test_a_silent_service_is_a_timeout(tmp_path: Path) -> None:
    with scripted_server(None) as port:
        error = _upload_error(_config(tmp_path, f"http://127.0.0.1:{port}"))
    assert classify_network_failure(error) is NetworkFailureKind.TIMEOUT


def test_a_service_that_is_not_tls_is_a_tls_failure(tmp_path: Path) -> None:
    with scripted_server(b"HTTP/1.1 400 Bad Request\r\n\r\n" * 4) as port:
        error = _upload_error(_config(tmp_path, f"https://127.0.0.1:{port}"))
    assert classify_network_failure(error) is NetworkFailureKind.TLS


def test_a_connection_closed_without_an_answer_is_a_reset(tmp_path: Path) -> None:
    with scripted_server(b"") as port:
        error = _upload_error(_config(tmp_path, f"http://127.0.0.1:{port}"))
    assert classify_network_failure(error) is NetworkFailureKind.RESET


def test_a_5xx_answer_is_an_http_failure_and_a_4xx_is_none(tmp_path: Path) -> None:
    unavailable = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"
    with scripted_server(unavailable) as port:
        error = _upload_error(_config(tmp_path, f"http://127.0.0.1:{port}"))
    assert classify_network_failure(error) is NetworkFailureKind.HTTP
    refused = b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n"
    with scripted_server(refused) as port:
        error = _upload_error(_config(tmp_path, f"http://127.0.0.1:{port}"))
    assert classify_network_failure(error) is None
    status = UpdateUnreachableError("update-status answered 502")
    assert classify_network_failure(status) is NetworkFailureKind.HTTP


def test_a_422_answer_is_a_refusal_not_a_network_failure(tmp_path: Path) -> None:
    refused = (
        b"HTTP/1.1 422 Unprocessable Entity\r\ncontent-type: application/problem+json"
        b"\r\ncontent-length: 2\r\n\r\n{}"
    )
    with scripted_server(refused) as port:
        error = _upload_error(_config(tmp_path, f"http://127.0.0.1:{port}"))
    assert isinstance(error, FailureUploadRefusedError)
    assert classify_network_failure(error) is None


def test_a_proxy_refusing_the_tunnel_is_a_proxy_failure(tmp_path: Path) -> None:
    refused = b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n"
    with scripted_server(refused) as port:
        proxy = ProxyConfig(url=f"http://127.0.0.1:{port}")
        error = _upload_error(_config(tmp_path, "https://service.example", proxy=proxy))
    assert classify_network_failure(error) is NetworkFailureKind.PROXY
    wrong_password = ProxyAuthenticationError("the proxy refused the credentials")
    assert classify_network_failure(wrong_password) is NetworkFailureKind.PROXY


def test_no_certificate_yet_is_not_a_network_failure() -> None:
    error = UpdateUnreachableError("no device certificate yet; attest first")
    assert classify_network_failure(error) is None


def test_a_trial_boots_unusable_certificate_is_not_a_tls_network_failure() -> None:
    """A trial boot derives a new Alias key; until it re-attests the old certificate
    does not match it. The SSLError underneath is local, not the link's."""
    mismatch = ssl.SSLError("[X509: KEY_VALUES_MISMATCH] key values mismatch")
    error = NoDeviceIdentityError(f"no mTLS context: {mismatch}")
    error.__cause__ = mismatch
    assert classify_network_failure(mismatch) is NetworkFailureKind.TLS
    assert classify_network_failure(error) is None


def _recorder(tmp_path: Path, clock: ManualClock) -> QueueFailureRecorder:
    return QueueFailureRecorder(
        FailureQueue(tmp_path, clock=clock),
        server_url="https://sevenfold.example:8443",
        proxy_url="http://proxy.example:3128",
        os_version=lambda: "26.11",
    )


def test_app_exits_are_recorded_by_component_and_exit_code_or_signal(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    recorder = _recorder(tmp_path, clock)
    recorder.record_app_exit("app-1", "image-1", exit_code=3)
    clock.advance(60)
    recorder.record_app_exit("app-1", "image-1", exit_code=3)
    recorder.record_app_exit("app-1", "image-1", exit_code=4)
    recorder.record_app_exit("app-2", None, signal=11)
    recorder.record_app_exit("app-2", None, exit_code=0)  # a clean exit

    crashes = recorder.queue.snapshot().records
    assert [(e.key, e.count) for e in crashes] == [
        ("app-crash:app-1:exit code 3", 2),
        ("app-crash:app-1:exit code 4", 1),
        ("app-crash:app-2:signal 11", 1),
    ]
    first, _, killed = crashes
    assert first.kind is FailureKind.APP_CRASH
    assert (first.component_id, first.image_id, first.exit_code) == (
        "app-1",
        "image-1",
        3,
    )
    assert first.last_at - first.first_at == clock.now() - first.first_at
    assert (killed.signal, killed.exit_code) == (11, None)
    assert {e.os_version for e in crashes} == {"26.11"}
    assert recorder.recorded.is_set()


def test_network_failures_name_the_host_that_failed(tmp_path: Path) -> None:
    recorder = _recorder(tmp_path, ManualClock())
    recorder.network_failed(UpdateUnreachableError("update-status answered 503"), "x")
    recorder.network_failed(ProxyAuthenticationError("407"), "attestation")
    recorder.network_failed(UpdateUnreachableError("no certificate yet"), "x")

    http, proxy = recorder.queue.snapshot().records
    assert (http.key, http.network_kind, http.host) == (
        "network-failure:http:sevenfold.example",
        NetworkFailureKind.HTTP,
        "sevenfold.example",
    )
    assert (proxy.network_kind, proxy.host) == (
        NetworkFailureKind.PROXY,
        "proxy.example",
    )
    assert http.description.startswith("x: UpdateUnreachableError")


def test_update_kinds_are_keyed_by_image(tmp_path: Path) -> None:
    recorder = _recorder(tmp_path, ManualClock())
    recorder.update_failed("image-1", "target-refused", "bad hash")
    recorder.update_failed("image-1", "target-refused", "bad hash again")
    recorder.bad_slot_boot("image-1", "trial unhealthy")
    recorder.rolled_back("image-1", "rolled back")
    recorder.attestation_failed("measurement-not-approved", "refused")

    records = recorder.queue.snapshot().records
    assert [(e.kind, e.key, e.count) for e in records] == [
        (FailureKind.UPDATE_FAILURE, "update-failure:image-1:target-refused", 2),
        (FailureKind.BAD_SLOT_BOOT, "bad-slot-boot:image-1", 1),
        (FailureKind.ROLLBACK, "rollback:image-1", 1),
        (
            FailureKind.ATTESTATION_FAILURE,
            "attestation-failure:measurement-not-approved",
            1,
        ),
    ]
    assert {e.image_id for e in records[:3]} == {"image-1"}


def test_a_broken_os_version_source_does_not_lose_the_record(tmp_path: Path) -> None:
    def broken() -> str | None:
        raise RuntimeError("the backend is not booted")

    recorder = QueueFailureRecorder(
        FailureQueue(tmp_path, clock=ManualClock()),
        server_url="http://127.0.0.1:1",
        os_version=broken,
    )
    recorder.record_app_exit("app-1", None, exit_code=1)
    (record,) = recorder.queue.snapshot().records
    assert record.os_version is None


def test_text_no_database_stores_is_replaced_not_left_to_cost_the_record(
    tmp_path: Path,
) -> None:
    """A NUL or a lone surrogate (a hostile proxy's error text, an app's bytes
    decoded with surrogateescape) would make the service refuse the batch."""
    recorder = _recorder(tmp_path, ManualClock())
    recorder.attestation_failed("refused\x00", "proxy said \udcff\x00 no")
    (record,) = recorder.queue.snapshot().records
    assert record.key == "attestation-failure:refused\ufffd"
    assert record.description == "attestation refused\ufffd: proxy said \ufffd\ufffd no"
    wire = json.loads(json.dumps(FailureBatch(events=(record,)).to_json()))
    assert parse_failure_batch(wire).events == (record,)
