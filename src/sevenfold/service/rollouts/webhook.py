"""The halt webhook: a signed JSON POST to the operator's endpoint when a rollout
halts itself (docs/failures.md §4).

The body is signed with HMAC-SHA256 under a shared secret (``X-Sevenfold-Signature:
sha256=<hex>``) so the receiver can refuse a forged halt notice (threat: anyone who
knows the URL posting fake "halted" events to trigger the operator's automation).
The secret is read once at startup and never logged. Delivery runs outside any
database transaction, with a short timeout and three tries with exponential
backoff; its outcome is stored on the rollout.
"""

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from sevenfold.protocol.clock import Clock
from sevenfold.service.rollouts.errors import WebhookSecretError
from sevenfold.service.rollouts.models import Rollout

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Sevenfold-Signature"
HALT_EVENT = "rollout.halted"
DELIVERY_TRIES = 3
FIRST_BACKOFF_S = 0.5
DEFAULT_TIMEOUT_S = 5.0
MAX_SECRET_BYTES = 4096
MAX_ERROR_CHARS = 200


def load_webhook_secret(path: Path) -> bytes:
    """The signing secret in ``path`` (surrounding whitespace stripped).

    Raises:
        WebhookSecretError: the file is unreadable, empty or oversized (the
            message names the file, never its content).
    """
    try:
        with path.open("rb") as handle:
            secret = handle.read(MAX_SECRET_BYTES + 1).strip()
    except OSError as err:
        raise WebhookSecretError(
            f"cannot read the rollout webhook secret file {path}: {err.strerror}"
        ) from err
    if not secret or len(secret) > MAX_SECRET_BYTES:
        raise WebhookSecretError(
            f"the rollout webhook secret file {path} holds 1-{MAX_SECRET_BYTES} bytes"
        )
    return secret


def signature(secret: bytes, body: bytes) -> str:
    """The ``X-Sevenfold-Signature`` value of ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class HaltNotice:
    """What the webhook says about one halted rollout."""

    rollout_id: str
    payload: dict[str, Any]

    def body(self) -> bytes:
        """The JSON body (compact, keys sorted: the bytes that are signed)."""
        return json.dumps(
            {"event": HALT_EVENT, "rollout": self.payload},
            sort_keys=True,
            separators=(",", ":"),
        ).encode()


class HaltWebhook:
    """Delivers halt notices to one URL and records the outcome on the rollout."""

    def __init__(
        self,
        *,
        url: str,
        secret: bytes | None,
        session_factory: sessionmaker[Session],
        clock: Clock,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        first_backoff_s: float = FIRST_BACKOFF_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._url = url
        self._secret = secret
        self._session_factory = session_factory
        self._clock = clock
        self._timeout_s = timeout_s
        self._first_backoff_s = first_backoff_s
        self._sleep = sleep

    def __repr__(self) -> str:  # never show the secret
        return f"HaltWebhook(url={self._url!r}, signed={self._secret is not None})"

    def deliver(self, notice: HaltNotice) -> bool:
        """POST the notice (up to ``DELIVERY_TRIES`` times), then store
        ``webhook_delivered_at`` or ``webhook_error``; True when delivered.
        Blocking: run it off the event loop and outside any transaction."""
        body = notice.body()
        headers = {"Content-Type": "application/json"}
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = signature(self._secret, body)
        error = "not tried"
        for attempt in range(DELIVERY_TRIES):
            if attempt:
                self._sleep(self._first_backoff_s * 2 ** (attempt - 1))
            try:
                response = httpx.post(
                    self._url,
                    content=body,
                    headers=headers,
                    timeout=self._timeout_s,
                    follow_redirects=False,
                )
            except httpx.HTTPError as err:
                error = f"{type(err).__name__}: {err}"
            else:
                if 200 <= response.status_code < 300:
                    self._record(notice.rollout_id, delivered=True, error=None)
                    log.info("rollout.webhook.delivered id=%s", notice.rollout_id)
                    return True
                error = f"HTTP {response.status_code}"
            log.warning(
                "rollout.webhook.retry id=%s attempt=%d error=%s",
                notice.rollout_id,
                attempt + 1,
                error,
            )
        self._record(notice.rollout_id, delivered=False, error=error)
        log.error("rollout.webhook.failed id=%s error=%s", notice.rollout_id, error)
        return False

    def _record(self, rollout_id: str, *, delivered: bool, error: str | None) -> None:
        values: dict[str, object] = (
            {"webhook_delivered_at": self._clock.now(), "webhook_error": None}
            if delivered
            else {"webhook_error": (error or "")[:MAX_ERROR_CHARS]}
        )
        with self._session_factory() as session:
            session.execute(
                update(Rollout).where(Rollout.id == rollout_id).values(**values)
            )
            session.commit()
