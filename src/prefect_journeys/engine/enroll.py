"""Entering a journey: by event, by segment, or by schedule — each one ``INSERT … SELECT``.

Re-entry rules (per customer, or per customer and key for keyed event entries):
- nobody is in the journey twice at once, and an event that happened while the customer was
  inside (between her entry trigger and her exit) never enrolls her later;
- ``never``: one entry ever; ``always``: again after finishing; ``{after: D}``: again once D has
  passed since her previous entry was triggered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from croniter import croniter
from sqlalchemy import (
    BigInteger,
    String,
    and_,
    cast,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from prefect_journeys.definition.durations import parse_duration
from prefect_journeys.definition.model import ReEntryAfter
from prefect_journeys.engine import clock
from prefect_journeys.engine.context import StepContext
from prefect_journeys.engine.moves import ACTIVE, due_on_arrival, record, set_local_due
from prefect_journeys.engine.sqlbits import (
    EV,
    STATE,
    C,
    E,
    add_seconds,
    insert_ignore,
    run_count,
)
from prefect_journeys.segments.rules import SegmentRef
from prefect_journeys.segments.sql import predicate, properties_match


def _blocked(
    ctx: StepContext, customer: Any, triggered: Any, key: Any | None = None
) -> ColumnElement[bool]:
    """An earlier enrollment of this customer (and key) that rules out an entry triggered then."""
    policy = ctx.journey.entry.re_entry
    prior = E.alias("prior")
    same = [prior.c.journey_id == ctx.journey_id, prior.c.customer_id == customer]
    if key is not None:
        same.append(prior.c.entry_key.is_not_distinct_from(key))
    if policy == "never":
        rule: ColumnElement[bool] = literal(True)
    else:
        rule = or_(
            prior.c.completed_at.is_(None),
            prior.c.completed_at >= triggered,
            prior.c.triggered_at >= triggered,
        )
        if isinstance(policy, ReEntryAfter):
            rule = or_(
                rule,
                add_seconds(ctx.conn, prior.c.triggered_at, parse_duration(policy.after))
                > triggered,
            )
    return exists(select(prior.c.id).where(*same, rule))


def _insert(ctx: StepContext, candidates: Any) -> int:
    """Insert enrollments from a subquery with columns customer_id, entry_key, trigger_seq,
    triggered_at, ordinal (1, 2, … per customer within this batch)."""
    journey = ctx.journey
    first = journey.step(journey.first_step)
    previous = (
        select(func.coalesce(func.max(E.c.entry_seq), 0))
        .where(E.c.journey_id == ctx.journey_id, E.c.customer_id == candidates.c.customer_id)
        .scalar_subquery()
    )
    goal_deadline: Any = literal(None)
    if journey.goal is not None:
        goal_deadline = add_seconds(
            ctx.conn, candidates.c.triggered_at, parse_duration(journey.goal.within)
        )
    due = due_on_arrival(ctx, first)
    columns = {
        "journey_id": literal(ctx.journey_id),
        "version": literal(ctx.version),
        "customer_id": candidates.c.customer_id,
        "entry_seq": previous + candidates.c.ordinal,
        "entry_key": candidates.c.entry_key,
        "trigger_seq": candidates.c.trigger_seq,
        "triggered_at": candidates.c.triggered_at,
        "entered_at": literal(ctx.as_of),
        "state": literal(ACTIVE),
        "step_id": literal(first.id),
        "step_entered_at": literal(ctx.as_of),
        "due_at": literal(due),
        "stage": literal(first.stage),
        "goal_deadline": goal_deadline,
        "updated_at": literal(ctx.now),
    }
    # SQLite needs a WHERE in INSERT … SELECT … ON CONFLICT (parsing ambiguity).
    query = select(*columns.values()).where(true())
    stmt = insert_ignore(ctx.conn, E).from_select(list(columns), query)
    count = run_count(ctx.conn, stmt, E.c.id)
    if count:
        fresh = and_(
            E.c.journey_id == ctx.journey_id,
            E.c.version == ctx.version,
            E.c.entered_at == ctx.as_of,
            E.c.step_id == first.id,
            E.c.step_entered_at == ctx.as_of,
        )
        record(ctx, fresh, "journey.entered", "entered", step_id=literal(None))
        record(ctx, fresh, "journey.step", first.id, step_id=literal(first.id))
        ctx.report.entered += count
        ctx.report.moved[first.id] = ctx.report.moved.get(first.id, 0) + count
        set_local_due(ctx, first)
    return count


def _advance_cursor(ctx: StepContext, cursor: int | None) -> None:
    """Move the entry cursor past every entry event decided by this tick: all of them up to the
    first one that lies after ``as_of`` (a future-stamped event is decided by a later tick)."""
    name = ctx.journey.entry.event
    newer = [EV.c.name == name] + ([EV.c.seq > cursor] if cursor is not None else [])
    undecided = ctx.conn.execute(
        select(func.min(EV.c.seq)).where(*newer, EV.c.occurred_at > ctx.as_of)
    ).scalar_one_or_none()
    latest = ctx.conn.execute(select(func.max(EV.c.seq)).where(*newer)).scalar_one_or_none()
    if latest is None:
        return
    value = int(latest) if undecided is None else int(undecided) - 1
    ctx.conn.execute(
        update(STATE).where(STATE.c.journey_id == ctx.journey_id).values(entry_cursor=value)
    )


def enroll_events(ctx: StepContext, activated_at: datetime) -> int:
    """Each entry event not yet decided may enroll its customer (see the module docstring).

    Only events after the journey's cursor are read, so a tick's work follows the new events,
    not the history (an event is decided once: it enrolls, or it was blocked for good).
    """
    entry = ctx.journey.entry
    assert entry.event is not None
    since = activated_at - parse_duration(entry.lookback)
    cursor = ctx.conn.execute(
        select(STATE.c.entry_cursor).where(STATE.c.journey_id == ctx.journey_id)
    ).scalar_one_or_none()
    key = EV.c.properties[entry.key].as_string() if entry.key else literal(None)
    partition = [EV.c.customer_id, key] if entry.key else [EV.c.customer_id]
    first_of = func.row_number().over(partition_by=partition, order_by=(EV.c.occurred_at, EV.c.seq))
    eligible = (
        select(
            EV.c.customer_id.label("customer_id"),
            key.label("entry_key"),
            EV.c.seq.label("trigger_seq"),
            EV.c.occurred_at.label("triggered_at"),
            first_of.label("rn"),
        )
        .where(
            EV.c.name == entry.event,
            EV.c.seq > (cursor if cursor is not None else -1),
            EV.c.occurred_at <= ctx.as_of,
            EV.c.occurred_at >= since,
            properties_match(EV.c.properties, entry.where, ctx.dialect),
            exists(select(C.c.id).where(C.c.id == EV.c.customer_id)),
            ~_blocked(ctx, EV.c.customer_id, EV.c.occurred_at, key if entry.key else None),
        )
        .subquery("eligible")
    )
    ordinal = func.row_number().over(
        partition_by=eligible.c.customer_id,
        order_by=(eligible.c.triggered_at, eligible.c.trigger_seq),
    )
    chosen = (
        select(
            eligible.c.customer_id,
            eligible.c.entry_key,
            eligible.c.trigger_seq,
            eligible.c.triggered_at,
            ordinal.label("ordinal"),
        )
        .where(eligible.c.rn == 1)
        .subquery("chosen")
    )
    count = _insert(ctx, chosen)
    _advance_cursor(ctx, cursor)
    return count


def enroll_audience(ctx: StepContext, rule: Any | None, triggered: datetime | None = None) -> int:
    """Customers matching ``rule`` (all customers when None) who may enter now.

    ``triggered`` (default: the tick's time) starts the goal window; a schedule passes its fire
    time, so a late tick does not shift the campaign's conversion window.
    """
    trigger = triggered or ctx.as_of
    conditions: list[ColumnElement[bool]] = [~_blocked(ctx, C.c.id, literal(trigger))]
    if rule is not None:
        conditions.append(predicate(rule, C.c.id, ctx.sql()))
    chosen = (
        select(
            C.c.id.label("customer_id"),
            # Typed NULLs: Postgres types an untyped NULL in a derived table as text.
            cast(null(), String).label("entry_key"),
            cast(null(), BigInteger).label("trigger_seq"),
            literal(trigger).label("triggered_at"),
            literal(1).label("ordinal"),
        )
        .where(*conditions)
        .subquery("chosen")
    )
    return _insert(ctx, chosen)


def entry_rule(ctx: StepContext) -> Any | None:
    segment = ctx.journey.entry.segment
    if segment is None:
        return None
    return SegmentRef(segment=segment) if isinstance(segment, str) else segment


def due_fire(ctx: StepContext, last_fire: datetime | None) -> datetime | None:
    """The schedule's latest fire time ≤ as_of if not yet taken and not older than catch_up."""
    spec = ctx.journey.entry.schedule
    assert spec is not None
    tz = clock.zone(spec.timezone)
    local_now = clock.to_local(ctx.as_of, tz)
    # croniter includes the start time itself when it matches: step a second past it.
    from datetime import timedelta

    fire_local = croniter(spec.cron, local_now + timedelta(seconds=1)).get_prev(datetime)
    fire = clock.to_utc(fire_local)
    if last_fire is not None and fire <= last_fire:
        return None
    if ctx.as_of - fire > parse_duration(spec.catch_up):
        return None
    return fire


def enroll(ctx: StepContext, activated_at: datetime, last_fire: datetime | None) -> int:
    kind = ctx.journey.entry.kind
    if kind == "event":
        return enroll_events(ctx, activated_at)
    if kind == "segment":
        return enroll_audience(ctx, entry_rule(ctx))
    fire = due_fire(ctx, last_fire)
    if fire is None:
        return 0
    count = enroll_audience(ctx, entry_rule(ctx), triggered=fire)
    ctx.conn.execute(
        update(STATE).where(STATE.c.journey_id == ctx.journey_id).values(last_schedule_fire=fire)
    )
    return count
