"""Retrying safely: backoff with jitter, rate-limit headers, a token bucket, transport errors.

Only two situations are retried by the provider connectors, because only in those is it certain
that the provider did not act on the request: a 429 (the provider refused it) and a connection
that was never established (refused, DNS failure, connect timeout). Everything that happens after
the request may have reached the provider is *ambiguous* and must not be repeated blindly.
"""

from __future__ import annotations

import contextlib
import errno
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx
import urllib3.exceptions

Sleep = Callable[[float], None]
Clock = Callable[[], float]

# ------------------------------------------------------------------ rate-limit headers


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    getter = getattr(headers, "get", None)
    if getter is None:
        return None
    value = getter(name)
    if value is None and isinstance(headers, Mapping):  # a plain dict: compare case-insensitively
        value = next((v for k, v in headers.items() if str(k).lower() == name.lower()), None)
    return None if value is None else str(value).strip()


def retry_after_seconds(headers: Any, *, now: float | None = None) -> float | None:
    """Seconds to wait according to ``Retry-After`` and ``X-RateLimit-Reset``, or None.

    ``Retry-After`` is delta-seconds or an HTTP date. ``X-RateLimit-Reset`` is a Unix time
    (SendGrid) or, when small, a number of seconds. The larger of the two wins.
    """
    now = time.time() if now is None else now
    waits: list[float] = []
    retry_after = _header(headers, "Retry-After")
    if retry_after:
        try:
            waits.append(float(retry_after))
        except ValueError:
            with contextlib.suppress(TypeError, ValueError):
                waits.append(parsedate_to_datetime(retry_after).timestamp() - now)
    reset = _header(headers, "X-RateLimit-Reset")
    if reset:
        try:
            value = float(reset)
            waits.append(value - now if value > 1_000_000_000 else value)
        except ValueError:
            pass
    if not waits:
        return None
    return max(0.0, max(waits))


# ------------------------------------------------------------------ backoff


@dataclass
class Backoff:
    """Exponential backoff with full jitter, never shorter than what the provider asked for.

    ``max_retries`` bounds the repeats of one request; ``max_wait`` bounds the seconds one
    ``send_batch`` call spends waiting in total (see :class:`WaitBudget`).
    """

    max_retries: int = 4
    max_wait: float = 60.0
    base: float = 0.5
    cap: float = 30.0
    sleep: Sleep = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, at_least: float | None = None) -> float:
        """The wait before retry number ``attempt + 1``: the provider's wait plus full jitter.

        Adding the jitter to ``Retry-After`` (instead of taking the larger of the two) spreads
        the threads that were all told to come back at the same second.
        """
        jitter = self.rng.uniform(0.0, min(self.cap, self.base * 2.0**attempt))
        return (at_least or 0.0) + jitter

    def budget(self) -> WaitBudget:
        return WaitBudget(self.max_wait)


class WaitBudget:
    """The waiting one batch may still do, shared by its threads.

    Once a request gave up (retries or time used up), the batch is *stopped*: the messages not
    yet attempted get a ``retry`` outcome at once instead of each waiting out the same outage.
    """

    def __init__(self, max_wait: float) -> None:
        self._remaining = max_wait
        self._lock = threading.Lock()
        self.stopped_retry_after: float | None = None

    def take(self, seconds: float) -> bool:
        with self._lock:
            if self.stopped_retry_after is not None or seconds > self._remaining:
                return False
            self._remaining -= seconds
            return True

    def stop(self, retry_after: float) -> None:
        with self._lock:
            if self.stopped_retry_after is None:
                self.stopped_retry_after = retry_after

    @property
    def stopped(self) -> bool:
        return self.stopped_retry_after is not None


class Retrier:
    """The retries of one request: call :meth:`wait` after each retryable failure."""

    def __init__(self, backoff: Backoff, budget: WaitBudget) -> None:
        self.backoff = backoff
        self.budget = budget
        self.attempt = 0
        self.last_delay = 0.0

    def wait(self, at_least: float | None) -> bool:
        """Sleep before the next attempt and return True, or return False to give up.

        On giving up :attr:`last_delay` is the wait the caller should report as ``retry_after``,
        and the budget is stopped for the rest of the batch.
        """
        delay = self.backoff.delay(self.attempt, at_least)
        self.last_delay = delay
        if self.attempt >= self.backoff.max_retries or not self.budget.take(delay):
            self.budget.stop(delay)
            return False
        self.attempt += 1
        self.backoff.sleep(delay)
        return True


# ------------------------------------------------------------------ token bucket


class TokenBucket:
    """A thread-safe token bucket: ``acquire()`` blocks until one message may go.

    Threads reserve their token under the lock (the count may go negative) and sleep outside it,
    so N threads sharing a bucket at ``rate`` per second send at ``rate`` per second in total.
    ``burst`` is how many may go at once after an idle period (1: strictly paced).
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float = 1.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = max(1.0, burst)
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping if needed; returns the seconds slept."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        if wait > 0:
            self._sleep(wait)
        return wait


# ------------------------------------------------------------------ transport errors

TransportFailure = Literal["not_sent", "ambiguous"]

_NOT_CONNECTED_ERRNOS = {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked.extend(arg for arg in current.args if isinstance(arg, BaseException))
        stack.extend(e for e in linked if isinstance(e, BaseException))


def classify_transport_error(exc: BaseException) -> TransportFailure:
    """Whether a request that failed without an HTTP answer may have reached the provider.

    ``not_sent``: no connection was established (refused, DNS failure, unreachable network,
    connect timeout): nothing was sent, repeating is safe. ``ambiguous``: anything later (read
    timeout, reset or closed connection after the request was written): the provider may have
    acted on it. Unrecognised errors count as ambiguous.
    """
    for error in _chain(exc):
        if isinstance(error, ConnectionRefusedError | socket.gaierror):
            return "not_sent"
        if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return "not_sent"
        # urllib3 (under requests/Twilio): NewConnectionError subclasses ConnectTimeoutError
        if isinstance(error, urllib3.exceptions.ConnectTimeoutError):
            return "not_sent"
        if type(error) is OSError and error.errno in _NOT_CONNECTED_ERRNOS:  # unreachable
            return "not_sent"
    return "ambiguous"
