"""Outgoing webhooks (SendGrid events, Twilio status callbacks), delivered in the background.

A *job* is queued when a message is accepted; a few worker threads take jobs in order, wait until
the job is due (``callback_delay`` after it was queued), build its POSTs (so the send path only
queues a closure) and deliver them one after the other over kept-alive connections. A POST that
fails (connection error or a non-2xx answer) is retried up to three times with a short backoff.
"""

from __future__ import annotations

import http.client
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

RETRIES = 3
BACKOFF = 0.05  # seconds before the first retry; doubled each time
POST_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Delivery:
    url: str
    body: bytes
    headers: dict[str, str]


Builder = Callable[[], list[Delivery]]


@dataclass(frozen=True, slots=True)
class _Job:
    due: float  # time.monotonic()
    build: Builder
    generation: int  # discard() bumps the dispatcher's: older jobs are skipped


_Connections = dict[tuple[str, str], http.client.HTTPConnection]


class CallbackDispatcher:
    def __init__(self, workers: int = 4) -> None:
        self._workers = max(1, workers)
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._cond = threading.Condition()
        self._pending = 0
        self._counts = dict.fromkeys(("jobs", "delivered", "failed", "attempt_failures"), 0)
        self._generation = 0

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            return
        self._stopping.clear()
        for number in range(self._workers):
            thread = threading.Thread(
                target=self._work, name=f"emulator-callbacks-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 2.0) -> None:
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()

    # -- queueing -----------------------------------------------------------------------------
    def submit(self, build: Builder, delay: float = 0.0) -> None:
        with self._cond:
            self._pending += 1
            self._counts["jobs"] += 1
            generation = self._generation
        self._queue.put(_Job(time.monotonic() + delay, build, generation))

    def discard(self) -> None:
        """Forget queued jobs and the counters (jobs already being delivered still finish)."""
        with self._cond:
            self._generation += 1
            for name in self._counts:
                self._counts[name] = 0
            self._cond.notify_all()

    def flush(self, timeout: float = 10.0) -> dict[str, Any]:
        """Wait until every queued job was delivered or given up; the counters and ``drained``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
        return self.stats()

    def stats(self) -> dict[str, Any]:
        with self._cond:
            return {**self._counts, "pending": self._pending, "drained": self._pending == 0}

    # -- workers ------------------------------------------------------------------------------
    def _work(self) -> None:
        connections: _Connections = {}
        while True:
            job = self._queue.get()
            if job is None:
                break
            try:
                if self._wait_until_due(job):
                    for delivery in job.build():
                        self._deliver(delivery, connections)
            except Exception:  # a broken builder must not kill the worker
                self._count("failed")
            finally:
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()
        for conn in connections.values():
            conn.close()

    def _wait_until_due(self, job: _Job) -> bool:
        """Wait for the job's time; False when it was discarded or the dispatcher stops."""
        with self._cond:
            while not self._stopping.is_set() and job.generation == self._generation:
                left = job.due - time.monotonic()
                if left <= 0:
                    return True
                self._cond.wait(left)
            return False

    def _count(self, name: str) -> None:
        with self._cond:
            self._counts[name] += 1

    def _deliver(self, delivery: Delivery, connections: _Connections) -> None:
        for attempt in range(RETRIES + 1):
            if _post(delivery, connections):
                self._count("delivered")
                return
            self._count("attempt_failures")
            if attempt < RETRIES and self._stopping.wait(BACKOFF * 2**attempt):
                break
        self._count("failed")


def _post(delivery: Delivery, connections: _Connections) -> bool:
    parts = urlsplit(delivery.url)
    key = (parts.scheme, parts.netloc)
    conn = connections.get(key)
    if conn is None:
        factory = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        conn = factory(parts.netloc, timeout=POST_TIMEOUT)
        connections[key] = conn
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("POST", target, body=delivery.body, headers=delivery.headers)
        response = conn.getresponse()
        response.read()
        if response.will_close:
            conn.close()
            connections.pop(key, None)
        return 200 <= response.status < 300
    except (OSError, http.client.HTTPException):
        conn.close()
        connections.pop(key, None)
        return False


def post_once(delivery: Delivery, timeout: float = POST_TIMEOUT) -> tuple[int, bytes]:
    """POST right away on a fresh connection; (status, body). Raises OSError when unreachable."""
    parts = urlsplit(delivery.url)
    factory = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = factory(parts.netloc, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("POST", target, body=delivery.body, headers=delivery.headers)
        response = conn.getresponse()
        return response.status, response.read()
    except http.client.HTTPException as exc:
        raise OSError(str(exc)) from exc
    finally:
        conn.close()
