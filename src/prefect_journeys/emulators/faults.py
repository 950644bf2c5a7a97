"""Injected faults: what the next matching requests of a provider suffer.

A fault applies to the next ``count`` matching requests, or, with ``probability``, to each matching
request with that chance (a seeded RNG, so a run can be repeated) until the faults are cleared.
``to`` restricts it to requests for that recipient. Faults of one provider are tried in the order
they were injected; the first one that applies is used and a counted one is used up.

The phases, in the order a request meets them:

- ``PRE_ACCEPT`` before validation: ``rate_limit``, ``server_error``, ``drop_before_accept``;
- ``REJECTS`` after validation, instead of accepting: ``opted_out``, ``invalid_number`` (Twilio);
- ``POST_ACCEPT`` after the message was accepted and recorded: ``delay``, ``drop_after_accept``.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from itertools import count as counter
from typing import Any

PROVIDERS = ("sendgrid", "twilio")
PRE_ACCEPT = frozenset({"rate_limit", "server_error", "drop_before_accept"})
REJECTS = frozenset({"opted_out", "invalid_number"})
POST_ACCEPT = frozenset({"delay", "drop_after_accept"})
AFTER_VALIDATION = REJECTS | POST_ACCEPT
KINDS: dict[str, frozenset[str]] = {
    "sendgrid": PRE_ACCEPT | POST_ACCEPT,
    "twilio": PRE_ACCEPT | REJECTS | POST_ACCEPT,
}
SERVER_ERROR_STATUSES = frozenset({500, 502, 503, 504})
DEFAULT_DELAY = 2.0


class FaultError(ValueError):
    """An injection that makes no sense (unknown kind, bad status, …)."""


def normalize_recipient(address: str) -> str:
    """How recipients are compared: lower case, without a ``whatsapp:`` prefix."""
    address = address.strip().lower()
    return address.removeprefix("whatsapp:")


@dataclass
class Fault:
    id: int
    provider: str
    kind: str
    remaining: int | None  # None: probabilistic, until cleared
    probability: float | None
    rng: random.Random | None
    to: str | None
    status: int
    retry_after: float
    delay: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider,
            "kind": self.kind,
            "remaining": self.remaining,
            "probability": self.probability,
            "to": self.to,
            "status": self.status,
            "retry_after": self.retry_after,
            "delay": self.delay,
        }


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultError(f"{name} must be a number")
    return float(value)


class FaultBook:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = counter(1)
        self._faults: dict[str, list[Fault]] = {provider: [] for provider in PROVIDERS}

    def add(
        self,
        provider: str,
        kind: str,
        count: int = 1,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        delay: float | None = None,
        to: str | None = None,
        probability: float | None = None,
        seed: int | None = None,
    ) -> Fault:
        if provider not in KINDS:
            raise FaultError(f"provider must be one of {', '.join(PROVIDERS)}, not {provider!r}")
        if kind not in KINDS[provider]:
            raise FaultError(
                f"{provider} faults are {', '.join(sorted(KINDS[provider]))}, not {kind!r}"
            )
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise FaultError("count must be a whole number of at least 1")
        if status is not None and kind != "server_error":
            raise FaultError("status applies to server_error faults only")
        if status is None:
            status = 429 if kind == "rate_limit" else 500
        if kind == "server_error" and status not in SERVER_ERROR_STATUSES:
            raise FaultError("a server_error status is one of 500, 502, 503, 504")
        wait = 1.0 if retry_after is None else _number(retry_after, "retry_after")
        pause = DEFAULT_DELAY if delay is None else _number(delay, "delay")
        if wait < 0 or pause < 0:
            raise FaultError("retry_after and delay must not be negative")
        chance = None if probability is None else _number(probability, "probability")
        if chance is not None and not 0 < chance <= 1:
            raise FaultError("probability must be in (0, 1]")
        if to is not None and (not isinstance(to, str) or not to.strip()):
            raise FaultError("to must be a recipient address")
        fault = Fault(
            id=next(self._ids),
            provider=provider,
            kind=kind,
            remaining=None if chance is not None else count,
            probability=chance,
            rng=random.Random(seed) if chance is not None else None,
            to=None if to is None else normalize_recipient(to),
            status=status,
            retry_after=wait,
            delay=pause,
        )
        with self._lock:
            self._faults[provider].append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            for faults in self._faults.values():
                faults.clear()

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.as_dict() for faults in self._faults.values() for f in faults]

    def take(
        self,
        provider: str,
        kinds: frozenset[str],
        recipients: Callable[[], Collection[str]],
    ) -> Fault | None:
        """The fault that applies to this request now (used up if counted), or None.

        ``recipients`` gives the request's normalized recipients; called only when a fault has ``to``.
        """
        faults = self._faults[provider]
        if not faults:  # the common case, without taking the lock
            return None
        with self._lock:
            seen: Collection[str] | None = None
            for fault in faults:
                if fault.kind not in kinds:
                    continue
                if fault.to is not None:
                    if seen is None:
                        seen = recipients()
                    if fault.to not in seen:
                        continue
                if fault.rng is not None and fault.probability is not None:
                    if fault.rng.random() < fault.probability:
                        return fault
                    continue
                assert fault.remaining is not None
                fault.remaining -= 1
                if fault.remaining <= 0:
                    faults.remove(fault)
                return fault
        return None
