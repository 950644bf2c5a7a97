"""The webhook channel against a small local receiver: signing, idempotency, retries, outcomes."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from prefect_journeys.blocks import WebhookCredentials
from prefect_journeys.connectors.base import Channel, OutboundMessage
from prefect_journeys.connectors.webhook import WebhookChannel, sign, verify_signature

SECRET = "whsec-test-3b8e"


class Receiver:
    """Answers each request with the next planned reply ('drop', 'slow', or a status code)."""

    def __init__(self) -> None:
        self.plan: list[Any] = []
        self.seen: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.seen.append((dict(self.headers.items()), body))
                    reply = receiver.plan.pop(0) if receiver.plan else 200
                if reply == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if reply == "slow":
                    time.sleep(0.6)
                    reply = 200
                status, headers = reply if isinstance(reply, tuple) else (reply, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def server() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def receiver(server: Receiver) -> Receiver:
    server.plan.clear()
    server.seen.clear()
    return server


def channel(url: str, **options: Any) -> tuple[WebhookChannel, list[float]]:
    waits: list[float] = []
    options.setdefault("sleep", waits.append)
    block = WebhookCredentials(url=url, secret=SECRET, timeout_seconds=0.3)  # type: ignore[arg-type]
    return WebhookChannel(block, **options), waits


def message(intent: int, payload: dict[str, Any] | None = None) -> OutboundMessage:
    return OutboundMessage(
        intent_id=intent,
        channel="webhook",
        customer_id=f"c{intent}",
        to=None,
        body="Your cart misses you",
        subject="Cart",
        tags={"journey": "cart", "version": 3, "step": "nudge"},
        payload=payload,
    )


def test_signed_document_verifies_and_carries_the_idempotency_key(receiver: Receiver) -> None:
    hook, _ = channel(receiver.url)
    assert isinstance(hook, Channel)
    outcomes = hook.send_batch([message(7, {"cart": ["sku-1"]}), message(8)])
    assert [(o.intent_id, o.status) for o in outcomes] == [(7, "sent"), (8, "sent")]
    (headers7, body7), (_, body8) = receiver.seen
    assert headers7["Idempotency-Key"] == "7"
    assert verify_signature(
        SECRET, headers7["X-Journeys-Timestamp"], body7, headers7["X-Journeys-Signature"]
    )
    document = json.loads(body7)
    assert {k: document[k] for k in ("intent_id", "customer_id", "journey", "version", "step")} == {
        "intent_id": 7,
        "customer_id": "c7",
        "journey": "cart",
        "version": 3,
        "step": "nudge",
    }
    assert document["data"] == {"cart": ["sku-1"]} and document["sent_at"].endswith("Z")
    assert json.loads(body8)["data"] == {"subject": "Cart", "body": "Your cart misses you"}


def test_verify_signature_rejects_tampering_wrong_secret_and_replays() -> None:
    now = 1_800_000_000
    body = b'{"intent_id":1}'
    header = sign(SECRET, str(now), body)
    assert header.startswith("v1=") and len(header) == 3 + 64
    assert verify_signature(SECRET, str(now), body, header, now=now + 299)
    assert verify_signature(
        SECRET, str(now), body.decode(), f"v1=00, {header}", now=now
    )  # rotation
    assert not verify_signature(SECRET, str(now), body + b" ", header, now=now)
    assert not verify_signature("other", str(now), body, header, now=now)
    assert not verify_signature(SECRET, str(now + 1), body, header, now=now)  # timestamp is signed
    assert not verify_signature(SECRET, str(now), body, header, now=now + 301)  # replay too late
    assert not verify_signature(SECRET, "soon", body, header, now=now)
    assert not verify_signature(SECRET, str(now), body, None, now=now)


def test_5xx_and_drops_are_retried_with_the_same_key(receiver: Receiver) -> None:
    receiver.plan[:] = [503, "drop", (500, {"Retry-After": "2"}), 201]
    hook, waits = channel(receiver.url)
    [outcome] = hook.send_batch([message(11)])
    assert outcome.status == "sent"
    assert [h["Idempotency-Key"] for h, _ in receiver.seen] == ["11"] * 4
    assert len({body for _, body in receiver.seen}) == 1  # the very same document each time
    assert len(waits) == 3 and waits[2] >= 2  # Retry-After honoured
    assert hook.stats.requests == 4 and hook.stats.retries == 3


def test_all_attempts_failing_after_delivery_may_have_happened_is_unknown(
    receiver: Receiver,
) -> None:
    receiver.plan[:] = [500, "slow", 502]  # "slow" outlives the 0.3 s timeout
    hook, _ = channel(receiver.url, max_retries=2)
    [outcome] = hook.send_batch([message(12)])
    assert outcome.status == "unknown" and len(receiver.seen) == 3


def test_429_until_the_budget_is_spent_is_retry_for_the_whole_batch(receiver: Receiver) -> None:
    receiver.plan[:] = [(429, {"Retry-After": "3"})] * 10
    hook, waits = channel(receiver.url, max_wait=8)
    outcomes = hook.send_batch([message(21), message(22)])
    assert [o.status for o in outcomes] == ["retry", "retry"]
    assert outcomes[0].retry_after is not None and outcomes[0].retry_after >= 3
    assert sum(waits) <= 8 and len(waits) == 2
    assert len(receiver.seen) == 3  # the second message was not attempted: the batch gave up


def test_refused_connection_is_retry_not_unknown() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    hook, waits = channel(f"http://127.0.0.1:{port}/hook", max_retries=2)
    [outcome] = hook.send_batch([message(31)])
    assert outcome.status == "retry" and len(waits) == 2  # nothing ever reached a server


def test_4xx_fails_and_401_fails_the_rest_without_requests(receiver: Receiver) -> None:
    receiver.plan[:] = [422, 401]
    hook, _ = channel(receiver.url)
    outcomes = hook.send_batch([message(41), message(42), message(43)])
    assert [o.status for o in outcomes] == ["failed"] * 3
    assert outcomes[0].error == "webhook HTTP 422"
    assert outcomes[1].error is not None and "credentials rejected" in outcomes[1].error
    assert outcomes[2].error == outcomes[1].error
    assert len(receiver.seen) == 2
