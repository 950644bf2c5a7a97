"""Dispatch: claim due intents in their own committed transaction, re-check, render, send.

For every batch of due intents:
1. claim — ``UPDATE … SET status='claimed'`` (Postgres: ``FOR UPDATE SKIP LOCKED``; SQLite: the
   write lock of ``BEGIN IMMEDIATE``), committed before anything else happens;
2. re-check each claimed intent: exited enrollment → cancelled; no consent, no address or a
   suppressed address → suppressed; an address that cannot be one (not E.164, not an email) →
   failed; in quiet hours or over a frequency cap (recipient's local time) → back to planned with a
   later ``due_at`` (deferred, never dropped);
3. render (strict Liquid) → failed on a template error or an empty body;
4. send: the local outbox writes its rows in the same transaction that marks the intents sent. For
   a provider, the intents are first marked ``sending`` in a committed transaction, then the
   provider is called outside any transaction, then the outcomes are recorded. A process that dies
   in between leaves ``claimed`` (provider never called → planned again after the lease) or
   ``sending`` (→ ``unknown`` after the lease; the reconciler settles it from provider evidence).
Each provider's batch goes in its own thread, so a slow provider never holds up another channel.
Frequency caps count every message sent to the customer on that channel, across journeys.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    and_,
    bindparam,
    func,
    not_,
    select,
    update,
)

from prefect_journeys.compliance import consent, suppressions, tokens
from prefect_journeys.compliance.addresses import (
    hash_normalized,
    kind_of,
    normalize_email,
    normalize_phone,
)
from prefect_journeys.connectors.base import (
    Channel,
    ChannelConfigError,
    OutboundMessage,
    SendOutcome,
)
from prefect_journeys.connectors.outbox import OutboxChannel
from prefect_journeys.definition.durations import parse_cap
from prefect_journeys.definition.model import Settings
from prefect_journeys.engine import clock
from prefect_journeys.engine.context import TickReport
from prefect_journeys.engine.sqlbits import TAGS, C, E, I
from prefect_journeys.segments.rules import CUSTOMER_FIELDS
from prefect_journeys.store.database import utcnow
from prefect_journeys.store.writes import insert_events

ADDRESS = {"email": "email", "sms": "phone", "whatsapp": "phone"}
# intent status after dispatch → the TickReport counter it adds to
REPORT_COUNTER = {
    "sent": "sent",
    "failed": "failed",
    "unknown": "unknown",
    "planned": "deferred",
    "retry": "retried",
    "cancelled": "cancelled",
    "suppressed": "suppressed",
    "released": "deferred",
}
FINAL_STATUS = {"cancel": "cancelled", "suppress": "suppressed", "fail": "failed"}
SenderOpener = Callable[[str, str], Channel]
PlanLookup = Callable[[Connection, str, int], Any]

# One UPDATE per intent, executed as one executemany. The claim token guard makes a late outcome
# of a dispatcher whose lease expired a no-op (the reconciler owns that intent by then).
_RECORD_OUTCOME = (
    update(I)
    .where(I.c.id == bindparam("iid"), I.c.claim_token == bindparam("token"))
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
_MARK_SENDING = (
    update(I)
    .where(I.c.id == bindparam("iid"), I.c.claim_token == bindparam("token"))
    .values(status="sending", claimed_at=bindparam("at", type_=DateTime))
)


@dataclass
class Decision:
    row: Any
    action: str  # send | cancel | suppress | defer | fail | release
    reason: str | None = None
    until: datetime | None = None
    message: OutboundMessage | None = None
    sender: str = "outbox"


@dataclass(frozen=True)
class _Rules:
    """A journey version's dispatch settings, parsed once per dispatch."""

    settings: Settings
    quiet: dict[str, tuple[tuple[time, time], ...]]
    caps: dict[str, tuple[int, str]]
    unsubscribe_base: str | None
    postal_address: str | None


