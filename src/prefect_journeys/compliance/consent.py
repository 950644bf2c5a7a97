"""Consent records: who agreed (or withdrew) to which channel and topic, when, how, what text.

The latest record for (customer, channel, topic) decides; a record for topic ``*`` covers every
topic of the channel. Where a customer has no record for a channel at all, the customer row's
``<channel>_consent`` flag (synced from the user's systems) decides. Recording a channel-wide
choice also keeps that flag in step, so segments and the dashboard see the same answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from prefect_journeys.store.database import utcnow
from prefect_journeys.store.models import Consent, Customer

CONSENTS = Consent.__table__  # type: ignore[attr-defined]
CUSTOMERS = Customer.__table__  # type: ignore[attr-defined]
ALL_TOPICS = "*"
FLAG = {"email": "email_consent", "sms": "sms_consent", "whatsapp": "whatsapp_consent"}


def record(
    conn: Connection,
    customer_id: str,
    channel: str,
    granted: bool,
    *,
    source: str,
    topic: str = ALL_TOPICS,
    actor: str | None = None,
    text: str | None = None,
    at: datetime | None = None,
) -> None:
    when = at or utcnow()
    conn.execute(
        insert(CONSENTS).values(
            customer_id=customer_id,
            channel=channel,
            topic=topic,
            granted=granted,
            recorded_at=when,
            source=source,
            actor=actor,
            text=text,
        )
    )
    if topic == ALL_TOPICS and channel in FLAG:
        conn.execute(
            update(CUSTOMERS)
            .where(CUSTOMERS.c.id == customer_id)
            .values({FLAG[channel]: granted, "updated_at": when})
        )


def decisions(
    conn: Connection, customer_ids: Iterable[str], channel: str, topic: str
) -> dict[str, bool]:
    """The recorded decision per customer for ``channel``/``topic`` (absent: no record)."""
    wanted = sorted(set(customer_ids))
    out: dict[str, tuple[int, bool]] = {}
    for start in range(0, len(wanted), 900):
        query: Any = select(CONSENTS.c.customer_id, CONSENTS.c.id, CONSENTS.c.granted).where(
            CONSENTS.c.customer_id.in_(wanted[start : start + 900]),
            CONSENTS.c.channel == channel,
            CONSENTS.c.topic.in_((topic, ALL_TOPICS)),
        )
        for customer_id, record_id, granted in conn.execute(query):
            if customer_id not in out or record_id > out[customer_id][0]:
                out[customer_id] = (record_id, bool(granted))
    return {customer_id: granted for customer_id, (_, granted) in out.items()}


def history(conn: Connection, customer_id: str) -> list[dict[str, Any]]:
    query = select(CONSENTS).where(CONSENTS.c.customer_id == customer_id).order_by(CONSENTS.c.id)
    return [dict(row._mapping) for row in conn.execute(query)]
