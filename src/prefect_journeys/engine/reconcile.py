"""Settle intents whose outcome is unknown (timeout, 5xx, dropped response, a dispatcher killed
during the provider call) from evidence, never by sending blindly again.

For each ``unknown`` intent, in this order:
1. our own event table: a provider event about the intent (delivered, opened, bounced, …, fed by
   the webhook intake) proves the provider accepted it → ``sent``;
2. the provider's own lookup (Twilio: messages by recipient and time; SendGrid: the Email Activity
   API by our intent id) → found: ``sent`` with the provider id; conclusively absent (only a
   provider that lists every accepted message at once) after ``settle`` → ``planned`` again, and
   the next tick sends it;
3. still without evidence after ``abandon_after`` → ``abandoned`` with the reason.
Every change is a guarded UPDATE (``status = 'unknown'``) with a ``message.*`` event, so running
the reconciler twice, or beside a dispatcher, changes nothing twice.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, bindparam, select, update

from prefect_journeys.compliance.addresses import kind_of, normalize_email, normalize_phone
from prefect_journeys.connectors.base import (
    ChannelConfigError,
    Evidence,
    PendingIntent,
    Reconcilable,
)
from prefect_journeys.engine import versions
from prefect_journeys.engine.context import TickReport
from prefect_journeys.engine.dispatch import ADDRESS, Dispatcher, SenderOpener, intent_rows
from prefect_journeys.engine.dispatch import message_event as _event
from prefect_journeys.engine.sqlbits import EV, TAGS, I
from prefect_journeys.store.database import utcnow
from prefect_journeys.store.writes import insert_events

# Provider feedback events (written by the intake service) that prove a message was accepted.
PROVIDER_EVIDENCE = (
    "message.processed",
    "message.delivered",
    "message.opened",
    "message.clicked",
    "message.bounced",
    "message.dropped",
    "message.undelivered",
    "message.spamreport",
)
_SETTLE = (
    update(I)
    .where(I.c.id == bindparam("iid"), I.c.status == "unknown")
    .values(
        status=bindparam("status"),
        provider_id=bindparam("provider_id"),
        sent_at=bindparam("sent_at"),
        error=bindparam("error"),
    )
)


@dataclass
class ReconcileReport:
    checked: int = 0
    sent: int = 0  # evidence found: the provider has it
    requeued: int = 0  # the provider proves it never arrived: planned again
    abandoned: int = 0
    waiting: int = 0  # no conclusive evidence yet
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reconcile(
    engine: Engine,
    *,
    as_of: datetime | None = None,
    now: datetime | None = None,
    settle: timedelta = timedelta(minutes=10),
    abandon_after: timedelta = timedelta(hours=24),
    senders: SenderOpener | None = None,
    signing_key: bytes | None = None,
    journey_id: str | None = None,
) -> ReconcileReport:
    """Settle every unknown intent (of one journey, or all). Times are naive UTC."""
    now = now or utcnow()
    as_of = as_of or now
    report = ReconcileReport()
    where: Any = I.c.status == "unknown"
    if journey_id is not None:
        where = and_(where, I.c.journey_id == journey_id)
    with engine.connect() as conn:
        rows = intent_rows(conn, where)
        proven = _own_evidence(conn, [r.intent_id for r in rows])
    report.checked = len(rows)
    verdicts: dict[int, tuple[str, Evidence | None]] = {}
    undecided: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        if row.intent_id in proven:
            verdicts[row.intent_id] = ("sent", Evidence(row.intent_id, True, proven[row.intent_id]))
        else:
            undecided[row.journey_id].append(row)
    for jid, group in undecided.items():
        dispatcher = Dispatcher(
            engine,
            jid,
            as_of,
            now,
            TickReport(jid, 0, as_of),
            versions.plan_of,
            senders=senders,
            signing_key=signing_key,
        )
        for row, evidence, conclusive in _ask_providers(engine, dispatcher, group, report):
            old = row.claimed_at is None or row.claimed_at < now - settle
            if evidence is not None and evidence.found:
                verdicts[row.intent_id] = ("sent", evidence)
            elif evidence is not None and evidence.found is False and conclusive and old:
                verdicts[row.intent_id] = ("planned", evidence)
            elif row.claimed_at is None or row.claimed_at < now - abandon_after:
                verdicts[row.intent_id] = ("abandoned", evidence)
            else:
                report.waiting += 1
    _apply(engine, rows, verdicts, as_of, abandon_after, report)
    return report


def _own_evidence(conn: Any, ids: list[int]) -> dict[int, str | None]:
    found: dict[int, str | None] = {}
    for start in range(0, len(ids), 900):
        query = select(EV.c.intent_id, EV.c.properties).where(
            EV.c.intent_id.in_(ids[start : start + 900]), EV.c.name.in_(PROVIDER_EVIDENCE)
        )
        for intent_id, props in conn.execute(query):
            found[intent_id] = (props or {}).get("provider_id")
    return found


def _ask_providers(
    engine: Engine, dispatcher: Dispatcher, rows: list[Any], report: ReconcileReport
) -> list[tuple[Any, Evidence | None, bool]]:
    """(row, evidence or None, whether "not found" is conclusive) for every row."""
    out: list[tuple[Any, Evidence | None, bool]] = []
    by_sender: dict[tuple[str, str], list[tuple[Any, PendingIntent]]] = defaultdict(list)
    with engine.connect() as conn:
        for row in rows:
            ref = dispatcher._rules_of(conn, row.version).settings.sender(row.channel)
            pending = _pending(conn, dispatcher, row)
            if pending is None:
                out.append((row, None, False))
            else:
                by_sender[(ref, row.channel)].append((row, pending))
    for (ref, channel_name), items in by_sender.items():
        try:
            channel = dispatcher.channel_for(ref, channel_name)
        except ChannelConfigError as exc:
            report.problems.append(f"cannot ask {ref} about {len(items)} messages: {exc}")
            out.extend((row, None, False) for row, _ in items)
            continue
        if not isinstance(channel, Reconcilable):
            out.extend((row, None, False) for row, _ in items)
            continue
        try:
            answers = {e.intent_id: e for e in channel.lookup([p for _, p in items])}
        except Exception as exc:  # a lookup failure decides nothing
            report.problems.append(f"{ref} lookup failed: {type(exc).__name__}")
            answers = {}
        out.extend((row, answers.get(row.intent_id), channel.authoritative) for row, _ in items)
    return out


def _pending(conn: Any, dispatcher: Dispatcher, row: Any) -> PendingIntent | None:
    """What the provider was asked to send, rebuilt exactly as dispatch built it."""
    address: str | None = None
    kind = kind_of(row.channel)
    if kind is not None:
        raw = getattr(row, f"c_{ADDRESS[row.channel]}")
        address = (
            (normalize_email(raw) if kind == "email" else normalize_phone(raw)) if raw else None
        )
        if address is None:
            return None  # erased or changed beyond use: nothing to match on
    tags = [
        t for (t,) in conn.execute(select(TAGS.c.tag).where(TAGS.c.customer_id == row.customer_id))
    ]
    try:
        message = dispatcher._render(conn, row, tags, address)
    except Exception:
        return None
    return PendingIntent(
        intent_id=row.intent_id,
        channel=row.channel,
        to=message.to,
        body=message.body,
        claimed_at=row.claimed_at or row.created_at,
    )


def _apply(
    engine: Engine,
    rows: list[Any],
    verdicts: dict[int, tuple[str, Evidence | None]],
    as_of: datetime,
    abandon_after: timedelta,
    report: ReconcileReport,
) -> None:
    by_id = {r.intent_id: r for r in rows}
    params: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for intent_id, (status, evidence) in verdicts.items():
        row = by_id[intent_id]
        p: dict[str, Any] = {"iid": intent_id, "status": status, "provider_id": None}
        p["sent_at"], p["error"] = None, None
        if status == "sent":
            p["provider_id"], p["sent_at"] = evidence.provider_id if evidence else None, as_of
            props = {"provider_id": p["provider_id"], "reconciled": True}
            events.append(_event(row.journey_id, row, "message.sent", props, as_of))
            report.sent += 1
        elif status == "planned":
            p["error"] = "requeued: the provider has no such message"
            events.append(
                _event(row.journey_id, row, "message.requeued", {}, as_of, seq=row.attempts)
            )
            report.requeued += 1
        else:
            p["error"] = f"abandoned: no provider evidence within {abandon_after}"
            events.append(
                _event(row.journey_id, row, "message.abandoned", {"reason": p["error"]}, as_of)
            )
            report.abandoned += 1
        params.append(p)
    if not params:
        return
    with engine.begin() as conn:
        conn.execute(_SETTLE, params)
        insert_events(conn, events, complete=True)
