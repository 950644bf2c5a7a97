"""Per-step statistics, the stage funnel and time to convert, from the event log.

Pure functions over frames shaped like the ``events`` table (see ``frames.py``), grouped by
journey and, on request, by ``journey_version``, ``variant``, ``channel`` and a calendar
``period`` (``"day"``, ``"week"`` starting Monday, ``"month"``) of each event's ``occurred_at``.
Every figure is defined in ``docs/metrics.md`` ("Step statistics, stage funnel and ordered
funnels"); in short, per step:

* ``entered`` — distinct enrollments with a ``journey.step`` event at the step (``entries``
  counts the events: an enrollment that comes back to a step enters it again);
* ``sent``, ``deferred``, ``suppressed``, ``quarantined``, ``delivered``, ``opened``,
  ``clicked`` — distinct messages (``intent_id``) with that ``message.*`` event at the step:
  a provider that reports an open twice still counts one opened message;
* ``converted`` — distinct enrollments that reached the step and whose ``journey.converted``
  event happened at or after they first reached it (so one conversion counts at every step
  the customer went through before converting);
* ``exited`` — distinct enrollments whose ``journey.exited`` event came while they were at
  the step (the last step reached at or before the exit).

Rows without a channel (``journey.*`` events) take the channel of their step's messages, so
grouping by channel keeps a step's entries and its messages in one row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import pandas as pd

from prefect_journeys.definition.model import DEFAULT_STAGES

PERIODS: tuple[str | None, ...] = (None, "day", "week", "month")
DIMENSIONS: tuple[str, ...] = ("journey_version", "variant", "channel")
MESSAGE_COUNTS: tuple[str, ...] = (
    "sent",
    "deferred",
    "suppressed",
    "quarantined",
    "delivered",
    "opened",
    "clicked",
)
STEP_COLUMNS: tuple[str, ...] = (
    "step_id",
    "stage",
    "entries",
    "entered",
    *MESSAGE_COUNTS,
    "converted",
    "exited",
    "delivery_rate",
    "open_rate",
    "click_rate",
    "conversion_rate",
)
QUANTILE_METHOD = "linear"  # numpy's default, Hyndman & Fan type 7 (as DuckDB quantile_cont)


def _require(events: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in events.columns]
    if missing:
        raise ValueError(f"events frame is missing column(s): {', '.join(missing)}")


def _keys(by: Sequence[str], period: str | None) -> list[str]:
    unknown = [d for d in by if d not in DIMENSIONS]
    if unknown:
        raise ValueError(
            f"unknown grouping dimension(s) {', '.join(unknown)}: expected {', '.join(DIMENSIONS)}"
        )
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}: expected None, 'day', 'week' or 'month'")
    return ["journey_id", *dict.fromkeys(by), *(["period"] if period else [])]


def period_start(when: pd.Series, period: str | None) -> pd.Series:
    """The start of each timestamp's day, week (Monday) or month."""
    stamps = pd.to_datetime(when)
    if period == "day":
        return stamps.dt.floor("D")
    if period == "week":
        day = stamps.dt.floor("D")
        return day - pd.to_timedelta(day.dt.weekday, unit="D")
    if period == "month":
        return pd.Series(stamps.dt.to_period("M").dt.to_timestamp(), index=stamps.index)
    raise ValueError(f"unknown period {period!r}")


def _prepared(
    events: pd.DataFrame, names: Sequence[str], keys: Sequence[str], period: str | None
) -> pd.DataFrame:
    """Rows with the given names, the key columns present (missing dims → None) and ``period``."""
    needed = ["name", "occurred_at", "journey_id", "step_id", "enrollment_id"]
    _require(events, needed)
    optional = ("journey_version", "variant", "channel", "intent_id", "stage", "value", "seq")
    keep = [*needed, *(c for c in optional if c in events.columns)]
    rows = events.loc[events["name"].isin(list(names)).to_numpy(), keep]
    # Text columns as categoricals: the many filters below copy integer codes, and groupbys
    # on them skip hashing strings (:func:`_plain` turns result keys back into text).
    text = [c for c in keep if c != "occurred_at" and pd.api.types.is_string_dtype(rows[c])]
    rows = rows.astype({**dict.fromkeys(text, "category"), "name": "category"})
    for col in optional[:5]:
        if col not in rows.columns:
            rows[col] = None
    rows["occurred_at"] = pd.to_datetime(rows["occurred_at"])
    if period:
        rows["period"] = period_start(rows["occurred_at"], period)
    return rows


