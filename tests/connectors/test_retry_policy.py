"""Backoff, rate-limit headers, the token bucket and the transport-error classification."""

from __future__ import annotations

import random
import socket
import threading
import time
import urllib.request
from email.utils import formatdate

import httpx
import pytest
import requests

from prefect_journeys.connectors._privacy import redact
from prefect_journeys.connectors.retry import (
    Backoff,
    Retrier,
    TokenBucket,
    classify_transport_error,
    retry_after_seconds,
)


def test_retry_after_forms() -> None:
    now = 1_700_000_000.0
    assert retry_after_seconds({"Retry-After": "7"}, now=now) == 7
    assert retry_after_seconds({"retry-after": "2.5"}, now=now) == 2.5  # any header case
    assert retry_after_seconds({"Retry-After": formatdate(now + 30, usegmt=True)}, now=now) == 30
    # SendGrid: X-RateLimit-Reset is a Unix time
    assert retry_after_seconds({"X-RateLimit-Reset": str(int(now) + 12)}, now=now) == 12
    # both: the longer wait wins; a reset in the past is no wait
    assert (
        retry_after_seconds({"Retry-After": "3", "X-RateLimit-Reset": str(now + 9)}, now=now) == 9
    )
    assert retry_after_seconds({"X-RateLimit-Reset": str(now - 5)}, now=now) == 0
    assert retry_after_seconds({"Retry-After": "soon"}, now=now) is None
    assert retry_after_seconds(None) is None
    assert retry_after_seconds(httpx.Headers({"RETRY-AFTER": "4"}), now=now) == 4


def test_backoff_is_full_jitter_on_top_of_the_provider_wait() -> None:
    backoff = Backoff(base=0.5, cap=4.0, rng=random.Random(1))
    for attempt in range(8):
        delays = [backoff.delay(attempt) for _ in range(200)]
        ceiling = min(4.0, 0.5 * 2**attempt)
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # really spread, not a constant
        assert all(backoff.delay(attempt, at_least=3.0) >= 3.0 for _ in range(50))


def test_retrier_stops_at_max_retries_and_at_the_shared_budget() -> None:
    waits: list[float] = []
    backoff = Backoff(max_retries=3, max_wait=100, sleep=waits.append, rng=random.Random(2))
    budget = backoff.budget()
    retrier = Retrier(backoff, budget)
    assert [retrier.wait(1.0) for _ in range(4)] == [True, True, True, False]
    assert len(waits) == 3 and all(w >= 1.0 for w in waits)
    # the batch is now stopped: a second request gives up at once, without sleeping
    assert budget.stopped and not Retrier(backoff, budget).wait(None)
    assert len(waits) == 3

    waits.clear()
    tight = Backoff(max_retries=10, max_wait=5.6, sleep=waits.append, rng=random.Random(3))
    retrier = Retrier(tight, tight.budget())
    while retrier.wait(2.0):
        pass
    assert sum(waits) <= 5.6 and len(waits) == 2  # two waits are ≤ 5.5 s, a third ≥ 6 s
    assert retrier.last_delay >= 2.0


def test_token_bucket_paces_threads_to_the_rate() -> None:
    bucket = TokenBucket(50.0)  # strictly paced: one token at a time
    start = time.monotonic()
    threads = [
        threading.Thread(target=lambda: [bucket.acquire() for _ in range(10)]) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    assert elapsed >= 29 / 50 * 0.95  # 30 tokens: the first is free, then one per 20 ms
    assert elapsed < 5.0


def test_token_bucket_with_a_fake_clock_reports_its_waits() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)

    bucket = TokenBucket(2.0, burst=2, clock=lambda: now[0], sleep=sleep)
    assert [bucket.acquire() for _ in range(2)] == [0.0, 0.0]  # the burst
    assert bucket.acquire() == pytest.approx(0.5)
    assert bucket.acquire() == pytest.approx(1.0)  # reserved behind the previous one
    now[0] = 10.0  # idle: refills to the burst, never beyond
    assert [bucket.acquire() for _ in range(3)] == [0.0, 0.0, pytest.approx(0.5)]
    assert slept == pytest.approx([0.5, 1.0, 0.5])


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_refused_connections_are_not_sent_for_every_client_library() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/x"
    errors: list[BaseException] = []
    for call in (
        lambda: urllib.request.urlopen(url, timeout=2),  # SendGrid's SDK
        lambda: requests.get(url, timeout=2),  # Twilio's SDK
        lambda: httpx.get(url, timeout=2),  # webhook
    ):
        with pytest.raises(Exception) as err:
            call()
        errors.append(err.value)
    assert [classify_transport_error(e) for e in errors] == ["not_sent"] * 3


def test_errors_after_the_request_went_out_are_ambiguous() -> None:
    # A server that reads the request and closes without answering.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]

    def serve() -> None:
        for _ in range(3):
            conn, _ = server.accept()
            conn.recv(65536)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}/x"
    errors: list[BaseException] = []
    for call in (
        lambda: urllib.request.urlopen(urllib.request.Request(url, data=b"{}"), timeout=2),
        lambda: requests.post(url, data=b"{}", timeout=2),
        lambda: httpx.post(url, content=b"{}", timeout=2),
    ):
        with pytest.raises(Exception) as err:
            call()
        errors.append(err.value)
    thread.join(5)
    server.close()
    assert [classify_transport_error(e) for e in errors] == ["ambiguous"] * 3
    assert classify_transport_error(TimeoutError("timed out")) == "ambiguous"


def test_redact_removes_addresses_and_numbers_but_keeps_codes() -> None:
    text = redact(
        "21211: The 'To' number +1 415-555-0100 is not valid; whatsapp:+447700900123; "
        "to ada.lovelace+news@example.co.uk, raw 4155550100, HTTP 429 on 2026-03-02"
    )
    for leaked in ("415", "7700", "ada.lovelace", "example.co.uk", "4155550100"):
        assert leaked not in text
    assert text.startswith("21211:") and "HTTP 429" in text and "2026-03-02" in text
