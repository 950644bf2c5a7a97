"""Journey-level rules checked every tick: exit conditions and goal conversions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, func, select, update

from prefect_journeys.definition.durations import parse_duration
from prefect_journeys.engine.context import StepContext
from prefect_journeys.engine.enroll import entry_rule
from prefect_journeys.engine.moves import active, move, record
from prefect_journeys.engine.sqlbits import EV, E, seconds_between
from prefect_journeys.segments.rules import SegmentRef
from prefect_journeys.segments.sql import predicate, properties_match


def apply_exits(ctx: StepContext) -> int:
    rules = ctx.journey.exit
    moved = 0
    if rules.on_event:
        happened = exists(
            select(EV.c.seq).where(
                EV.c.customer_id == E.c.customer_id,
                EV.c.name.in_(rules.on_event),
                EV.c.occurred_at >= E.c.triggered_at,
                EV.c.occurred_at <= ctx.as_of,
            )
        )
        moved += move(ctx, and_(active(ctx), happened), "exit", reason="exit_event")
    if rules.on_leaving_segment:
        rule: Any = (
            entry_rule(ctx)
            if rules.on_leaving_segment is True
            else SegmentRef(segment=str(rules.on_leaving_segment))
        )
        if rule is not None:
            inside = predicate(rule, E.c.customer_id, ctx.sql())
            moved += move(ctx, and_(active(ctx), ~inside), "exit", reason="left_segment")
    return moved


def apply_goals(ctx: StepContext) -> int:
    """Mark conversions (goal event between trigger and deadline); optionally exit converters.

    Completed enrollments keep being checked until their window closes, so a holdout customer
    who receives nothing still converts and is counted.
    """
    goal = ctx.journey.goal
    if goal is None:
        return 0
    window = parse_duration(goal.within)
    first_hit = (
        select(func.min(EV.c.occurred_at))
        .where(
            EV.c.customer_id == E.c.customer_id,
            EV.c.name == goal.event,
            EV.c.occurred_at >= E.c.triggered_at,
            EV.c.occurred_at <= E.c.goal_deadline,
            EV.c.occurred_at <= ctx.as_of,
            properties_match(EV.c.properties, goal.where, ctx.dialect),
        )
        .scalar_subquery()
    )
    open_window = and_(
        E.c.journey_id == ctx.journey_id,
        E.c.version == ctx.version,
        E.c.converted_at.is_(None),
        E.c.goal_deadline >= ctx.as_of - window,  # closed long ago: final, skip
        E.c.triggered_at <= ctx.as_of,
    )
    converted = ctx.conn.execute(
        update(E)
        .where(open_window, first_hit.is_not(None))
        .values(converted_at=first_hit, updated_at=ctx.now)
        .returning(E.c.id, E.c.step_id)
    ).all()
    converted_ids = [row[0] for row in converted]
    for _, step_id in converted:
        key = step_id or "(finished)"
        ctx.report.converted_by_step[key] = ctx.report.converted_by_step.get(key, 0) + 1
    if not converted_ids:
        return 0
    for start in range(0, len(converted_ids), 1000):
        chunk = converted_ids[start : start + 1000]
        record(
            ctx,
            E.c.id.in_(chunk),
            "journey.converted",
            "converted",
            occurred_at=E.c.converted_at,
            value=seconds_between(ctx.conn, E.c.converted_at, E.c.triggered_at),
            properties=ctx.json({"goal": goal.event}),
        )
    ctx.report.converted += len(converted_ids)
    if goal.exit:
        converters = and_(active(ctx), E.c.converted_at.is_not(None))
        move(ctx, converters, "exit", reason="goal")
    return len(converted_ids)


__all__ = ["apply_exits", "apply_goals"]
