"""SendGrid Event Webhook batches: the events of accepted emails, signed, in POSTs of ≤1,000.

Per recipient: ``processed``, then ``delivered`` or ``bounce``, then ``open`` and ``click`` as
:func:`~prefect_journeys.emulators.sendgrid_records.fate` decides. Every event carries ``email``,
``timestamp``, ``event``, ``sg_event_id``, ``sg_message_id``, ``category`` (a list), ``smtp-id``
and each custom arg as a top-level key, as SendGrid sends them.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Sequence
from typing import Any

from prefect_journeys.emulators.callbacks import Builder, Delivery
from prefect_journeys.emulators.sendgrid_records import SgMessage, fate
from prefect_journeys.emulators.signing import (
    SENDGRID_SIGNATURE_HEADER,
    SENDGRID_TIMESTAMP_HEADER,
    EventSigner,
)

BATCH = 1000
DEFAULT_LINK = "https://example.com/"
_LINK = re.compile(r"https?://[^\s\"'<>]+")


def first_link(body: dict[str, Any]) -> str:
    for block in body.get("content") or ():
        found = _LINK.search(block.get("value", "")) if isinstance(block, dict) else None
        if found:
            return found.group(0)
    return DEFAULT_LINK


def events_for(
    message: SgMessage, open_rate: float, click_rate: float, link: str, now: int
) -> list[dict[str, Any]]:
    bounced, opened, clicked = fate(message, open_rate, click_rate)
    base: dict[str, Any] = {
        **message.custom_args,
        "email": message.to,
        "timestamp": now,
        "sg_message_id": message.message_id,
        "smtp-id": f"<{message.x_message_id}@emulator.sendgrid.local>",
        "category": list(message.categories),
    }
    names = ["processed", "bounce" if bounced else "delivered"]
    if opened:
        names.append("open")
    if clicked:
        names.append("click")
    events = []
    for name in names:
        event = {**base, "event": name, "sg_event_id": secrets.token_urlsafe(16)}
        if name == "bounce":
            event.update(
                type="bounce",
                status="5.1.1",
                reason="550 5.1.1 The email account that you tried to reach does not exist.",
            )
        elif name == "delivered":
            event.update(response="250 OK", ip="127.0.0.1", tls=1)
        elif name == "open":
            event.update(useragent="Mozilla/5.0 (emulator)", ip="127.0.0.1")
        elif name == "click":
            event.update(url=link, useragent="Mozilla/5.0 (emulator)", ip="127.0.0.1")
        events.append(event)
    return events


def event_job(
    messages: Sequence[SgMessage],
    url: str,
    signer: EventSigner,
    open_rate: float,
    click_rate: float,
    link: str,
) -> Builder:
    """A callback job: built in a worker thread, not on the send path."""

    def build() -> list[Delivery]:
        now = int(time.time())
        events = [e for m in messages for e in events_for(m, open_rate, click_rate, link, now)]
        deliveries = []
        for start in range(0, len(events), BATCH):
            payload = json.dumps(events[start : start + BATCH], separators=(",", ":")).encode()
            stamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "SendGrid Event API",
                SENDGRID_SIGNATURE_HEADER: signer.sign(stamp, payload),
                SENDGRID_TIMESTAMP_HEADER: stamp,
            }
            deliveries.append(Delivery(url, payload, headers))
        return deliveries

    return build