@dataclass(frozen=True)
class _Sender:
    """What every message of one send step shares: the compiled template and its context."""

    template: Any
    data: dict[str, Any]
    journey: dict[str, Any]
    step: dict[str, Any]
    transactional: bool
    topic: str
    template_id: str | None


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
        senders: SenderOpener | None = None,
        current: Settings | None = None,
        signing_key: bytes | None = None,
        dry_conn: Connection | None = None,
        batch_size: int = 1000,
        lease: timedelta = timedelta(minutes=15),
        held: Collection[tuple[int, str]] = (),
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
        self.outbox = channel or OutboxChannel()
        self._opener = senders
        # Who delivers is operational config: intents of older versions go out through the
        # journey's current senders (a fixed block name applies to messages already planned).
        self._current = current
        self._channels: dict[str, Channel | ChannelConfigError] = {}
        self._broken: set[tuple[int, str]] = set()  # (version, channel) whose sender cannot open
        # (version, step) the audience gate held this tick: their intents are not claimed
        self._held = tuple(held)
        self._signing_key = signing_key
        self.dry_conn = dry_conn
        self.batch_size = batch_size
        self.lease = lease
        self._lock = threading.Lock()

    # -- transactions: one per claim and one per outcome; a single rolled-back one when dry ----
    def _tx(self) -> Any:
        if self.dry_conn is not None:
            return nullcontext(self.dry_conn)
        return self.engine.begin()

    def run(self) -> None:
        with self._tx() as conn:
            self._release_stale(conn)
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="dispatch") as pool:
            while True:
                with self._tx() as conn:
                    claim = self._claim(conn)
                    rows = self._claimed(conn, *claim) if claim else []
                if not rows:
                    break
                token = claim[1] if claim else ""
                with self._tx() as conn:
                    decisions = self._decide(conn, rows)
                    remote = self._route(conn, decisions)
                    far = {id(d) for group in remote.values() for d in group}
                    local = [d for d in decisions if id(d) not in far]
                    sent = self._record(conn, local, self._send_local(conn, local), token)
                if self.dry_conn is None:
                    self.outbox.flush_jsonl(sent)  # type: ignore[attr-defined]
                # every provider in its own thread; this batch's calls finish before the next claim
                futures = [
                    pool.submit(self._send_remote, sender, group, token)
                    for sender, group in remote.items()
                ]
                for future in futures:
                    future.result()
                if self.dry_conn is not None and len(rows) < self.batch_size:
                    break
        self.report.blocked = [
            f"journey {self.journey_id}: {error} (those messages stay planned and go out once"
            " the sender is fixed)"
            for error in self._channels.values()
            if isinstance(error, ChannelConfigError)
        ]

    def plan_of(self, conn: Connection, version: int) -> Any:
        """The plan of an intent's journey version (read once per dispatch, not per message)."""
        if version not in self._plans:
            self._plans[version] = self._lookup(conn, self.journey_id, version)
        return self._plans[version]

    def _release_stale(self, conn: Connection) -> None:
        """Claims older than the lease. ``claimed``: no provider was called (the outbox writes
        commit together with 'sent'), so back to planned. ``sending``: the provider may have sent
        it: unknown, for the reconciler to settle from provider evidence."""
        old = I.c.claimed_at < self.now - self.lease
        mine = I.c.journey_id == self.journey_id
        conn.execute(
            update(I)
            .where(mine, I.c.status == "claimed", old)
            .values(status="planned", claim_token=None)
        )
        conn.execute(
            update(I)
            .where(mine, I.c.status == "sending", old)
            .values(
                status="unknown",
                claim_token=None,
                error="outcome unknown: the dispatching process stopped during the provider call",
            )
        )

    def _claim(self, conn: Connection) -> tuple[list[int], str] | None:
        due = (
            select(I.c.id)
            .where(
                I.c.journey_id == self.journey_id,
                I.c.status == "planned",
                I.c.due_at <= self.as_of,
                *[not_(and_(I.c.version == v, I.c.channel == c)) for v, c in self._broken],
                *[not_(and_(I.c.version == v, I.c.step_id == s)) for v, s in self._held],
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
        return ids, token

    def _claimed(self, conn: Connection, ids: list[int], token: str) -> list[Any]:
        """The rows this claim won (by primary key: ``claim_token`` has no index)."""
        return intent_rows(conn, and_(I.c.id.in_(ids), I.c.claim_token == token))

    # -- decisions --------------------------------------------------------------------------
    def _decide(self, conn: Connection, rows: Sequence[Any]) -> list[Decision]:
        customers = sorted({r.customer_id for r in rows})
        tags: dict[str, list[str]] = defaultdict(list)
        for customer_id, tag in conn.execute(
            select(TAGS.c.customer_id, TAGS.c.tag).where(TAGS.c.customer_id.in_(customers))
        ):
            tags[customer_id].append(tag)
        history = self._history(conn, rows, customers)
        consents = self._consents(conn, rows)
        addresses = self._addresses(rows)
        blocked = suppressions.scopes_of(conn, [h for _, h in addresses.values() if h])
        return [
            self._decide_one(conn, row, tags, history, consents, blocked, addresses) for row in rows
        ]

    def _history(
        self, conn: Connection, rows: Sequence[Any], customers: list[str]
    ) -> dict[tuple[str, str], list[datetime]]:
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
        return history

    def _consents(self, conn: Connection, rows: Sequence[Any]) -> dict[tuple[str, str, str], bool]:
        """Recorded consent decisions for every (channel, topic) of this batch's marketing sends."""
        wanted: dict[tuple[str, str], set[str]] = defaultdict(set)
        for row in rows:
            if row.channel in consent.FLAG:
                sender = self._sender(conn, row.version, row.step_id, row.template)
                if not sender.transactional:
                    wanted[(row.channel, sender.topic)].add(row.customer_id)
        found: dict[tuple[str, str, str], bool] = {}
        for (channel, topic), ids in wanted.items():
            for customer_id, granted in consent.decisions(conn, ids, channel, topic).items():
                found[(customer_id, channel, topic)] = granted
        return found

    @staticmethod
    def _addresses(rows: Sequence[Any]) -> dict[int, tuple[str | None, str | None]]:
        """Per intent with an address: (normalised address or None if invalid, its hash)."""
        out: dict[int, tuple[str | None, str | None]] = {}
        for row in rows:
            kind = kind_of(row.channel)
            raw = getattr(row, f"c_{ADDRESS[row.channel]}") if kind else None
            if kind and raw:
                value = normalize_email(raw) if kind == "email" else normalize_phone(raw)
                out[row.intent_id] = (value, hash_normalized(kind, value) if value else None)
        return out

    def _decide_one(
        self,
        conn: Connection,
        row: Any,
        tags: dict[str, list[str]],
        history: dict[tuple[str, str], list[datetime]],
        consents: dict[tuple[str, str, str], bool],
        blocked: dict[str, set[str]],
        addresses: dict[int, tuple[str | None, str | None]],
    ) -> Decision:
        if row.enrollment_state == "exited":
            return Decision(row, "cancel", "enrollment exited")
        if row.c_id is None:
            return Decision(row, "suppress", "customer unknown")
        sender = self._sender(conn, row.version, row.step_id, row.template)
        marketing = not sender.transactional
        if row.channel in consent.FLAG and marketing:
            recorded = consents.get((row.customer_id, row.channel, sender.topic))
            flag = getattr(row, f"c_{consent.FLAG[row.channel]}")
            if not (recorded if recorded is not None else flag):
                return Decision(row, "suppress", f"no {row.channel} consent for {sender.topic}")
        address: str | None = row.c_id
        kind = kind_of(row.channel)
        if kind is not None:
            if row.intent_id not in addresses:
                return Decision(row, "suppress", "no address")
            address, hashed = addresses[row.intent_id]
            if address is None or hashed is None:
                what = "email address is invalid" if kind == "email" else "phone is not E.164"
                return self._fail(row, what)
            scopes = blocked.get(hashed, set())
            if "all" in scopes or (marketing and "marketing" in scopes):
                return Decision(row, "suppress", "address suppressed")
        rules = self._rules_of(conn, row.version)
        tz = clock.zone(row.c_timezone, rules.settings.timezone)
        later = quiet_end(self.as_of, rules.quiet.get(row.channel, ()), tz)
        if later > self.as_of:
            return Decision(row, "defer", "quiet_hours", until=later)
        cap = rules.caps.get(row.channel)
        if cap:
            limit, unit = cap
            window_start, window_end = clock.cap_window(self.as_of, unit, tz)
            sent = [t for t in history[(row.customer_id, row.channel)] if t >= window_start]
            if len(sent) >= limit:
                until = quiet_end(window_end, rules.quiet.get(row.channel, ()), tz)
                return Decision(row, "defer", "frequency_cap", until=until)
        try:
            message = self._render(conn, row, tags.get(row.customer_id, []), address)
        except Exception as exc:  # a template error fails this message, not the tick
            return self._fail(row, f"render: {exc}")
        if not message.body.strip():
            return self._fail(row, f"template '{row.template}' rendered an empty body")
        history[(row.customer_id, row.channel)].append(self.as_of)  # counts toward the cap
        settings = self._current or rules.settings
        return Decision(row, "send", message=message, sender=settings.sender(row.channel))

    def _fail(self, row: Any, reason: str) -> Decision:
        self.report.problem(
            f"journey {self.journey_id}, step {row.step_id}, customer {row.customer_id}: {reason}"
        )
        return Decision(row, "fail", reason)

    def _rules_of(self, conn: Connection, version: int) -> _Rules:
        if version not in self._rules:
            settings: Settings = self.plan_of(conn, version).journey.settings
            compliance = settings.compliance
            self._rules[version] = _Rules(
                settings=settings,
                quiet={ch: settings.quiet_windows(ch) for ch in ("email", "sms", "whatsapp")},
                caps={ch: parse_cap(text) for ch, text in settings.frequency_cap.items()},
                unsubscribe_base=compliance.unsubscribe_url if compliance else None,
                postal_address=compliance.postal_address if compliance else None,
            )
        return self._rules[version]

    def _sender(self, conn: Connection, version: int, step_id: str, template: str) -> _Sender:
        key = (version, step_id)
        if key not in self._senders:
            from prefect_journeys.definition.templates import compile_template

            plan = self.plan_of(conn, version)
            step = plan.journey.step(step_id)
            spec = plan.templates[template]
            self._senders[key] = _Sender(
                template=compile_template(spec),
                data=dict(step.send.data),
                journey={"id": plan.journey.id, "name": plan.journey.name or plan.journey.id},
                step={"id": step.id, "stage": step.stage},
                transactional=step.send.transactional,
                topic=step.send.topic,
                template_id=spec.sendgrid_template_id,
            )
        return self._senders[key]

    def _render(
        self, conn: Connection, row: Any, tags: list[str], address: str | None
    ) -> OutboundMessage:
        sender = self._sender(conn, row.version, row.step_id, row.template)
        rules = self._rules_of(conn, row.version)
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
        body = rendered.body
        unsubscribe = None
        marketing = not sender.transactional
        if row.channel == "email" and marketing and rules.unsubscribe_base:
            unsubscribe = tokens.unsubscribe_url(rules.unsubscribe_base, self._key(), row.intent_id)
            if body.strip():
                body = (
                    f"{body.rstrip()}\n\n--\n{rules.postal_address}\nUnsubscribe: {unsubscribe}\n"
                )
        template_data = None
        if sender.template_id:
            template_data = {
                "subject": rendered.subject,
                "preheader": rendered.preheader,
                "body": rendered.body,
                "first_name": customer.get("first_name"),
                "data": sender.data,
                "unsubscribe_url": unsubscribe,
                "postal_address": rules.postal_address,
            }
        return OutboundMessage(
            intent_id=row.intent_id,
            channel=row.channel,
            customer_id=row.customer_id,
            to=address if row.channel != "webhook" else None,
            subject=rendered.subject,
            preheader=rendered.preheader,
            body=body,
            tags={"journey": self.journey_id, "version": row.version, "step": row.step_id},
            marketing=marketing,
            unsubscribe_url=unsubscribe,
            categories=(self.journey_id, f"{self.journey_id}:{row.step_id}"),
            template_id=sender.template_id,
            template_data=template_data,
            payload={"body": body, "data": sender.data, "stage": row.stage}
            if row.channel == "webhook"
            else None,
        )

    def _key(self) -> bytes:
        if self._signing_key is None:
            self._signing_key = tokens.signing_key()
        return self._signing_key

    # -- senders ------------------------------------------------------------------------------
    def channel_for(self, ref: str, channel: str) -> Channel:
        """The open channel of a sender reference (opened once per dispatch)."""
        key = f"{ref}#{channel}"
        if key not in self._channels:
            try:
                if ref == "outbox":
                    self._channels[key] = self.outbox
                elif self._opener is not None:
                    self._channels[key] = self._opener(ref, channel)
                else:
                    from prefect_journeys.connectors.registry import open_channel

                    self._channels[key] = open_channel(ref, channel)
            except ChannelConfigError as exc:
                self._channels[key] = ChannelConfigError(f"{channel} sender '{ref}': {exc}")
        found = self._channels[key]
        if isinstance(found, ChannelConfigError):
            raise found
        return found

    def _route(self, conn: Connection, decisions: list[Decision]) -> dict[str, list[Decision]]:
        """Provider sends grouped by sender; sends whose sender cannot open are released (they
        stay planned); in a dry run every send is local (recorded as would-send, not sent)."""
        remote: dict[str, list[Decision]] = defaultdict(list)
        for d in decisions:
            if d.action != "send" or self.dry_conn is not None:
                continue
            try:
                channel = self.channel_for(d.sender, d.row.channel)
            except ChannelConfigError as exc:
                self._broken.add((d.row.version, d.row.channel))
                d.action, d.reason, d.message = "release", str(exc), None
                continue
            if not getattr(channel, "transactional", False):
                remote[f"{d.sender}#{d.row.channel}"].append(d)
        if remote:
            at = utcnow()
            conn.execute(
                _MARK_SENDING,
                [
                    {"iid": d.row.intent_id, "token": d.row.claim_token, "at": at}
                    for group in remote.values()
                    for d in group
                ],
            )
        return dict(remote)

    def _send_local(self, conn: Connection, decisions: list[Decision]) -> dict[int, SendOutcome]:
        """The outbox (same transaction), or in a dry run only a record of what would be sent."""
        messages = [d.message for d in decisions if d.action == "send" and d.message is not None]
        if not messages:
            return {}
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
        self.outbox.bind(conn)  # type: ignore[attr-defined]
        return {o.intent_id: o for o in self.outbox.send_batch(messages)}

    def _send_remote(self, key: str, group: list[Decision], token: str) -> None:
        ref, _, channel_name = key.partition("#")
        channel = self.channel_for(ref, channel_name)
        messages = [d.message for d in group if d.message is not None]
        try:
            outcomes = {o.intent_id: o for o in channel.send_batch(messages)}
        except Exception as exc:  # the connector broke mid-batch: it may have sent some
            error = f"connector error ({type(exc).__name__}): outcome unknown"
            outcomes = {
                m.intent_id: SendOutcome(m.intent_id, "unknown", error=error) for m in messages
            }
        with self.engine.begin() as conn:
            self._record(conn, group, outcomes, token)

    # -- outcomes ---------------------------------------------------------------------------
    def _record(
        self,
        conn: Connection,
        decisions: list[Decision],
        outcomes: dict[int, SendOutcome],
        token: str,
    ) -> list[OutboundMessage]:
        """Record every decision: one UPDATE per intent (one executemany) and one event each."""
        params: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        tally: Counter[str] = Counter()
        by_step: Counter[str] = Counter()
        sent: list[OutboundMessage] = []
        opted_out: list[tuple[str, Any]] = []
        for d in decisions:
            row = d.row
            p = {
                "iid": row.intent_id,
                "token": token,
                "provider_id": None,
                "error": d.reason,
                "sent_at": None,
                "new_due": None,
                "deferrals": row.deferrals,
            }
            counter: str
            if d.action == "send":
                outcome = outcomes.get(row.intent_id) or SendOutcome(row.intent_id, "unknown")
                p["provider_id"], p["error"] = outcome.provider_id, outcome.error
                status, counter = self._outcome(row, d, outcome, p, events)
                if status == "sent" and d.message is not None:
                    by_step[row.step_id] += 1
                    sent.append(d.message)
                if outcome.status == "suppressed" and d.message and d.message.to:
                    opted_out.append((d.message.to, kind_of(row.channel)))
            elif d.action == "defer":
                status, counter = "planned", "planned"
                p["new_due"], p["deferrals"], p["error"] = d.until, row.deferrals + 1, None
                props = {"reason": d.reason, "until": d.until.isoformat() if d.until else None}
                events.append(self._event(row, "message.deferred", props, seq=row.deferrals + 1))
            elif d.action == "release":
                status, counter = "planned", "released"
            else:
                status = counter = FINAL_STATUS[d.action]
                events.append(self._event(row, f"message.{status}", {"reason": d.reason}))
            p["status"] = status
            tally[REPORT_COUNTER[counter]] += 1
            params.append(p)
        if params:
            conn.execute(_RECORD_OUTCOME, params)
        if opted_out:
            suppressions.suppress_hashes(
                conn,
                [(hash_normalized(kind, to), kind) for to, kind in opted_out if kind],
                "provider_opted_out",
                source="provider",
            )
        insert_events(conn, events, complete=True)
        with self._lock:
            for counter_name, count in tally.items():
                setattr(self.report, counter_name, getattr(self.report, counter_name) + count)
            for step_id, count in by_step.items():
                steps = self.report.sent_by_step
                steps[step_id] = steps.get(step_id, 0) + count
        return sent

    def _outcome(
        self,
        row: Any,
        d: Decision,
        outcome: SendOutcome,
        p: dict[str, Any],
        events: list[dict[str, Any]],
    ) -> tuple[str, str]:
        """Intent status and report counter for a provider's answer (adds the event)."""
        if outcome.status == "sent":
            p["sent_at"] = self.as_of
            events.append(self._event(row, "message.sent", {"provider_id": outcome.provider_id}))
            return "sent", "sent"
        if outcome.status == "retry":
            wait = timedelta(seconds=max(outcome.retry_after or 60.0, 1.0))
            p["new_due"], p["deferrals"] = self.as_of + wait, row.deferrals + 1
            props = {"reason": "provider_throttled", "error": outcome.error}
            events.append(self._event(row, "message.deferred", props, seq=row.deferrals + 1))
            return "planned", "retry"
        if outcome.status == "unknown":
            props = {"error": outcome.error}
            events.append(self._event(row, "message.unknown", props, seq=row.attempts))
            return "unknown", "unknown"
        self.report.problem(
            f"journey {self.journey_id}, step {row.step_id}, customer {row.customer_id}:"
            f" {d.sender} {outcome.status}: {outcome.error}"
        )
        name = "message.suppressed" if outcome.status == "suppressed" else "message.failed"
        events.append(self._event(row, name, {"error": outcome.error, "by": "provider"}))
        return outcome.status, outcome.status

    def _event(
        self, row: Any, name: str, properties: dict[str, Any], seq: int = 0
    ) -> dict[str, Any]:
        return message_event(self.journey_id, row, name, properties, self.as_of, seq)


def message_event(
    journey_id: str,
    row: Any,
    name: str,
    properties: dict[str, Any],
    as_of: datetime,
    seq: int = 0,
) -> dict[str, Any]:
    """A ``message.*`` event row about one intent (``row`` from :func:`intent_rows`)."""
    return {
        "source_id": f"{name}:{row.intent_id}" + (f":{seq}" if seq else ""),
        "customer_id": row.customer_id,
        "name": name,
        "occurred_at": as_of,
        "received_at": utcnow(),
        "properties": properties,
        "journey_id": journey_id,
        "journey_version": row.version,
        "step_id": row.step_id,
        "stage": row.stage,
        "variant": row.variant,
        "channel": row.channel,
        "enrollment_id": row.enrollment_id,
        "intent_id": row.intent_id,
    }


def intent_rows(conn: Connection, where: Any) -> list[Any]:
    """Intents with what dispatch needs of their customer and enrollment."""
    query = (
        select(
            I.c.id.label("intent_id"),
            I.c.journey_id,
            I.c.version,
            I.c.step_id,
            I.c.customer_id,
            I.c.enrollment_id,
            I.c.channel,
            I.c.template,
            I.c.stage,
            I.c.variant,
            I.c.deferrals,
            I.c.attempts,
            I.c.claim_token,
            I.c.claimed_at,
            I.c.created_at,
            E.c.state.label("enrollment_state"),
            *[C.c[f].label(f"c_{f}") for f in CUSTOMER_FIELDS],
            C.c.attributes.label("c_attributes"),
        )
        .select_from(
            I.outerjoin(C, C.c.id == I.c.customer_id).outerjoin(E, E.c.id == I.c.enrollment_id)
        )
        .where(where)
        .order_by(I.c.customer_id, I.c.created_at, I.c.id)
    )
    return list(conn.execute(query))


def quiet_end(when: datetime, windows: Sequence[tuple[time, time]], tz: Any) -> datetime:
    """The first moment ≥ ``when`` outside every quiet window (windows may overlap)."""
    for _ in range(4):
        later = when
        for start, end in windows:
            later = clock.quiet_hours_end(later, start, end, tz)
        if later == when:
            return when
        when = later
    return when


__all__ = ["Dispatcher", "intent_rows", "message_event"]
