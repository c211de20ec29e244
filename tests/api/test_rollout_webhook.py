"""The halt webhook (docs/failures.md §4) against a real local HTTP receiver: a
signed JSON POST the receiver can check with the shared secret, retried after a
server error, its failure recorded when the receiver is down, and a hanging
receiver never holds up the halt of another rollout."""

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.failures import FailureKind
from sevenfold.service.app import create_app
from sevenfold.service.rollouts.errors import WebhookSecretError
from sevenfold.service.rollouts.webhook import MAX_SECRET_BYTES, SIGNATURE_HEADER
from sevenfold.service.settings import ServiceSettings
from tests.api.evaluator_support import (
    RolloutCase,
    evaluator,
    fail,
    os_rollout,
    quiet,
    rollout_row,
    run,
    wait_for_tick,
)
from tests.conftest import TenantAccess

SECRET = b"webhook-secret-3f9a1c77d2"
HANG = -1
"""A scripted answer: hold the request until the test lets it go."""
ANSWER_TIMEOUT_S = 60.0


@dataclass
class Receiver:
    """A local webhook receiver answering with scripted status codes (200 once
    the script runs out)."""

    answers: list[int] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    signatures: list[str | None] = field(default_factory=list)
    received: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_answer(self, body: bytes, signature: str | None) -> int:
        with self.lock:
            self.bodies.append(body)
            self.signatures.append(signature)
            answer = self.answers.pop(0) if self.answers else 200
        self.received.set()
        if answer == HANG:
            self.release.wait(ANSWER_TIMEOUT_S)
            return 200
        return answer


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            status = receiver.next_answer(body, self.headers.get(SIGNATURE_HEADER))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


@dataclass
class RunningReceiver:
    """The receiver and its server."""

    receiver: Receiver
    server: ThreadingHTTPServer
    url: str

    def stop(self) -> None:
        """Stop answering: later connections are refused."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[RunningReceiver]:
    """A webhook receiver on a loopback port."""
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    running = RunningReceiver(
        state, server, f"http://127.0.0.1:{server.server_address[1]}/hooks/halt"
    )
    yield running
    state.release.set()
    if thread.is_alive():
        running.stop()


@pytest.fixture
def settings(
    settings: ServiceSettings, receiver: RunningReceiver, tmp_path: Path
) -> ServiceSettings:
    """The webhook goes to the local receiver, signed with ``SECRET``."""
    secret_file = tmp_path / "webhook-secret"
    secret_file.write_bytes(SECRET + b"\n")
    return quiet(
        settings,
        rollout_webhook_url=receiver.url,
        rollout_webhook_secret_file=secret_file,
    )


@pytest.fixture
def client(client: TestClient, app: FastAPI) -> TestClient:
    """The client, once the lifespan evaluator's start-up tick is over."""
    wait_for_tick(app)
    return client


def _failing(
    app: FastAPI,
    client: TestClient,
    clock: ManualClock,
    admin: TenantAccess,
    **options: str,
) -> RolloutCase:
    """A rollout 5 of whose 12 devices failed after running it."""
    rollout = os_rollout(app, client, clock, admin, **options)  # type: ignore[arg-type]
    evaluator(app).run_once()
    run(app, clock, rollout, *rollout.devices)
    fail(app, clock, rollout, FailureKind.UPDATE_FAILURE, *rollout.devices[:5])
    return rollout


def _receiver_accepts(body: bytes, signature: str | None) -> bool:
    """What the operator's receiver does: recompute and compare in constant time."""
    expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    return signature is not None and hmac.compare_digest(expected, signature)


