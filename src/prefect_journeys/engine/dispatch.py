"""Dispatch: claim due intents in their own committed transaction, re-check, render, send.

For every batch of due intents:
1. claim — ``UPDATE … SET status='claimed'`` (Postgres: ``FOR UPDATE SKIP LOCKED``; SQLite: the
   write lock of ``BEGIN IMMEDIATE``), committed before anything else happens;
2. re-check each claimed intent: exited enrollment → cancelled; no consent or no address →
   suppressed; in quiet hours or over a frequency cap (recipient's local time) → back to planned
   with a later ``due_at`` (deferred, never dropped);
3. render (strict Liquid) → failed on a template error;
4. send through the channel and record the outcome with a ``message.*`` event.
Frequency caps count every message sent to the customer on that channel, across journeys.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, and_, bindparam, func, select, update

from prefect_journeys.connectors.base import Channel, OutboundMessage, SendOutcome
from prefect_journeys.connectors.outbox import OutboxChannel
from prefect_journeys.definition.durations import parse_cap
from prefect_journeys.engine import clock
from prefect_journeys.engine.context import TickReport
from prefect_journeys.engine.sqlbits import TAGS, C, E, I
from prefect_journeys.segments.rules import CUSTOMER_FIELDS
from prefect_journeys.store.writes import insert_events

CONSENT = {"email": "email_consent", "sms": "sms_consent", "whatsapp": "whatsapp_consent"}
ADDRESS = {"email": "email", "sms": "phone", "whatsapp": "phone"}


@dataclass
class Decision:
    row: Any
    action: str  # send | cancel | suppress | defer | fail
    reason: str | None = None
    until: datetime | None = None
    message: OutboundMessage | None = None


PlanLookup = Callable[[Connection, str, int], Any]
FINAL_STATUS = {"cancel": "cancelled", "suppress": "suppressed", "fail": "failed"}
# intent status after dispatch → the TickReport counter it adds to
REPORT_COUNTER = {
    "sent": "sent",
    "failed": "failed",
    "unknown": "unknown",
    "planned": "deferred",
    "cancelled": "cancelled",
    "suppressed": "suppressed",
}
_RECORD_OUTCOME = (
    update(I)
    .where(I.c.id == bindparam("iid"))
    .values(
        status=bindparam("status"),
        provider_id=bindparam("provider_id"),
        error=bindparam("error"),
        sent_at=bindparam("sent_at"),
        deferrals=bindparam("deferrals"),
        due_at=func.coalesce(bindparam("new_due", type_=DateTime), I.c.due_at),
        claim_token=None,
    )
)


@dataclass(frozen=True)
class _Rules:
    """A journey version's dispatch settings, parsed once per dispatch."""

    timezone: str
    quiet: tuple[time, time] | None
    caps: dict[str, tuple[int, str]]