def _plain(table: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns of a result back to the dtype of their values (text: ``str``)."""
    coded = [c for c in table.columns if isinstance(table[c].dtype, pd.CategoricalDtype)]
    return table.astype({c: table[c].cat.categories.dtype for c in coded}) if coded else table


def _fill_channel(rows: pd.DataFrame, messages: pd.DataFrame) -> pd.DataFrame:
    """Channel-less rows take the channel their step's messages went out on (the first seen)."""
    sent = messages.dropna(subset=["channel", "step_id"])
    if sent.empty or rows.empty:
        return rows
    rows["channel"] = rows["channel"].astype(object)
    by_step = sent.drop_duplicates(["journey_id", "step_id"]).set_index(["journey_id", "step_id"])[
        "channel"
    ]
    missing = rows["channel"].isna()
    if missing.any():
        index = pd.MultiIndex.from_frame(rows.loc[missing, ["journey_id", "step_id"]])
        rows.loc[missing, "channel"] = by_step.reindex(index).to_numpy()
    return rows


def _distinct(rows: pd.DataFrame, keys: list[str], column: str, name: str) -> pd.Series:
    if rows.empty:
        return pd.Series(dtype="int64", name=name)
    return rows.groupby(keys, dropna=False)[column].nunique().rename(name)


def step_stats(
    events: pd.DataFrame,
    *,
    by: Sequence[str] = (),
    period: str | None = None,
) -> pd.DataFrame:
    """One row per journey (× ``by`` × period) × step with the counts and rates above.

    Rates: ``delivery_rate`` = delivered / sent, ``open_rate`` = opened / delivered,
    ``click_rate`` = clicked / delivered, ``conversion_rate`` = converted / entered; ``NaN``
    when the denominator is zero. Rows are sorted by the keys, then by the step's first event.
    """
    keys = _keys(by, period)
    step_keys = [*keys, "step_id"]
    message_names = [f"message.{m}" for m in MESSAGE_COUNTS]
    names = ["journey.step", "journey.converted", "journey.exited", *message_names]
    rows = _prepared(events, names, keys, period)
    messages = rows[rows["name"].isin(message_names)].copy()
    steps = _fill_channel(rows[rows["name"] == "journey.step"].copy(), messages)
    steps = steps.dropna(subset=["step_id"])

    parts: list[pd.Series] = [
        steps.groupby(step_keys, dropna=False).size().rename("entries"),
        _distinct(steps, step_keys, "enrollment_id", "entered"),
    ]
    messages = messages.dropna(subset=["step_id"])
    # A message without an intent id is its own message (the report counts its source id).
    intent = pd.to_numeric(messages["intent_id"], errors="coerce").to_numpy(dtype="float64")
    own = -1.0 - np.arange(len(messages), dtype="float64")  # negative: never an intent id
    messages["message"] = np.where(np.isnan(intent), own, intent)
    for kind in MESSAGE_COUNTS:
        subset = messages[messages["name"] == f"message.{kind}"]
        parts.append(_distinct(subset, step_keys, "message", kind))
    parts.append(_converted(rows, steps, keys, period))
    parts.append(_exited(rows, steps, keys, period))

    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=[*keys, *STEP_COLUMNS])
    table = pd.concat(parts, axis=1)
    for column in ("entries", "entered", *MESSAGE_COUNTS, "converted", "exited"):
        if column not in table.columns:
            table[column] = 0
    counts = [c for c in STEP_COLUMNS if c in table.columns]
    table[counts] = table[counts].fillna(0).astype("int64")
    table = table.reset_index()
    first_seen = (
        pd.concat([steps, messages]).groupby(["journey_id", "step_id"])["occurred_at"].min()
    )
    stage = steps.dropna(subset=["stage"]).groupby(["journey_id", "step_id"])["stage"].last()
    pair = pd.MultiIndex.from_frame(table[["journey_id", "step_id"]])
    table["stage"] = stage.reindex(pair).to_numpy()
    table["_first"] = first_seen.reindex(pair).to_numpy()
    table["delivery_rate"] = _ratio(table["delivered"], table["sent"])
    table["open_rate"] = _ratio(table["opened"], table["delivered"])
    table["click_rate"] = _ratio(table["clicked"], table["delivered"])
    table["conversion_rate"] = _ratio(table["converted"], table["entered"])
    table = _plain(table).sort_values(
        [*keys, "_first", "step_id"], kind="stable", na_position="first"
    )
    return table[[*keys, *STEP_COLUMNS]].reset_index(drop=True)


