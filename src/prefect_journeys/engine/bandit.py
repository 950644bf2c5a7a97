"""The ``bandit`` split: Thompson sampling over the journey goal, with a floor per arm.

At each tick a bandit split turns what its arms have achieved so far into bucket weights, then
assigns the customers due at the split exactly like a random split does (md5 bucket ranges over
``journey:step:customer``), so assignment stays deterministic given the journey, ``as_of`` and
the data. An arm's share is its probability of being the best arm (Beta(1 + conversions,
1 + enrollments − conversions) posteriors of goal conversion among the enrollments assigned to
it), floored at ``floor`` and renormalised; holdout variants keep their fixed weight.

Every allocation is recorded once per tick as an ``experiment.allocation`` event (no customer:
``customer_id`` is empty) whose properties hold the arms' counts, posteriors, probability to be
best, share and weight. A later pass in the same tick, or a replay of the tick, reuses the
recorded weights, so the shares logged are the shares used.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from prefect_journeys.analytics.bayes import bucket_weights, floored_shares, prob_best
from prefect_journeys.analytics.experiments import ALLOCATION_EVENT
from prefect_journeys.definition.model import SplitStep
from prefect_journeys.engine.context import StepContext
from prefect_journeys.engine.sqlbits import EV, E, insert_ignore

NO_CUSTOMER = ""  # the allocation event belongs to the journey, not to a customer


def allocation_key(ctx: StepContext, step: SplitStep) -> str:
    return f"{ALLOCATION_EVENT}:{ctx.journey_id}:{ctx.version}:{step.id}:{ctx.as_of.isoformat()}"


def arm_counts(ctx: StepContext, step: SplitStep) -> dict[str, tuple[int, int]]:
    """Enrollments of this journey (any version) assigned to each arm, and how many of them
    have reached the goal by ``as_of``: ``{variant: (enrollments, conversions)}``."""
    names = [v.variant for v in step.arms]
    converted = func.count(E.c.converted_at).filter(E.c.converted_at <= ctx.as_of)
    rows = ctx.conn.execute(
        select(E.c.variant, func.count(), converted)
        .where(E.c.journey_id == ctx.journey_id, E.c.variant.in_(names))
        .group_by(E.c.variant)
    ).all()
    found = {str(v): (int(n), int(x)) for v, n, x in rows}
    return {name: found.get(name, (0, 0)) for name in names}


def allocation(step: SplitStep, counts: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """The weights (hash buckets out of 100) for every variant of ``step``, in its order, and
    what they came from: per arm enrollments, conversions, posterior, probability to be best,
    floored share and weight. Pure: the same counts always give the same allocation."""
    arms = step.arms
    n = [counts[a.variant][0] for a in arms]
    x = [counts[a.variant][1] for a in arms]
    best = prob_best(x, n)
    shares = floored_shares(best, step.arm_floor)
    space = 100 - sum(v.weight for v in step.split if v.is_holdout)
    arm_weights = dict(
        zip((a.variant for a in arms), bucket_weights(shares, space, step.arm_floor), strict=True)
    )
    weights = {
        v.variant: (v.weight if v.is_holdout else arm_weights[v.variant]) for v in step.split
    }
    return {
        "step_id": step.id,
        "mode": "bandit",
        "floor": step.arm_floor,
        "weights": weights,
        "arms": [
            {
                "variant": a.variant,
                "enrollments": n[i],
                "conversions": x[i],
                "alpha": 1 + x[i],
                "beta": 1 + n[i] - x[i],
                "prob_best": round(float(best[i]), 6),
                "share": round(float(shares[i]), 6),
                "weight": arm_weights[a.variant],
            }
            for i, a in enumerate(arms)
        ],
        "holdouts": [
            {"variant": v.variant, "weight": v.weight} for v in step.split if v.is_holdout
        ],
    }


def bucket_ranges(step: SplitStep, weights: list[int]) -> list[list[tuple[int, int]]]:
    """Half-open bucket ranges per variant (in ``step.split`` order) for this tick's weights.

    Holdouts keep the range a random split gives them (from the configured weights), so a
    customer held out is held out whatever the arms do; the arms take the remaining buckets in
    order, which may mean two pieces around a holdout listed between them.
    """
    ranges: list[list[tuple[int, int]]] = [[] for _ in step.split]
    held: set[int] = set()
    low = 0
    for index, variant in enumerate(step.split):
        if variant.is_holdout and variant.weight:
            ranges[index] = [(low, low + variant.weight)]
            held.update(range(low, low + variant.weight))
        low += variant.weight
    free = [b for b in range(100) if b not in held]
    start = 0
    for index, (variant, weight) in enumerate(zip(step.split, weights, strict=True)):
        if variant.is_holdout:
            continue
        for slot in free[start : start + weight]:
            if ranges[index] and ranges[index][-1][1] == slot:
                ranges[index][-1] = (ranges[index][-1][0], slot + 1)
            else:
                ranges[index].append((slot, slot + 1))
        start += weight
    return ranges


def _recorded(ctx: StepContext, key: str) -> dict[str, Any] | None:
    value = ctx.conn.execute(select(EV.c.properties).where(EV.c.source_id == key)).scalar()
    if value is None:
        return None
    loaded = json.loads(value) if isinstance(value, str | bytes) else value
    return loaded if isinstance(loaded, dict) else None


def bandit_weights(ctx: StepContext, step: SplitStep) -> list[int]:
    """This tick's weight for each variant of ``step`` (in order), computed and recorded on first
    use in the tick, read back from the recorded event afterwards."""
    key = allocation_key(ctx, step)
    found = _recorded(ctx, key)
    if found is None:
        found = allocation(step, arm_counts(ctx, step))
        ctx.conn.execute(
            insert_ignore(ctx.conn, EV).values(
                source_id=key,
                customer_id=NO_CUSTOMER,
                name=ALLOCATION_EVENT,
                occurred_at=ctx.as_of,
                received_at=ctx.now,
                properties=found,
                journey_id=ctx.journey_id,
                journey_version=ctx.version,
                step_id=step.id,
            )
        )
    weights = found["weights"]
    return [int(weights.get(v.variant, 0)) for v in step.split]


__all__ = ["ALLOCATION_EVENT", "allocation", "arm_counts", "bandit_weights", "bucket_ranges"]
