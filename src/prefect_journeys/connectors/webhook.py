"""The outgoing webhook channel: signed JSON POSTs with an idempotency key.

Each request carries ``Idempotency-Key: <intent id>``, so a receiver that honours it acts once
however often the same intent arrives. That makes repeating safe where it is not for email or SMS:
this channel also retries 5xx answers and timeouts, with backoff, and reports ``unknown`` only
when every attempt ended that way.

Signature: ``X-Journeys-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`` with
``X-Journeys-Timestamp: <unix seconds>``; receivers check it with :func:`verify_signature`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from prefect_journeys.connectors.base import ChannelStats, OutboundMessage, SendOutcome
from prefect_journeys.connectors.retry import (
    Backoff,
    Clock,
    Retrier,
    Sleep,
    WaitBudget,
    classify_transport_error,
    retry_after_seconds,
)

if TYPE_CHECKING:
    from prefect_journeys.blocks.webhook import WebhookCredentials

SIGNATURE_HEADER = "X-Journeys-Signature"
TIMESTAMP_HEADER = "X-Journeys-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def _secret_bytes(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def sign(secret: str | bytes, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``: ``v1=<hex>``."""
    mac = hmac.new(_secret_bytes(secret), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify_signature(
    secret: str | bytes,
    timestamp: str | None,
    body: bytes | str,
    header: str | None,
    tolerance: float = 300,
    *,
    now: float | None = None,
) -> bool:
    """True when ``header`` signs ``body`` at ``timestamp`` with ``secret``, and ``timestamp``
    is within ``tolerance`` seconds of now (replays of old requests fail).

    ``header`` may list several comma-separated signatures (during a secret rotation); one
    matching ``v1=`` entry suffices. Comparison is constant-time.
    """
    if not timestamp or not header:
        return False
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent) > tolerance:
        return False
    raw = body.encode() if isinstance(body, str) else body
    expected = sign(secret, timestamp, raw)
    return any(
        hmac.compare_digest(expected, candidate.strip())
        for candidate in header.split(",")
        if candidate.strip().startswith("v1=")
    )


class WebhookChannel:
    """POSTs ``webhook`` messages to the block's URL, signed, one request per message.

    Options: ``sleep``, ``clock`` (Unix time for the timestamp header), ``max_retries``,
    ``max_wait`` (seconds one batch may spend waiting), ``client`` (an ``httpx.Client``), ``rng``.
    """

    name = "webhook"
    transactional = False

    def __init__(
        self,
        credentials: WebhookCredentials,
        *,
        sleep: Sleep = time.sleep,
        clock: Clock = time.time,
        max_retries: int = 4,
        max_wait: float = 60.0,
        client: httpx.Client | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.credentials = credentials
        self.client = client or credentials.get_client()
        self.backoff = Backoff(
            max_retries=max_retries, max_wait=max_wait, sleep=sleep, rng=rng or random.Random()
        )
        self._clock = clock
        self.stats = ChannelStats()

    def document(self, message: OutboundMessage) -> dict[str, Any]:
        """The JSON document POSTed for ``message``."""
        data = message.payload
        if data is None:
            data = {"subject": message.subject, "body": message.body}
        return {
            "intent_id": message.intent_id,
            "customer_id": message.customer_id,
            "journey": message.tags.get("journey"),
            "version": message.tags.get("version"),
            "step": message.tags.get("step"),
            "sent_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "data": data,
        }

    def send_batch(self, messages: Sequence[OutboundMessage]) -> list[SendOutcome]:
        budget = self.backoff.budget()
        outcomes: list[SendOutcome] = []
        auth_error: str | None = None
        for message in messages:
            if message.channel != "webhook":
                error = f"the webhook sender sends webhook messages, not {message.channel}"
                outcomes.append(SendOutcome(message.intent_id, "failed", error=error))
            elif auth_error is not None:
                outcomes.append(SendOutcome(message.intent_id, "failed", error=auth_error))
            elif budget.stopped:
                after = budget.stopped_retry_after
                outcomes.append(SendOutcome(message.intent_id, "retry", retry_after=after))
            else:
                outcome = self._send_one(message, budget)
                if outcome.error and outcome.error.startswith("credentials rejected"):
                    auth_error = outcome.error
                outcomes.append(outcome)
        return outcomes

    def _send_one(self, message: OutboundMessage, budget: WaitBudget) -> SendOutcome:
        intent = message.intent_id
        try:
            body = json.dumps(
                self.document(message), separators=(",", ":"), ensure_ascii=False
            ).encode()
        except (TypeError, ValueError):
            return SendOutcome(intent, "failed", error="payload is not JSON-serialisable")
        secret = self.credentials.secret.get_secret_value()
        retrier = Retrier(self.backoff, budget)
        maybe_received = False  # some attempt may have reached the receiver
        last_error = ""
        while True:
            timestamp = str(int(self._clock()))  # fresh per attempt: stays within tolerance
            headers = {
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: sign(secret, timestamp, body),
                IDEMPOTENCY_HEADER: str(intent),
            }
            self.stats.requests += 1
            wait_at_least: float | None = None
            try:
                response = self.client.post(self.credentials.url, content=body, headers=headers)
            except Exception as exc:
                if classify_transport_error(exc) == "ambiguous":
                    maybe_received = True  # timeout / dropped after sending
                last_error = f"webhook: no answer ({type(exc).__name__})"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return SendOutcome(intent, "sent", provider_id=f"webhook-{intent}")
                if status in (401, 403):
                    return SendOutcome(
                        intent,
                        "failed",
                        error=f"credentials rejected by the webhook receiver (HTTP {status}): "
                        "check the URL and the signing secret",
                    )
                if status == 429:
                    wait_at_least = retry_after_seconds(response.headers)
                elif status == 408 or status >= 500:
                    # The receiver may have acted; repeating is safe thanks to Idempotency-Key.
                    maybe_received = True
                    wait_at_least = retry_after_seconds(response.headers)
                else:  # refused: not delivered, repeating won't help
                    return SendOutcome(intent, "failed", error=f"webhook HTTP {status}")
                last_error = f"webhook HTTP {status}"
            if retrier.wait(wait_at_least):
                self.stats.retries += 1
                continue
            if maybe_received:
                return SendOutcome(intent, "unknown", error=f"{last_error}, outcome unknown")
            return SendOutcome(intent, "retry", error=last_error, retry_after=retrier.last_delay)

    def close(self) -> None:
        self.client.close()
