"""One processor per step kind. Each works on every due enrollment at the step in a few statements."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, delete, exists, literal, or_, select, update

from prefect_journeys.definition.model import (
    BranchStep,
    ExitStep,
    SendStep,
    SplitStep,
    UpdateStep,
    WaitForStep,
    WaitStep,
)
from prefect_journeys.engine.bandit import bandit_weights, bucket_ranges
from prefect_journeys.engine.context import StepContext
from prefect_journeys.engine.moves import at_step, move
from prefect_journeys.engine.sqlbits import (
    EV,
    TAGS,
    C,
    E,
    I,
    bucket,
    concat,
    insert_ignore,
    run_count,
)
from prefect_journeys.segments.sql import predicate, properties_match

PLANNED = "planned"


def process_step(ctx: StepContext, step_id: str) -> int:
    """Advance every due enrollment at ``step_id`` of this version. Returns how many moved."""
    step = ctx.journey.step(step_id)
    handler = _HANDLERS[type(step)]
    return handler(ctx, step)


def _send(ctx: StepContext, step: SendStep) -> int:
    where = at_step(ctx, step.id)
    columns = {
        "journey_id": E.c.journey_id,
        "version": E.c.version,
        "step_id": literal(step.id),
        "customer_id": E.c.customer_id,
        "entry_seq": E.c.entry_seq,
        "enrollment_id": E.c.id,
        "channel": literal(step.send.channel),
        "template": literal(step.send.template),
        "stage": literal(step.stage) if step.stage else E.c.stage,
        "variant": E.c.variant,
        "status": literal(PLANNED),
        "due_at": literal(ctx.as_of),
        "created_at": literal(ctx.now),
        "attempts": literal(0),
        "deferrals": literal(0),
    }
    stmt = insert_ignore(ctx.conn, I).from_select(
        list(columns), select(*columns.values()).where(where)
    )
    ctx.report.intents += run_count(ctx.conn, stmt, I.c.id)
    return move(ctx, where, step.next)


def _wait(ctx: StepContext, step: WaitStep) -> int:
    return move(ctx, at_step(ctx, step.id), step.next)


def _wait_for(ctx: StepContext, step: WaitForStep) -> int:
    spec = step.wait_for
    happened = exists(
        select(EV.c.seq).where(
            EV.c.customer_id == E.c.customer_id,
            EV.c.name == spec.event,
            EV.c.occurred_at >= E.c.step_entered_at,
            EV.c.occurred_at <= E.c.due_at,  # an event after the timeout does not count
            EV.c.occurred_at <= ctx.as_of,
            properties_match(EV.c.properties, spec.where, ctx.dialect),
        )
    )
    moved = move(ctx, and_(at_step(ctx, step.id, due_only=False), happened), step.on_event)
    return moved + move(ctx, at_step(ctx, step.id), step.on_timeout)


def _branch(ctx: StepContext, step: BranchStep) -> int:
    moved = 0
    sql = ctx.sql(enrollment_id=E.c.id)
    for case in step.cases:  # in order: a customer takes the first case she matches
        matches = predicate(case.when, E.c.customer_id, sql)
        moved += move(ctx, and_(at_step(ctx, step.id), matches), case.next)
    return moved + move(ctx, at_step(ctx, step.id), step.otherwise)


def _split(ctx: StepContext, step: SplitStep) -> int:
    key = concat(f"{ctx.journey_id}:{step.id}:", E.c.customer_id)
    slot = bucket(ctx.conn, key)
    ranges: list[list[tuple[int, int]]] = []
    low = 0
    for variant in step.split:  # random: each variant its weight's buckets, in order
        ranges.append([(low, low + variant.weight)] if variant.weight else [])
        low += variant.weight
    if step.mode == "bandit":
        due = ctx.conn.execute(select(exists(select(E.c.id).where(at_step(ctx, step.id))))).scalar()
        if not due:
            return 0
        # this tick's Thompson shares as buckets; holdouts keep their random-split range
        ranges = bucket_ranges(step, bandit_weights(ctx, step))
    moved = 0
    for variant, pieces in zip(step.split, ranges, strict=True):
        if pieces:
            in_range = or_(*(and_(slot >= lo, slot < hi) for lo, hi in pieces))
            where = and_(at_step(ctx, step.id), in_range)
            ctx.conn.execute(update(E).where(where).values(variant=variant.variant))
            moved += move(ctx, where, variant.next)
    return moved


def _update(ctx: StepContext, step: UpdateStep) -> int:
    where = at_step(ctx, step.id)
    who = select(E.c.customer_id).where(where)
    spec = step.update
    if spec.set:
        patch = json.dumps(spec.set, sort_keys=True)
        if ctx.dialect == "postgresql":
            from sqlalchemy import cast
            from sqlalchemy.dialects.postgresql import JSONB

            merged: Any = C.c.attributes.op("||")(cast(literal(patch), JSONB))
        else:
            from sqlalchemy import func

            merged = func.json_patch(C.c.attributes, patch)
        ctx.conn.execute(
            update(C).where(C.c.id.in_(who)).values(attributes=merged, updated_at=ctx.now)
        )
    for tag in spec.add_tags:
        rows = select(E.c.customer_id, literal(tag)).where(where).distinct()
        ctx.conn.execute(insert_ignore(ctx.conn, TAGS).from_select(["customer_id", "tag"], rows))
    if spec.remove_tags:
        ctx.conn.execute(
            delete(TAGS).where(TAGS.c.tag.in_(spec.remove_tags), TAGS.c.customer_id.in_(who))
        )
    return move(ctx, where, step.next)


def _exit(ctx: StepContext, step: ExitStep) -> int:
    reason = step.exit if isinstance(step.exit, str) else f"exit_step:{step.id}"
    return move(ctx, at_step(ctx, step.id), "exit", reason=reason)


_HANDLERS: dict[type, Callable[[StepContext, Any], int]] = {
    SendStep: _send,
    WaitStep: _wait,
    WaitForStep: _wait_for,
    BranchStep: _branch,
    SplitStep: _split,
    UpdateStep: _update,
    ExitStep: _exit,
}

__all__ = ["PLANNED", "process_step"]