def _ratio(part: pd.Series, whole: pd.Series) -> pd.Series:
    whole_f = whole.astype("float64")
    return (part.astype("float64") / whole_f).where(whole_f > 0)


def _converted(
    rows: pd.DataFrame, steps: pd.DataFrame, keys: list[str], period: str | None
) -> pd.Series:
    conv = rows[rows["name"] == "journey.converted"].dropna(subset=["enrollment_id"])
    if conv.empty or steps.empty:
        return pd.Series(dtype="int64", name="converted")
    conv = conv.groupby("enrollment_id", as_index=False).agg(
        converted_at=("occurred_at", "min"),
        **({"conv_period": ("period", "first")} if period else {}),
    )
    firsts = steps.sort_values("occurred_at", kind="stable").drop_duplicates(
        ["enrollment_id", "journey_id", "step_id"]
    )
    hit = firsts.merge(conv, on="enrollment_id")
    hit = hit[hit["converted_at"] >= hit["occurred_at"]]
    if period:
        hit["period"] = hit["conv_period"]
    return _distinct(hit, [*keys, "step_id"], "enrollment_id", "converted")


def _exited(
    rows: pd.DataFrame, steps: pd.DataFrame, keys: list[str], period: str | None
) -> pd.Series:
    exits = rows[rows["name"] == "journey.exited"].dropna(subset=["enrollment_id"])
    if exits.empty or steps.empty:
        return pd.Series(dtype="int64", name="exited")
    exits = exits[["enrollment_id", "occurred_at", *(["period"] if period else [])]]
    exits = exits.sort_values("occurred_at", kind="stable")
    at = steps[[c for c in steps.columns if c != "period"]].sort_values(
        "occurred_at", kind="stable"
    )
    at = at.rename(columns={"occurred_at": "step_at"})
    hit = pd.merge_asof(
        exits,
        at,
        left_on="occurred_at",
        right_on="step_at",
        by="enrollment_id",
        direction="backward",
    ).dropna(subset=["step_id"])
    return _distinct(hit, [*keys, "step_id"], "enrollment_id", "exited")


def stage_funnel(
    events: pd.DataFrame,
    *,
    stages: Sequence[str] | None = None,
    by: Sequence[str] = (),
    period: str | None = None,
) -> pd.DataFrame:
    """Distinct enrollments reaching a step of each stage, in stage order.

    Columns: the keys, ``stage``, ``enrollments``, ``entered`` (distinct enrollments with
    ``journey.entered``), ``rate_from_previous`` (over the previous stage in the order) and
    ``rate_from_entered``. ``stages`` fixes the order (listed stages with no enrollments show
    as zeros); otherwise the default lifecycle order, then other stages by first occurrence.
    """
    keys = _keys(by, period)
    rows = _prepared(events, ["journey.step", "journey.entered"], keys, period)
    if "channel" in by:
        rows = _fill_channel(rows, _prepared(events, ["message.sent"], keys, period))
    reached = rows[(rows["name"] == "journey.step") & rows["stage"].notna()]
    counts = reached.groupby([*keys, "stage"], dropna=False)["enrollment_id"].nunique()
    entered = (
        rows[rows["name"] == "journey.entered"]
        .groupby(keys, dropna=False)["enrollment_id"]
        .nunique()
    )
    first_seen = reached.groupby("stage")["occurred_at"].min().sort_values(kind="stable")
    order = list(stages) if stages is not None else [s for s in DEFAULT_STAGES if s in first_seen]
    order += [s for s in first_seen.index if s not in order]
    columns = [*keys, "stage", "enrollments", "entered", "rate_from_previous", "rate_from_entered"]
    groups = cast(pd.MultiIndex, counts.index).droplevel(-1).unique().union(entered.index)
    if not order or len(groups) == 0:
        return pd.DataFrame(columns=columns)
    grid = pd.MultiIndex.from_tuples(
        [(*(g if isinstance(g, tuple) else (g,)), s) for g in groups for s in order],
        names=[*keys, "stage"],
    )
    table = counts.reindex(grid, fill_value=0).rename("enrollments").reset_index()
    group_index = pd.MultiIndex.from_frame(table[keys]) if len(keys) > 1 else table[keys[0]]
    table["entered"] = entered.reindex(group_index).fillna(0).astype("int64").to_numpy()
    table["enrollments"] = table["enrollments"].astype("int64")
    previous = table.groupby(keys, dropna=False, sort=False)["enrollments"].shift(1)
    table["rate_from_previous"] = _ratio(table["enrollments"], previous.fillna(0))
    table["rate_from_entered"] = _ratio(table["enrollments"], table["entered"])
    return _plain(table[columns])


