"""The channel interface: send a batch of rendered messages, get one outcome per message.

Every channel (SendGrid email, Twilio SMS/WhatsApp, the outgoing webhook, the local outbox)
implements :class:`Channel`. Provider channels also implement :class:`Reconcilable`, so an intent
whose outcome is unknown (timeout, 5xx, dropped connection) can be settled from provider evidence
instead of being sent again.

Nothing here may carry personal data into logs: outcomes hold provider ids and error codes, never
addresses or bodies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

# sent: the provider accepted it (provider_id set). failed: certainly not sent, terminal.
# suppressed: certainly not sent and the address must not be contacted again (Twilio 21610).
# retry: certainly not sent, may be tried again after ``retry_after`` seconds (429 after the
#   connector's own retries, or a connection that was refused before anything was sent).
# unknown: may or may not have been sent (timeout, 5xx, dropped response): never re-sent blindly.
OutcomeStatus = Literal["sent", "failed", "suppressed", "retry", "unknown"]


class ChannelConfigError(Exception):
    """A sender cannot be set up (unknown block, missing credentials, invalid sender id).

    The message is for humans and names what is wrong, never a secret value.
    """


@dataclass(frozen=True)
class OutboundMessage:
    intent_id: int
    channel: str  # email | sms | whatsapp | webhook
    customer_id: str
    to: str | None  # email address, E.164 phone (no "whatsapp:" prefix), or None for webhook
    body: str
    subject: str | None = None
    preheader: str | None = None
    # journey, version, step: never personal data
    tags: dict[str, Any] = field(default_factory=dict)
    marketing: bool = True  # False for transactional steps
    # RFC 8058 one-click URL with our opaque signed token (marketing email: always set)
    unsubscribe_url: str | None = None
    categories: tuple[str, ...] = ()  # SendGrid categories (journey, journey:step)
    # SendGrid dynamic template: the same template_id for many recipients → one request per 1,000
    template_id: str | None = None
    template_data: dict[str, Any] | None = None
    # webhook channel: the JSON document to POST (already rendered)
    payload: dict[str, Any] | None = None


@dataclass(frozen=True)
class SendOutcome:
    intent_id: int
    status: OutcomeStatus
    provider_id: str | None = None
    error: str | None = None  # provider code and message, without personal data
    retry_after: float | None = None  # seconds, for status "retry"


@dataclass
class ChannelStats:
    """Counters a channel keeps across calls (for reports and benchmarks)."""

    requests: int = 0  # HTTP requests made (including retries)
    retries: int = 0  # requests repeated after a 429 or a refused connection
    throttled_seconds: float = 0.0  # time spent waiting for the client-side rate limit


@runtime_checkable
class Channel(Protocol):
    """Sends messages. Must return exactly one outcome per message, in any order.

    Must not raise for a per-message problem: that is a ``failed`` outcome. It raises
    :class:`ChannelConfigError` only when nothing can be sent at all (bad credentials found out
    at the first request count as per-message ``failed`` outcomes with a clear error instead).
    """

    name: str
    transactional: bool  # True only for the outbox: its write commits with the intent's status

    def send_batch(self, messages: Sequence[OutboundMessage]) -> list[SendOutcome]: ...


@dataclass(frozen=True)
class PendingIntent:
    """An intent whose outcome is unknown, as a reconciler asks the provider about it."""

    intent_id: int
    channel: str
    to: str | None
    body: str | None
    claimed_at: datetime  # naive UTC: the provider call happened after this


@dataclass(frozen=True)
class Evidence:
    """What the provider knows of an intent. ``found`` None: the provider cannot tell (yet)."""

    intent_id: int
    found: bool | None
    provider_id: str | None = None
    status: str | None = None  # provider status (queued, delivered, processed, bounce, …)


@runtime_checkable
class Reconcilable(Protocol):
    # True when "not found" is conclusive (the provider lists every accepted message at once)
    authoritative: bool

    def lookup(self, intents: Sequence[PendingIntent]) -> list[Evidence]: ...
