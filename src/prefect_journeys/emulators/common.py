"""What every emulated endpoint shares: the parsed request, the reply, ids, times and counters."""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import lru_cache
from typing import Any

MAX_BODY_BYTES = 30 * 1024 * 1024  # SendGrid's limit; the emulator applies it to every endpoint

JSON = "application/json"


@dataclass(slots=True)
class Request:
    """One HTTP request as the server read it. ``too_large``: the body exceeded MAX_BODY_BYTES."""

    method: str
    path: str
    query: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    too_large: bool = False

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(slots=True)
class Reply:
    """What to answer. ``delay``: sleep before answering; ``drop``: close without any answer."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str | None = JSON
    delay: float = 0.0
    drop: bool = False


def json_reply(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Reply:
    return Reply(status, json.dumps(payload).encode(), headers or [])


def dropped() -> Reply:
    return Reply(0, drop=True)


def after_accept(stats: ProviderStats, reply: Reply, fault: Any) -> Reply:
    """The answer to an accepted request, unless a post-accept fault (``delay`` or a drop)
    applies to it: the message is recorded either way, as at a provider that sent it."""
    if fault is None:
        stats.bump("total", "accepted")
        return reply
    stats.bump("total", "accepted", "faulted")
    if fault.kind == "delay":
        reply.delay = fault.delay
        return reply
    return dropped()


def hex_sid(prefix: str) -> str:
    """A Twilio-style SID: two letters and 32 lowercase hex digits."""
    return prefix + secrets.token_hex(16)


def utc_now() -> datetime:
    return datetime.now(UTC)


def rfc2822(moment: datetime) -> str:
    """``Thu, 24 Aug 2023 05:01:45 +0000`` as the Twilio API writes times (UTC ``moment``)."""
    return _rfc2822_second(int(moment.timestamp()))


@lru_cache(maxsize=4096)
def _rfc2822_second(epoch: int) -> str:
    return format_datetime(datetime.fromtimestamp(epoch, UTC))


def iso_z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class ProviderStats:
    """Request counters of one provider's send endpoint (plus look-ups), safe across threads."""

    __slots__ = ("_counts", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(("total", "accepted", "rejected", "faulted", "lookups"), 0)

    def bump(self, *names: str) -> None:
        with self._lock:
            for name in names:
                self._counts[name] += 1

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        with self._lock:
            for name in self._counts:
                self._counts[name] = 0