def test_a_forged_halt_webhook_fails_the_receivers_signature_check(
    app: FastAPI,
    client: TestClient,
    clock: ManualClock,
    admin: TenantAccess,
    receiver: RunningReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    rollout = _failing(app, client, clock, admin)

    result = evaluator(app).run_once()
    assert result.halted == [rollout.rollout_id]
    assert [delivery.result(ANSWER_TIMEOUT_S) for delivery in result.deliveries] == [
        True
    ]

    [body] = receiver.receiver.bodies
    [signature] = receiver.receiver.signatures
    assert _receiver_accepts(body, signature)
    forged = body.replace(b'"failed":5', b'"failed":0')
    assert forged != body
    assert not _receiver_accepts(forged, signature)  # a tampered body
    assert not _receiver_accepts(body, "sha256=" + "0" * 64)  # a guessed signature
    notice = json.loads(body)
    assert notice["event"] == "rollout.halted"
    assert notice["rollout"]["id"] == rollout.rollout_id
    assert notice["rollout"]["state"] == "paused"
    assert (
        notice["rollout"]["halt_reason"]
        == rollout_row(app, rollout.rollout_id).halt_reason
    )
    assert notice["rollout"]["judgement"]["ran"] == 12
    assert notice["rollout"]["judgement"]["failed"] == 5
    assert notice["rollout"]["target"]["os_release_id"] == rollout.release_id
    stored = rollout_row(app, rollout.rollout_id)
    assert stored.webhook_delivered_at == clock.now()
    assert stored.webhook_error is None
    assert SECRET.decode() not in caplog.text


def test_the_webhook_is_retried_after_a_server_error(
    app: FastAPI,
    client: TestClient,
    clock: ManualClock,
    admin: TenantAccess,
    receiver: RunningReceiver,
) -> None:
    receiver.receiver.answers.extend([500, 503])
    rollout = _failing(app, client, clock, admin)

    result = evaluator(app).run_once()

    assert [delivery.result(ANSWER_TIMEOUT_S) for delivery in result.deliveries] == [
        True
    ]
    assert len(receiver.receiver.bodies) == 3
    assert len(set(receiver.receiver.bodies)) == 1  # the same notice each time
    stored = rollout_row(app, rollout.rollout_id)
    assert stored.webhook_delivered_at is not None
    assert stored.webhook_error is None


def test_the_error_is_recorded_when_the_receiver_is_down(
    app: FastAPI,
    client: TestClient,
    clock: ManualClock,
    admin: TenantAccess,
    receiver: RunningReceiver,
) -> None:
    receiver.stop()
    rollout = _failing(app, client, clock, admin)

    result = evaluator(app).run_once()

    assert result.halted == [rollout.rollout_id]  # the halt does not depend on it
    assert [delivery.result(ANSWER_TIMEOUT_S) for delivery in result.deliveries] == [
        False
    ]
    stored = rollout_row(app, rollout.rollout_id)
    assert stored.state == "paused"
    assert stored.webhook_delivered_at is None
    assert stored.webhook_error is not None
    assert "ConnectError" in stored.webhook_error


def test_a_hanging_webhook_does_not_delay_halting_another_rollout(
    app: FastAPI,
    client: TestClient,
    clock: ManualClock,
    admin: TenantAccess,
    receiver: RunningReceiver,
) -> None:
    receiver.receiver.answers.extend([HANG] * 3)  # every try of the first hangs
    first = _failing(app, client, clock, admin)
    [hanging] = evaluator(app).run_once().deliveries
    assert receiver.receiver.received.wait(ANSWER_TIMEOUT_S)

    second = _failing(
        app,
        client,
        clock,
        admin,
        feed="retail-eval",
        version="27.2",
        product_name="Kettle",
    )
    result = evaluator(app).run_once()

    assert result.halted == [second.rollout_id]
    assert rollout_row(app, second.rollout_id).state == "paused"
    assert not hanging.done()  # the first notice is still held by the receiver
    receiver.receiver.release.set()
    assert [delivery.result(ANSWER_TIMEOUT_S) for delivery in result.deliveries] == [
        True
    ]
    hanging.result(ANSWER_TIMEOUT_S)
    first_row = rollout_row(app, first.rollout_id)
    assert (first_row.webhook_delivered_at, first_row.webhook_error) != (None, None)


def test_an_unusable_webhook_secret_file_refuses_start_up(
    settings: ServiceSettings, tmp_path: Path
) -> None:
    """A configured but missing, empty or oversized secret stops the service from
    starting (rather than sending unsigned notices); the message names the file
    and never shows its content."""
    empty = tmp_path / "empty-secret"
    empty.write_bytes(b"\n")
    oversized = tmp_path / "oversized-secret"
    oversized.write_bytes(b"s" * (MAX_SECRET_BYTES + 1))
    for path in (tmp_path / "missing-secret", empty, oversized):
        broken = settings.model_copy(update={"rollout_webhook_secret_file": path})
        with pytest.raises(WebhookSecretError) as refused:
            create_app(broken)
        assert str(path) in str(refused.value)
        assert "sss" not in str(refused.value)
