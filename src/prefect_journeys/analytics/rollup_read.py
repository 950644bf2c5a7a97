"""Reading the rollups: a frame of daily rows, and the journey report over any period from them.

:func:`rollup_report` returns the same shape as :func:`analytics.report.journey_report`; over all
time its figures are identical (the test suite proves it on a simulated store). Over a period
``since <= day < until`` (UTC days) the distinct counts follow the first-occurrence rule: an
intent's ``opened`` counts in the period of its first open, an enrollment's stage in the period
it first reached a step of that stage. Enrollment figures (``active``, per-variant enrollments
and conversions) come from the ``enrollments`` table, which is small and always current.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import Connection, func, select

from prefect_journeys.analytics.report import (
    HOLDOUT_NAMES,
    MESSAGE_EVENTS,
    STEP_COUNTS,
    TOTAL_EVENTS,
    funnel_rows,
    variant_conversion,
)
from prefect_journeys.store.models import Enrollment, RollupDaily

rollup_t = RollupDaily.__table__  # type: ignore[attr-defined]
enrollments_t = Enrollment.__table__  # type: ignore[attr-defined]

TEXT_DIMENSIONS = ("journey_id", "step_id", "stage", "variant", "channel")
COUNT_COLUMNS = (
    "events",
    "customers",
    "enrollments",
    "messages",
    "new_customers",
    "new_stage_enrollments",
    "new_step_enrollments",
    "new_messages",
)
ROLLUP_COLUMNS = (
    "day",
    "journey_id",
    "journey_version",
    *TEXT_DIMENSIONS[1:],
    "name",
    *COUNT_COLUMNS,
    "value_sum",
    "first_seq",
    "last_seq",
)


def _check_period(since: date | None, until: date | None) -> None:
    if since is not None and until is not None and until < since:
        raise ValueError(f"until ({until}) is before since ({since})")


def daily_frame(
    conn: Connection,
    *,
    journey_id: str | None = None,
    since: date | None = None,
    until: date | None = None,
    names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Rollup rows with ``since <= day < until``; ``journey_id=''`` selects journeyless events.

    Dimension columns keep the stored convention: ``''`` / ``0`` mean "none".
    """
    _check_period(since, until)
    query = select(*(rollup_t.c[c] for c in ROLLUP_COLUMNS))
    if journey_id is not None:
        query = query.where(rollup_t.c.journey_id == journey_id)
    if since is not None:
        query = query.where(rollup_t.c.day >= since)
    if until is not None:
        query = query.where(rollup_t.c.day < until)
    if names is not None:
        query = query.where(rollup_t.c.name.in_(list(names)))
    rows = [tuple(r) for r in conn.execute(query)]
    frame = pd.DataFrame.from_records(rows, columns=list(ROLLUP_COLUMNS))
    for column in (*COUNT_COLUMNS, "journey_version", "first_seq", "last_seq"):
        frame[column] = frame[column].astype("int64")
    frame["value_sum"] = frame["value_sum"].astype("float64")
    return frame


def _totals(frame: pd.DataFrame, conn: Connection, journey_id: str) -> dict[str, int]:
    counts = frame[frame["name"].isin(TOTAL_EVENTS)].groupby("name")["events"].sum()
    out = {name.removeprefix("journey."): int(counts.get(name, 0)) for name in TOTAL_EVENTS}
    active = conn.execute(
        select(func.count())
        .select_from(enrollments_t)
        .where(enrollments_t.c.journey_id == journey_id, enrollments_t.c.state == "active")
    ).scalar_one()
    out["active"] = int(active)
    return out


def _funnel(
    frame: pd.DataFrame, stages: Sequence[str] | None, entered: int
) -> list[dict[str, Any]]:
    steps = frame[(frame["name"] == "journey.step") & (frame["stage"] != "")]
    grouped = steps.groupby("stage").agg(
        n=("new_stage_enrollments", "sum"), seq=("first_seq", "min")
    )
    counts = {str(s): int(n) for s, n in grouped["n"].items()}
    first_seen = {str(s): int(q) for s, q in grouped["seq"].items()}
    return funnel_rows(counts, first_seen, stages, entered)


def _steps(frame: pd.DataFrame, steps: Sequence[str] | None) -> list[dict[str, Any]]:
    with_step = frame[frame["step_id"] != ""]
    entered = with_step[with_step["name"] == "journey.step"]
    entered_stage = entered.assign(stage=entered["stage"].where(entered["stage"] != ""))
    by_step = entered_stage.groupby("step_id").agg(n=("events", "sum"), stage=("stage", "max"))
    messages = with_step[with_step["name"].isin(MESSAGE_EVENTS)]
    by_message = messages.groupby(["step_id", "name"])["new_messages"].sum()
    relevant = with_step[with_step["name"].isin(("journey.step", *MESSAGE_EVENTS))]
    first_seen = relevant.groupby("step_id")["first_seq"].min()
    table: dict[str, dict[str, Any]] = {}

    def row(step_id: str) -> dict[str, Any]:
        if step_id not in table:
            table[step_id] = {"step_id": step_id, "stage": None, **dict.fromkeys(STEP_COUNTS, 0)}
        return table[step_id]

    for step_id, item in by_step.iterrows():
        target = row(str(step_id))
        target["entered"] = int(item["n"])
        target["stage"] = None if pd.isna(item["stage"]) else str(item["stage"])
    for step_id, name, count in by_message.reset_index().itertuples(index=False):
        row(str(step_id))[str(name).removeprefix("message.")] = int(count)
    order = list(steps or [])
    order += sorted((s for s in table if s not in order), key=lambda s: int(first_seen.get(s, 0)))
    return [row(s) for s in order]


def rollup_report(
    conn: Connection,
    journey_id: str,
    *,
    since: date | None = None,
    until: date | None = None,
    stages: Sequence[str] | None = None,
    steps: Sequence[str] | None = None,
    holdouts: Sequence[str] = HOLDOUT_NAMES,
) -> dict[str, Any]:
    """``journey_report`` from the rollups, for the UTC days ``since <= day < until``.

    ``variants`` (enrollments, conversions) always cover every enrollment of the journey; their
    ``sent`` counts follow the period.
    """
    frame = daily_frame(conn, journey_id=journey_id, since=since, until=until)
    summary = _totals(frame, conn, journey_id)
    variants = variant_conversion(conn, journey_id, holdouts)
    sent = frame[frame["name"] == "message.sent"].groupby("variant")["events"].sum()
    for item in variants:
        item["sent"] = int(sent.get(item["variant"] if item["variant"] is not None else "", 0))
    return {
        "journey": journey_id,
        "totals": summary,
        "funnel": _funnel(frame, stages, summary["entered"]),
        "steps": _steps(frame, steps),
        "variants": variants,
    }


__all__ = ["ROLLUP_COLUMNS", "daily_frame", "rollup_report"]
