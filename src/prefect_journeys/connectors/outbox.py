"""The local outbox channel: rendered messages are stored in the database and appended to JSONL.

Writing the outbox row and marking the intent sent happen in one transaction (see
``engine.dispatch``), so for this channel a crash can never leave a message half-sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Connection, insert

from prefect_journeys.connectors.base import OutboundMessage, SendOutcome
from prefect_journeys.store.database import utcnow
from prefect_journeys.store.models import OutboxMessage

outbox_t = OutboxMessage.__table__  # type: ignore[attr-defined]
_lock = threading.Lock()


class OutboxChannel:
    """Delivers every channel (email, sms, whatsapp, webhook) into the local outbox."""

    name = "outbox"
    transactional = True  # writes with the caller's connection, inside its transaction

    def __init__(self, jsonl_path: Path | None = None) -> None:
        self.jsonl_path = jsonl_path
        self.conn: Connection | None = None

    def bind(self, conn: Connection) -> OutboxChannel:
        self.conn = conn
        return self

    def send_batch(self, messages: Sequence[OutboundMessage]) -> list[SendOutcome]:
        if self.conn is None:
            raise RuntimeError("OutboxChannel.bind(conn) must be called before send_batch")
        if not messages:
            return []
        now = utcnow()
        rows = [
            {
                "intent_id": m.intent_id,
                "channel": m.channel,
                "customer_id": m.customer_id,
                "recipient": m.to,
                "subject": m.subject,
                "preheader": m.preheader,
                "body": m.body,
                "created_at": now,
            }
            for m in messages
        ]
        ids = self.conn.execute(
            insert(outbox_t).returning(outbox_t.c.id, outbox_t.c.intent_id), rows
        )
        by_intent = {intent: str(row_id) for row_id, intent in ids.all()}
        return [
            SendOutcome(m.intent_id, "sent", provider_id=f"outbox-{by_intent[m.intent_id]}")
            for m in messages
        ]

    def flush_jsonl(self, messages: Sequence[OutboundMessage]) -> None:
        """Append to the JSONL file after the transaction committed (a copy for humans and tools)."""
        if not self.jsonl_path or not messages:
            return
        self.jsonl_path.parent.mkdir(parents=True, exist_ok=True)
        with _lock, self.jsonl_path.open("a", encoding="utf-8") as handle:
            for m in messages:
                record = {
                    "intent_id": m.intent_id,
                    "channel": m.channel,
                    "customer_id": m.customer_id,
                    "to": m.to,
                    "subject": m.subject,
                    "preheader": m.preheader,
                    "body": m.body,
                    **{f"tag_{k}": v for k, v in m.tags.items()},
                }
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