def time_to_convert(
    events: pd.DataFrame,
    *,
    by: Sequence[str] = (),
    period: str | None = None,
) -> pd.DataFrame:
    """Seconds from an enrollment's ``journey.entered`` to its ``journey.converted``.

    When the entry is not in the frame, the conversion event's ``value`` (seconds from the
    enrollment's trigger, written by the engine) is used. Columns: the keys (the period is the
    conversion's), ``conversions``, ``median_seconds``, ``p90_seconds``, ``mean_seconds``;
    quantiles interpolate linearly between order statistics (Hyndman & Fan type 7).
    """
    keys = _keys(by, period)
    rows = _prepared(events, ["journey.entered", "journey.converted"], keys, period)
    if "value" not in rows.columns:
        rows["value"] = np.nan
    if "channel" in by:
        rows["channel"] = rows["channel"].astype(object)
    conv = (
        rows[rows["name"] == "journey.converted"]
        .sort_values("occurred_at", kind="stable")
        .drop_duplicates("enrollment_id")
    )
    entry = rows[rows["name"] == "journey.entered"].groupby("enrollment_id")["occurred_at"].min()
    entered_at = entry.reindex(conv["enrollment_id"]).to_numpy()
    seconds = (conv["occurred_at"].to_numpy() - entered_at) / np.timedelta64(1, "s")
    fallback = pd.to_numeric(conv["value"], errors="coerce").to_numpy(dtype="float64")
    conv = conv.assign(seconds=np.where(np.isnan(seconds), fallback, seconds))
    conv = conv.dropna(subset=["seconds"])
    columns = [*keys, "conversions", "median_seconds", "p90_seconds", "mean_seconds"]
    if conv.empty:
        return pd.DataFrame(columns=columns)
    grouped = conv.groupby(keys, dropna=False)["seconds"]
    table = pd.DataFrame(
        {
            "conversions": grouped.size(),
            "median_seconds": grouped.quantile(0.5, interpolation=QUANTILE_METHOD),
            "p90_seconds": grouped.quantile(0.9, interpolation=QUANTILE_METHOD),
            "mean_seconds": grouped.mean(),
        }
    ).reset_index()
    return _plain(table[columns])


def journey_step_summary(events: pd.DataFrame, **kwargs: Any) -> dict[str, pd.DataFrame]:
    """``steps``, ``stages`` and ``time_to_convert`` for the same grouping, in one call."""
    stages = kwargs.pop("stages", None)
    return {
        "steps": step_stats(events, **kwargs),
        "stages": stage_funnel(events, stages=stages, **kwargs),
        "time_to_convert": time_to_convert(events, **kwargs),
    }


__all__ = [
    "DIMENSIONS",
    "MESSAGE_COUNTS",
    "PERIODS",
    "STEP_COLUMNS",
    "journey_step_summary",
    "period_start",
    "stage_funnel",
    "step_stats",
    "time_to_convert",
]