@dataclass(frozen=True)
class _Sender:
    """What every message of one send step shares: the compiled template and its context."""

    template: Any
    data: dict[str, Any]
    journey: dict[str, Any]
    step: dict[str, Any]


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        journey_id: str,
        as_of: datetime,
        now: datetime,
        report: TickReport,
        plan_of: PlanLookup,
        channel: Channel | None = None,
        *,
        dry_conn: Connection | None = None,
        batch_size: int = 1000,
        lease: timedelta = timedelta(minutes=15),
    ) -> None:
        self.engine = engine
        self.journey_id = journey_id
        self.as_of = as_of
        self.now = now
        self.report = report
        self._lookup = plan_of
        self._plans: dict[int, Any] = {}
        self._rules: dict[int, _Rules] = {}
        self._senders: dict[tuple[int, str], _Sender] = {}
        self.channel = channel or OutboxChannel()
        self.dry_conn = dry_conn
        self.batch_size = batch_size
        self.lease = lease

    # -- transactions: one per claim and one per batch outcome; a single rolled-back one when dry
    def _tx(self) -> Any:
        if self.dry_conn is not None:
            from contextlib import nullcontext

            return nullcontext(self.dry_conn)
        return self.engine.begin()

    def run(self) -> None:
        with self._tx() as conn:
            self._release_stale(conn)
        while True:
            with self._tx() as conn:
                claim = self._claim(conn)
                rows = self._claimed(conn, *claim) if claim else []
            if not rows:
                return
            with self._tx() as conn:
                decisions = self._decide(conn, rows)
                sent = self._apply(conn, decisions)
            if self.dry_conn is None and isinstance(self.channel, OutboxChannel):
                self.channel.flush_jsonl(sent)
            if self.dry_conn is not None and len(rows) < self.batch_size:
                return

    def plan_of(self, conn: Connection, version: int) -> Any:
        """The plan of an intent's journey version (read once per dispatch, not per message)."""
        if version not in self._plans:
            self._plans[version] = self._lookup(conn, self.journey_id, version)
        return self._plans[version]

    def _release_stale(self, conn: Connection) -> None:
        """Claims older than the lease: for the transactional outbox nothing can have been sent
        (its write commits together with 'sent'), so they return to planned; for a provider the
        outcome is unknown and a reconciler must settle it from provider evidence."""
        stale = and_(
            I.c.journey_id == self.journey_id,
            I.c.status == "claimed",
            I.c.claimed_at < self.now - self.lease,
        )
        transactional = getattr(self.channel, "transactional", False)
        values: dict[str, Any] = (
            {"status": "planned", "claim_token": None}
            if transactional
            else {"status": "unknown", "error": "claim lease expired before an outcome"}
        )
        conn.execute(update(I).where(stale).values(**values))

    def _claim(self, conn: Connection) -> tuple[str, list[int]] | None:
        due = (
            select(I.c.id)
            .where(
                I.c.journey_id == self.journey_id,
                I.c.status == "planned",
                I.c.due_at <= self.as_of,
            )
            .order_by(I.c.due_at, I.c.id)
            .limit(self.batch_size)
        )
        if conn.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        ids = list(conn.execute(due).scalars())
        if not ids:
            return None
        token = uuid.uuid4().hex
        conn.execute(
            update(I)
            .where(I.c.id.in_(ids), I.c.status == "planned")
            .values(
                status="claimed",
                claim_token=token,
                claimed_at=self.now,
                attempts=I.c.attempts + 1,
            )
        )
        return token, ids

    def _claimed(self, conn: Connection, token: str, ids: list[int]) -> list[Any]:
        """The rows this claim won (by primary key: ``claim_token`` has no index)."""
        query = (
            select(
                I.c.id.label("intent_id"),
                I.c.version,
                I.c.step_id,
                I.c.customer_id,
                I.c.enrollment_id,
                I.c.channel,
                I.c.template,
                I.c.stage,
                I.c.variant,
                I.c.deferrals,
                I.c.created_at,
                E.c.state.label("enrollment_state"),
                *[C.c[f].label(f"c_{f}") for f in CUSTOMER_FIELDS],
                C.c.attributes.label("c_attributes"),
            )
            .select_from(
                I.outerjoin(C, C.c.id == I.c.customer_id).outerjoin(E, E.c.id == I.c.enrollment_id)
            )
            .where(I.c.id.in_(ids), I.c.claim_token == token)
            .order_by(I.c.customer_id, I.c.created_at, I.c.id)
        )
        return list(conn.execute(query))

    # -- decisions --------------------------------------------------------------------------
    def _decide(self, conn: Connection, rows: Sequence[Any]) -> list[Decision]:
        customers = sorted({r.customer_id for r in rows})
        tags: dict[str, list[str]] = defaultdict(list)
        for customer_id, tag in conn.execute(
            select(TAGS.c.customer_id, TAGS.c.tag).where(TAGS.c.customer_id.in_(customers))
        ):
            tags[customer_id].append(tag)
        history: dict[tuple[str, str], list[datetime]] = defaultdict(list)
        capped = {
            channel
            for version in {r.version for r in rows}
            for channel in self._rules_of(conn, version).caps
        } & {r.channel for r in rows}
        if capped:
            # Only sent intents have sent_at. No `status = 'sent'` here: with it, SQLite picks the
            # dispatch-queue index and reads every sent intent per batch (quadratic at scale).
            query = select(I.c.customer_id, I.c.channel, I.c.sent_at).where(
                I.c.customer_id.in_(customers),
                I.c.channel.in_(sorted(capped)),
                I.c.sent_at > self.as_of - timedelta(days=8),
                I.c.sent_at <= self.as_of,
            )
            for customer_id, channel, sent_at in conn.execute(query):
                history[(customer_id, channel)].append(sent_at)
        return [self._decide_one(conn, row, tags, history) for row in rows]

    def _decide_one(
        self,
        conn: Connection,
        row: Any,
        tags: dict[str, list[str]],
        history: dict[tuple[str, str], list[datetime]],
    ) -> Decision:
        if row.enrollment_state == "exited":
            return Decision(row, "cancel", "enrollment exited")
        if row.c_id is None:
            return Decision(row, "suppress", "customer unknown")
        consent = CONSENT.get(row.channel)
        if consent and not getattr(row, f"c_{consent}"):
            return Decision(row, "suppress", "no consent")
        address = getattr(row, f"c_{ADDRESS[row.channel]}") if row.channel in ADDRESS else row.c_id
        if not address:
            return Decision(row, "suppress", "no address")
        rules = self._rules_of(conn, row.version)
        tz = clock.zone(row.c_timezone, rules.timezone)
        when = self.as_of
        if rules.quiet is not None:
            later = clock.quiet_hours_end(when, *rules.quiet, tz)
            if later > when:
                return Decision(row, "defer", "quiet_hours", until=later)
        cap = rules.caps.get(row.channel)
        if cap:
            limit, unit = cap
            window_start, window_end = clock.cap_window(when, unit, tz)
            sent = [t for t in history[(row.customer_id, row.channel)] if t >= window_start]
            if len(sent) >= limit:
                until = window_end
                if rules.quiet is not None:
                    until = clock.quiet_hours_end(until, *rules.quiet, tz)
                return Decision(row, "defer", "frequency_cap", until=until)
        try:
            message = self._render(conn, row, tags.get(row.customer_id, []), address)
        except Exception as exc:  # a template error fails this message, not the tick
            return Decision(row, "fail", f"render: {exc}")
        history[(row.customer_id, row.channel)].append(when)  # counts toward the cap in-batch
        return Decision(row, "send", message=message)

    def _rules_of(self, conn: Connection, version: int) -> _Rules:
        if version not in self._rules:
            settings = self.plan_of(conn, version).journey.settings
            self._rules[version] = _Rules(
                timezone=settings.timezone,
                quiet=settings.quiet_hours.window if settings.quiet_hours else None,
                caps={ch: parse_cap(text) for ch, text in settings.frequency_cap.items()},
            )
        return self._rules[version]

    def _sender(self, conn: Connection, version: int, step_id: str, template: str) -> _Sender:
        key = (version, step_id)
        if key not in self._senders:
            from prefect_journeys.definition.templates import compile_template

            plan = self.plan_of(conn, version)
            step = plan.journey.step(step_id)
            self._senders[key] = _Sender(
                template=compile_template(plan.templates[template]),
                data=dict(step.send.data),
                journey={"id": plan.journey.id, "name": plan.journey.name or plan.journey.id},
                step={"id": step.id, "stage": step.stage},
            )
        return self._senders[key]

    def _render(self, conn: Connection, row: Any, tags: list[str], address: str) -> OutboundMessage:
        sender = self._sender(conn, row.version, row.step_id, row.template)
        customer = {f: getattr(row, f"c_{f}") for f in CUSTOMER_FIELDS}
        customer["attributes"] = row.c_attributes or {}
        customer["tags"] = sorted(tags)
        context = {
            "customer": customer,
            "data": sender.data,
            "journey": sender.journey,
            "step": sender.step,
        }
        rendered = sender.template.render(context)
        return OutboundMessage(
            intent_id=row.intent_id,
            channel=row.channel,
            customer_id=row.customer_id,
            to=address,
            subject=rendered.subject,
            preheader=rendered.preheader,
            body=rendered.body,
            tags={"journey": self.journey_id, "version": row.version, "step": row.step_id},
        )

    # -- outcomes ---------------------------------------------------------------------------
    def _send(self, conn: Connection, messages: list[OutboundMessage]) -> dict[int, SendOutcome]:
        """Call the channel (or, in a dry run, only record what would be sent)."""
        if self.dry_conn is not None:
            self.report.would_send.extend(
                {
                    "intent_id": m.intent_id,
                    "step": m.tags["step"],
                    "customer_id": m.customer_id,
                    "channel": m.channel,
                }
                for m in messages
            )
            return {m.intent_id: SendOutcome(m.intent_id, "sent", "dry-run") for m in messages}
        if not messages:
            return {}
        if isinstance(self.channel, OutboxChannel):
            self.channel.bind(conn)
        return {o.intent_id: o for o in self.channel.send_batch(messages)}

    def _apply(self, conn: Connection, decisions: list[Decision]) -> list[OutboundMessage]:
        """Record every decision: one UPDATE per intent (one executemany) and one event each."""
        messages = [d.message for d in decisions if d.message is not None]
        outcomes = self._send(conn, messages)
        params: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        tally: Counter[str] = Counter()
        for d in decisions:
            row = d.row
            p = {
                "iid": row.intent_id,
                "provider_id": None,
                "error": d.reason,
                "sent_at": None,
                "new_due": None,
                "deferrals": row.deferrals,
            }
            if d.action == "send":
                outcome = outcomes.get(row.intent_id) or SendOutcome(row.intent_id, "unknown")
                status: str = outcome.status
                p["provider_id"], p["error"] = outcome.provider_id, outcome.error
                if status == "sent":
                    p["sent_at"] = self.as_of
                    by_step = self.report.sent_by_step
                    by_step[row.step_id] = by_step.get(row.step_id, 0) + 1
                    props = {"provider_id": outcome.provider_id}
                    events.append(self._event(row, "message.sent", props))
                elif status == "failed":
                    events.append(self._event(row, "message.failed", {"error": outcome.error}))
            elif d.action == "defer":
                status = "planned"
                p["new_due"], p["deferrals"], p["error"] = d.until, row.deferrals + 1, None
                props = {"reason": d.reason, "until": d.until.isoformat() if d.until else None}
                events.append(self._event(row, "message.deferred", props, seq=row.deferrals + 1))
            else:
                status = FINAL_STATUS[d.action]
                events.append(self._event(row, f"message.{status}", {"reason": d.reason}))
            p["status"] = status
            tally[REPORT_COUNTER[status]] += 1
            params.append(p)
        for counter, count in tally.items():
            setattr(self.report, counter, getattr(self.report, counter) + count)
        if params:
            conn.execute(_RECORD_OUTCOME, params)
        insert_events(conn, events, complete=True)
        return [m for m in messages if outcomes[m.intent_id].status == "sent"]

    def _event(
        self, row: Any, name: str, properties: dict[str, Any], seq: int = 0
    ) -> dict[str, Any]:
        return {
            "source_id": f"{name}:{row.intent_id}" + (f":{seq}" if seq else ""),
            "customer_id": row.customer_id,
            "name": name,
            "occurred_at": self.as_of,
            "received_at": self.now,
            "properties": properties,
            "journey_id": self.journey_id,
            "journey_version": row.version,
            "step_id": row.step_id,
            "stage": row.stage,
            "variant": row.variant,
            "channel": row.channel,
            "enrollment_id": row.enrollment_id,
            "intent_id": row.intent_id,
        }
