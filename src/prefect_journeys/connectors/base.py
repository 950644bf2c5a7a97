"""The channel interface: send a batch of rendered messages, get one outcome per message."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

OutcomeStatus = Literal["sent", "failed", "unknown"]


@dataclass(frozen=True)
class OutboundMessage:
    intent_id: int
    channel: str
    customer_id: str
    to: str | None
    body: str
    subject: str | None = None
    preheader: str | None = None
    tags: dict[str, Any] = field(
        default_factory=dict
    )  # journey, step, version: never personal data


@dataclass(frozen=True)
class SendOutcome:
    intent_id: int
    status: OutcomeStatus
    provider_id: str | None = None
    error: str | None = None


@runtime_checkable
class Channel(Protocol):
    """Sends messages. Must return exactly one outcome per message, in any order.

    ``sent``: the provider accepted it. ``failed``: it certainly was not sent (terminal).
    ``unknown``: it may or may not have been sent (timeout, 5xx): never re-sent blindly.
    """

    name: str

    def send_batch(self, messages: Sequence[OutboundMessage]) -> list[SendOutcome]: ...
