"""Moving a set of enrollments from one place to the next, as two statements whatever the size.

``move(ctx, where, target)`` records one event per moved enrollment (``journey.step`` on arrival,
``journey.completed`` / ``journey.exited`` at the end) with ``INSERT … SELECT``, then updates the
same rows with one ``UPDATE``. ``where`` is a SQL condition on the enrollments table.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from sqlalchemy import and_, distinct, literal, select, update
from sqlalchemy.sql.elements import ColumnElement

from prefect_journeys.definition.durations import parse_duration, parse_time_of_day
from prefect_journeys.definition.model import EXIT_TARGET, WaitForStep, WaitStep, WaitUntil
from prefect_journeys.engine import clock
from prefect_journeys.engine.context import StepContext
from prefect_journeys.engine.sqlbits import EV, C, E, concat, insert_ignore

ACTIVE, COMPLETED, EXITED = "active", "completed", "exited"


def active(ctx: StepContext) -> ColumnElement[bool]:
    return and_(E.c.journey_id == ctx.journey_id, E.c.version == ctx.version, E.c.state == ACTIVE)


def at_step(ctx: StepContext, step_id: str, *, due_only: bool = True) -> ColumnElement[bool]:
    cond = and_(active(ctx), E.c.step_id == step_id)
    return and_(cond, E.c.due_at <= ctx.as_of) if due_only else cond


def due_on_arrival(ctx: StepContext, step: Any) -> datetime | None:
    """When a step arriving now is due: waits add their duration; local-time waits are per zone."""
    if isinstance(step, WaitStep):
        if isinstance(step.wait, WaitUntil):
            return None  # filled per time zone by set_local_due
        return ctx.as_of + parse_duration(step.wait.duration)
    if isinstance(step, WaitForStep):
        return ctx.as_of + parse_duration(step.wait_for.timeout)
    return ctx.as_of


def record(ctx: StepContext, where: ColumnElement[bool], name: str, key: str, **cols: Any) -> None:
    """One event per enrollment matching ``where``; ``key`` makes its source_id (dedup on replay)."""
    values = {
        "source_id": concat(f"{name}:", E.c.id, f":{key}:{ctx.as_of.isoformat()}"),
        "customer_id": E.c.customer_id,
        "name": name,
        "occurred_at": ctx.as_of,
        "received_at": ctx.now,
        "properties": ctx.json(),
        "journey_id": E.c.journey_id,
        "journey_version": E.c.version,
        "stage": E.c.stage,
        "variant": E.c.variant,
        "enrollment_id": E.c.id,
        **cols,
    }
    columns = list(values)
    exprs = [v if isinstance(v, ColumnElement) else _bind(v) for v in values.values()]
    stmt = insert_ignore(ctx.conn, EV).from_select(columns, select(*exprs).where(where))
    ctx.conn.execute(stmt)


def _bind(value: Any) -> Any:
    return literal(value)


def move(
    ctx: StepContext, where: ColumnElement[bool], target: str | None, reason: str | None = None
) -> int:
    """Move every enrollment matching ``where`` to ``target`` (a step id, ``exit``, or None = end)."""
    if target is None or target == EXIT_TARGET:
        state = COMPLETED if target is None else EXITED
        exit_reason = None if target is None else (reason or "exit")
        props = {"reason": exit_reason} if exit_reason else None
        record(ctx, where, f"journey.{state}", state, properties=ctx.json(props))
        result = ctx.conn.execute(
            update(E)
            .where(where)
            .values(
                state=state,
                step_id=None,
                due_at=None,
                exit_reason=exit_reason,
                completed_at=ctx.as_of,
                updated_at=ctx.now,
            )
        )
        count = int(result.rowcount or 0)
        if state == COMPLETED:
            ctx.report.completed += count
        else:
            ctx.report.exited += count
        return count

    step = ctx.journey.step(target)
    stage = step.stage
    record(
        ctx,
        where,
        "journey.step",
        target,
        step_id=_bind(target),
        stage=_bind(stage) if stage else E.c.stage,
    )
    values: dict[str, Any] = {
        "step_id": target,
        "step_entered_at": ctx.as_of,
        "due_at": due_on_arrival(ctx, step),
        "updated_at": ctx.now,
    }
    if stage:
        values["stage"] = stage
    count = int(ctx.conn.execute(update(E).where(where).values(**values)).rowcount or 0)
    if count:
        ctx.report.moved[target] = ctx.report.moved.get(target, 0) + count
        set_local_due(ctx, step)
    return count


def set_local_due(ctx: StepContext, step: Any) -> None:
    """For a wait until a local time of day: one UPDATE per distinct customer time zone."""
    if not (isinstance(step, WaitStep) and isinstance(step.wait, WaitUntil)):
        return
    at: time = parse_time_of_day(step.wait.until)
    days = tuple(clock.WEEKDAY_INDEX[d] for d in step.wait.weekdays) if step.wait.weekdays else None
    waiting = and_(active(ctx), E.c.step_id == step.id, E.c.due_at.is_(None))
    zones = ctx.conn.execute(
        select(distinct(C.c.timezone))
        .select_from(E.join(C, C.c.id == E.c.customer_id))
        .where(waiting)
    ).scalars()
    default = ctx.journey.settings.timezone
    for name in list(zones):
        due = clock.next_local_time(ctx.as_of, at, clock.zone(name, default), days)
        match = C.c.timezone.is_(None) if name is None else C.c.timezone == name
        ctx.conn.execute(
            update(E)
            .where(waiting, E.c.customer_id.in_(select(C.c.id).where(match)))
            .values(due_at=due)
        )
    # Customers without a row (deleted since) fall back to the journey's default zone.
    fallback = clock.next_local_time(ctx.as_of, at, clock.zone(default), days)
    ctx.conn.execute(update(E).where(waiting).values(due_at=fallback))


__all__ = ["ACTIVE", "COMPLETED", "EXITED", "active", "at_step", "move", "record"]
