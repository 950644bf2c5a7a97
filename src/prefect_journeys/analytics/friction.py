"""Friction and gaps: where customers leave a journey without converting, and how the journey
does against the KPI targets declared in its YAML (``targets:``).

* :func:`step_drop_off` — per step, enrollments *lost* there: their last step was this one,
  their enrollment ended (``journey.exited`` or ``journey.completed``) and they never converted.
  Enrollments still active are not lost (they may be waiting). Ranked by the count lost and by
  the rate (lost / entered).
* :func:`stage_drop_off` — between consecutive stages of the stage funnel: how many of the
  previous stage's enrollments did not reach the next one.
* :func:`gaps` — each declared target next to its actual value: ``gap = actual − target``,
  ``met = actual >= target`` (unknown when the actual cannot be computed).

All three are pure functions over an events frame of ONE journey (filter by ``journey_id``
first; ``gaps`` filters itself when given ``journey_id``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from prefect_journeys.analytics.steps import stage_funnel, step_stats
from prefect_journeys.definition.model import Targets

DROP_COLUMNS = ("step_id", "stage", "entered", "lost", "lost_rate", "rank_lost", "rank_rate")
GAP_COLUMNS = ("kind", "key", "metric", "actual", "target", "gap", "met", "base")
ENDINGS = ("journey.exited", "journey.completed")


def _require(events: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in events.columns]
    if missing:
        raise ValueError(f"events frame is missing column(s): {', '.join(missing)}")


def step_drop_off(events: pd.DataFrame, *, top: int | None = None) -> pd.DataFrame:
    """Steps ranked by enrollments lost there (ties: higher rate first), with ``rank_rate``
    the rank by ``lost_rate``. ``top`` keeps the first rows."""
    if top is not None and top < 0:
        raise ValueError(f"top must be a non-negative number of steps, got {top}")
    _require(events, ["name", "occurred_at", "enrollment_id", "step_id"])
    rows = events.loc[
        events["name"].isin(["journey.step", "journey.converted", *ENDINGS]),
        [
            c
            for c in ("name", "occurred_at", "enrollment_id", "step_id", "stage", "seq")
            if c in events
        ],
    ].dropna(subset=["enrollment_id"])
    steps = rows[(rows["name"] == "journey.step") & rows["step_id"].notna()]
    if steps.empty:
        return pd.DataFrame(columns=list(DROP_COLUMNS))
    order = ["occurred_at", "seq"] if "seq" in steps.columns else ["occurred_at"]
    last = steps.sort_values(order, kind="stable").drop_duplicates("enrollment_id", keep="last")
    ended = rows.loc[rows["name"].isin(list(ENDINGS)), "enrollment_id"].unique()
    converted = rows.loc[rows["name"] == "journey.converted", "enrollment_id"].unique()
    lost = last[last["enrollment_id"].isin(ended) & ~last["enrollment_id"].isin(converted)]
    entered = steps.groupby("step_id")["enrollment_id"].nunique().rename("entered")
    table = pd.concat(
        [entered, lost.groupby("step_id")["enrollment_id"].nunique().rename("lost")], axis=1
    )
    table["lost"] = table["lost"].fillna(0).astype("int64")
    table["lost_rate"] = table["lost"] / table["entered"]
    if "stage" in steps.columns:
        table["stage"] = steps.dropna(subset=["stage"]).groupby("step_id")["stage"].last()
    else:
        table["stage"] = None
    table = table.reset_index(names="step_id")
    table = table.sort_values(["lost", "lost_rate", "step_id"], ascending=[False, False, True])
    table["rank_lost"] = np.arange(1, len(table) + 1)
    table["rank_rate"] = (
        table["lost_rate"].rank(method="min", ascending=False).astype("int64").to_numpy()
    )
    table = table.reset_index(drop=True)[list(DROP_COLUMNS)]
    return table.head(top) if top is not None else table


def stage_drop_off(events: pd.DataFrame, *, stages: Sequence[str] | None = None) -> pd.DataFrame:
    """Between consecutive stages: ``from_stage``, ``to_stage``, ``from_enrollments``,
    ``to_enrollments``, ``dropped`` (the difference, never below 0) and ``drop_rate``
    (dropped / from; NaN when nobody was in the previous stage)."""
    funnel = stage_funnel(events, stages=stages)
    columns = [
        "from_stage",
        "to_stage",
        "from_enrollments",
        "to_enrollments",
        "dropped",
        "drop_rate",
    ]
    if len(funnel) < 2:
        return pd.DataFrame(columns=columns)
    before, after = funnel.iloc[:-1].reset_index(drop=True), funnel.iloc[1:].reset_index(drop=True)
    out = pd.DataFrame(
        {
            "from_stage": before["stage"],
            "to_stage": after["stage"],
            "from_enrollments": before["enrollments"],
            "to_enrollments": after["enrollments"],
        }
    )
    out["dropped"] = (out["from_enrollments"] - out["to_enrollments"]).clip(lower=0)
    base = out["from_enrollments"].astype("float64")
    out["drop_rate"] = (out["dropped"] / base).where(base > 0)
    return out[columns]


def as_targets(targets: Targets | Mapping[str, Any] | None) -> Targets:
    """A :class:`Targets` from the model or a plain mapping (as in the YAML); bad → ValueError."""
    if targets is None:
        return Targets()
    if isinstance(targets, Targets):
        return targets
    return Targets.model_validate(dict(targets))  # pydantic's ValidationError is a ValueError


def gaps(
    events: pd.DataFrame,
    targets: Targets | Mapping[str, Any] | None,
    *,
    journey_id: str | None = None,
) -> pd.DataFrame:
    """One row per declared target: ``kind`` (conversion | stage | step), ``key`` (the stage or
    step id), ``metric``, ``actual``, ``target``, ``gap`` (actual − target), ``met`` and ``base``
    (the denominator count the actual is over).

    Actuals: conversion = distinct enrollments with ``journey.converted`` / with
    ``journey.entered``; a stage = share of entered enrollments that reached it
    (``stage_funnel``'s ``rate_from_entered``); a step's rates as in ``step_stats``.
    """
    goal = as_targets(targets)
    _require(events, ["name", "enrollment_id"])
    if journey_id is not None:
        _require(events, ["journey_id"])
        events = events[events["journey_id"] == journey_id]
    records: list[dict[str, Any]] = []

    def add(kind: str, key: str, metric: str, actual: float, target: float, base: int) -> None:
        known = actual is not None and not np.isnan(actual)
        records.append(
            {
                "kind": kind,
                "key": key,
                "metric": metric,
                "actual": actual if known else np.nan,
                "target": target,
                "gap": actual - target if known else np.nan,
                "met": bool(actual >= target) if known else pd.NA,
                "base": base,
            }
        )

    if goal.conversion is not None:
        entered = events.loc[events["name"] == "journey.entered", "enrollment_id"].nunique()
        converted = events.loc[events["name"] == "journey.converted", "enrollment_id"].nunique()
        rate = converted / entered if entered else np.nan
        add("conversion", "goal", "conversion", rate, goal.conversion, int(entered))
    if goal.stages:
        funnel = stage_funnel(events, stages=list(goal.stages))
        by_stage = {str(r["stage"]): r for r in funnel.to_dict("records")}
        for stage, target in goal.stages.items():
            found = by_stage.get(stage)
            if found is None:
                add("stage", stage, "share_of_entered", np.nan, target, 0)
            else:
                actual = float(found["rate_from_entered"])
                add("stage", stage, "share_of_entered", actual, target, int(found["entered"]))
    if goal.steps:
        by_step = {str(r["step_id"]): r for r in step_stats(events).to_dict("records")}
        bases = {
            "delivery_rate": "sent",
            "open_rate": "delivered",
            "click_rate": "delivered",
            "conversion_rate": "entered",
        }
        for step_id, wanted in goal.steps.items():
            row = by_step.get(step_id)
            for metric, target in wanted.model_dump(exclude_none=True).items():
                if row is None:
                    add("step", step_id, metric, np.nan, target, 0)
                else:
                    add(
                        "step", step_id, metric, float(row[metric]), target, int(row[bases[metric]])
                    )
    out = pd.DataFrame.from_records(records, columns=list(GAP_COLUMNS))
    out["met"] = out["met"].astype("boolean")
    return out


__all__ = [
    "DROP_COLUMNS",
    "GAP_COLUMNS",
    "as_targets",
    "gaps",
    "stage_drop_off",
    "step_drop_off",
]
