"""Touchpoint paths: the input of every attribution model.

A *path* is the ordered list of touchpoint keys that preceded one outcome. Each conversion gets
one path; each customer's touches that no conversion followed form one *null path* (the Markov
model needs those to learn where journeys die). Rules (see ``docs/metrics.md``, "Attribution"):

* **Conversions** are events named in ``conversion_events`` (default ``purchase`` and
  ``journey.converted``). Conversion events of one customer at the same instant are ONE
  conversion (the engine writes ``journey.converted`` at the instant of the goal event, so a
  purchase goal is not counted twice). Revenue is the ``value`` of the ``revenue_events`` among
  them (default ``purchase``; ``journey.converted``'s value is a duration, never revenue).
* **Touchpoints** are events named in ``touch_events`` (default ``message.delivered``,
  ``message.opened``, ``message.clicked``). One message (same ``intent_id``) is one touch, at its
  first qualifying event; events without an ``intent_id`` are touches of their own.
* **Key** of a touch: ``"channel"`` (``email``...), ``"step"`` (``journey/step``) or
  ``"message"`` (``journey/step/variant/channel``). Touches missing the key's columns are ignored.
* A touch belongs to the FIRST conversion of the customer at or after it, and only if it lies
  within ``lookback`` before that conversion: a touch never counts for two conversions, and
  touches older than the lookback of their conversion are dropped.
* Touches after a customer's last conversion form the customer's null path (limited to
  ``lookback`` before the last of them).
* With ``collapse_repeats`` (default), consecutive touches with the same key in a path are one
  touch (the latest of the run is kept, which is what time decay measures from) — as ``mta`` and
  ``ChannelAttribution`` do.
* Conversions without any touch in their window are *unattributed*: they are counted in
  :attr:`Paths.unattributed_conversions` / ``unattributed_revenue`` and credited to no key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Connection

from prefect_journeys.analytics.frames import events_frame

TouchKey = Literal["channel", "step", "message"]
TOUCH_KEYS: tuple[str, ...] = ("channel", "step", "message")
DEFAULT_CONVERSION_EVENTS: tuple[str, ...] = ("purchase", "journey.converted")
DEFAULT_REVENUE_EVENTS: tuple[str, ...] = ("purchase",)
DEFAULT_TOUCH_EVENTS: tuple[str, ...] = ("message.delivered", "message.opened", "message.clicked")
DEFAULT_LOOKBACK = timedelta(days=30)

_KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "channel": ("channel",),
    "step": ("journey_id", "step_id"),
    "message": ("journey_id", "step_id", "variant", "channel"),
}
_NS = 1_000_000_000


@dataclass(frozen=True)
class Paths:
    """Touch paths with their outcomes.

    ``touches``: one row per touch, ordered by ``path_id`` then time — ``path_id`` (int),
    ``position`` (0-based), ``length`` (touches in the path), ``key`` (str) and ``age`` (seconds
    from the touch to the path's end: its conversion, or the last touch of a null path; NaN when
    unknown, e.g. paths read from a table).

    ``outcomes``: one row per path, indexed by ``path_id`` — ``conversions`` and ``nulls``
    (how many journeys with this path converted / did not: 1 and 0 for a conversion built from
    events, 0 and 1 for a null path; any counts for aggregated tables) and ``revenue``.
    """

    touches: pd.DataFrame
    outcomes: pd.DataFrame
    unattributed_conversions: float = 0.0
    unattributed_revenue: float = 0.0

    @property
    def total_conversions(self) -> float:
        """Conversions that have a path (the total every model distributes)."""
        return float(self.outcomes["conversions"].sum())

    @property
    def total_revenue(self) -> float:
        """Revenue of the conversions that have a path."""
        return float(self.outcomes["revenue"].sum())

    @property
    def keys(self) -> list[str]:
        """The distinct touch keys, sorted."""
        return sorted(self.touches["key"].unique().tolist())

    @property
    def empty(self) -> bool:
        """True when there is no path at all."""
        return self.outcomes.empty


def empty_paths() -> Paths:
    """Paths with no rows."""
    touches = pd.DataFrame(
        {
            "path_id": pd.Series(dtype="int64"),
            "position": pd.Series(dtype="int64"),
            "length": pd.Series(dtype="int64"),
            "key": pd.Series(dtype="object"),
            "age": pd.Series(dtype="float64"),
        }
    )
    outcomes = pd.DataFrame(
        {
            "conversions": pd.Series(dtype="float64"),
            "nulls": pd.Series(dtype="float64"),
            "revenue": pd.Series(dtype="float64"),
        },
        index=pd.Index([], dtype="int64", name="path_id"),
    )
    return Paths(touches, outcomes)


def _require(events: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in events.columns]
    if missing:
        raise ValueError(f"events frame is missing column(s): {', '.join(missing)}")


def _nanoseconds(values: pd.Series) -> npt.NDArray[np.int64]:
    """Times as int64 nanoseconds since the epoch, whatever the column's resolution."""
    times = pd.to_datetime(values).to_numpy().astype("datetime64[ns]")
    return times.astype(np.int64)


def _key_codes(touches: pd.DataFrame, key: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[Any]]:
    """Each touch's key as an int code (-1 when a needed column is empty) and the key labels
    (``"journey/step/variant/channel"``...) indexed by code."""
    codes = np.zeros(len(touches), dtype=np.int64)
    valid = np.ones(len(touches), dtype=bool)
    parts: list[npt.NDArray[Any]] = []
    for column in _KEY_COLUMNS[key]:
        values = touches[column]
        if column == "variant":  # a touch outside any split has no variant: keep it, as "-"
            values = values.fillna("-")
        column_codes, uniques = pd.factorize(values)
        valid &= column_codes >= 0
        codes = codes * (len(uniques) + 1) + column_codes
        parts.append(np.asarray(uniques, dtype=object))
    combined, combos = pd.factorize(np.where(valid, codes, -1))
    labels = np.empty(len(combos), dtype=object)
    for i, combo in enumerate(combos.tolist()):
        if combo < 0:
            labels[i] = None
            continue
        pieces = []
        for uniques in reversed(parts):
            combo, code = divmod(combo, len(uniques) + 1)
            pieces.append(str(uniques[code]))
        labels[i] = "/".join(reversed(pieces))
    invalid_code = [i for i, combo in enumerate(combos.tolist()) if combo < 0]
    out = combined.astype(np.int64)
    if invalid_code:
        out[out == invalid_code[0]] = -1
    return out, labels


def _finish(touches: pd.DataFrame, outcomes: pd.DataFrame, collapse_repeats: bool) -> pd.DataFrame:
    """Order touches in their paths, collapse repeated keys, add position/length/age."""
    touches = touches.sort_values(["path_id", "t"], kind="stable").reset_index(drop=True)
    if collapse_repeats and len(touches):
        path = touches["path_id"].to_numpy()
        key = touches["key"].to_numpy()
        last_of_run = np.ones(len(touches), dtype=bool)
        last_of_run[:-1] = (path[1:] != path[:-1]) | (key[1:] != key[:-1])
        touches = touches[last_of_run].reset_index(drop=True)
    ends = outcomes["end_t"].reindex(touches["path_id"]).to_numpy()
    touches["age"] = (ends - touches["t"].to_numpy()) / _NS
    touches["position"] = touches.groupby("path_id").cumcount().astype("int64")
    touches["length"] = touches.groupby("path_id")["key"].transform("size").astype("int64")
    return touches[["path_id", "position", "length", "key", "age"]]


def build_paths(
    events: pd.DataFrame,
    *,
    key: TouchKey = "channel",
    lookback: timedelta = DEFAULT_LOOKBACK,
    conversion_events: Sequence[str] = DEFAULT_CONVERSION_EVENTS,
    revenue_events: Sequence[str] = DEFAULT_REVENUE_EVENTS,
    touch_events: Sequence[str] = DEFAULT_TOUCH_EVENTS,
    collapse_repeats: bool = True,
    report_since: datetime | None = None,
) -> Paths:
    """Build conversion and null paths from an events frame (rules in the module docstring).

    ``report_since``: paths that end (conversion, or last touch of a null path) before it are
    left out; their conversions still claim their touches, so a period's first conversions do
    not inherit touches that belonged to an earlier one.
    """
    if key not in _KEY_COLUMNS:
        raise ValueError(f"unknown touch key {key!r}; expected one of {', '.join(TOUCH_KEYS)}")
    if lookback <= timedelta(0):
        raise ValueError(f"lookback must be positive, got {lookback}")
    if not conversion_events:
        raise ValueError("conversion_events must name at least one event")
    if not touch_events:
        raise ValueError("touch_events must name at least one event")
    overlap = set(conversion_events) & set(touch_events)
    if overlap:
        raise ValueError(f"event(s) both conversion and touch: {', '.join(sorted(overlap))}")
    _require(events, ["customer_id", "name", "occurred_at", "value", *_KEY_COLUMNS[key]])
    if events.empty:
        return empty_paths()
    lookback_ns = int(lookback.total_seconds() * _NS)

    # Work on integer codes: customers, keys and intents are factorized once.
    is_conv = events["name"].isin(conversion_events).to_numpy()
    is_touch = events["name"].isin(touch_events).to_numpy()
    needed = ["customer_id", "name", "occurred_at", "value", *_KEY_COLUMNS[key]]
    needed += [c for c in ("intent_id", "seq") if c in events.columns]
    rows = events[list(dict.fromkeys(needed))]
    rows = rows[(is_conv | is_touch) & rows["customer_id"].notna().to_numpy()]
    is_conv = rows["name"].isin(conversion_events).to_numpy()
    customer = pd.factorize(rows["customer_id"])[0].astype(np.int64)
    t = _nanoseconds(rows["occurred_at"])

    # Conversions: one per (customer, instant); revenue from the revenue events only.
    conv_rows = rows[is_conv]
    revenue = pd.to_numeric(conv_rows["value"], errors="coerce").fillna(0.0).to_numpy(dtype=float)
    revenue = np.where(conv_rows["name"].isin(revenue_events).to_numpy(), revenue, 0.0)
    c_cust, c_t = customer[is_conv], t[is_conv]
    order = np.lexsort((c_cust, c_t))
    c_cust, c_t, revenue = c_cust[order], c_t[order], revenue[order]
    first_of_group = np.ones(len(c_t), dtype=bool)
    first_of_group[1:] = (c_cust[1:] != c_cust[:-1]) | (c_t[1:] != c_t[:-1])
    conv_cust, conv_t = c_cust[first_of_group], c_t[first_of_group]
    conv_revenue = np.bincount(
        np.cumsum(first_of_group) - 1, weights=revenue, minlength=int(first_of_group.sum())
    )
    n_conv = len(conv_t)

    # Touches: one per message (intent), at its first qualifying event.
    touch_rows = rows[~is_conv]
    key_code, labels = _key_codes(touch_rows, key)
    seq = (
        touch_rows["seq"].to_numpy() if "seq" in touch_rows.columns else np.arange(len(touch_rows))
    )
    tt, tc = t[~is_conv], customer[~is_conv]
    order = np.lexsort((seq, tt))
    order = order[key_code[order] >= 0]
    if "intent_id" in touch_rows.columns:
        intent = pd.factorize(touch_rows["intent_id"])[0].astype(np.int64)[order]
        pair = pd.Series(tc[order] * (int(intent.max(initial=0)) + 2) + intent + 1)
        order = order[(intent < 0) | ~pair.duplicated().to_numpy()]
    touch = pd.DataFrame({"customer": tc[order], "t": tt[order], "key": key_code[order]})

    # Each touch goes to the customer's first conversion at or after it.
    matched = pd.merge_asof(
        touch,
        pd.DataFrame({"customer": conv_cust, "conv_t": conv_t, "conv_id": np.arange(n_conv)}),
        left_on="t",
        right_on="conv_t",
        by="customer",
        direction="forward",
        allow_exact_matches=True,
    )
    to_conv = matched["conv_id"].notna().to_numpy()
    in_window = to_conv & (matched["conv_t"].to_numpy() - matched["t"].to_numpy() <= lookback_ns)
    conv_touch = matched.loc[in_window, ["t", "key"]].assign(
        path_id=matched.loc[in_window, "conv_id"].astype("int64")
    )

    null = matched.loc[~to_conv, ["customer", "t", "key"]]
    last = null.groupby("customer")["t"].transform("max")
    null = null[(last - null["t"]).to_numpy() <= lookback_ns]
    null_ids = pd.factorize(null["customer"], sort=True)[0].astype(np.int64)
    null_touch = null[["t", "key"]].assign(path_id=null_ids + n_conv)
    null_end = np.full(int(null_ids.max(initial=-1)) + 1, np.iinfo(np.int64).min)
    np.maximum.at(null_end, null_ids, null["t"].to_numpy())

    has_path = np.zeros(n_conv, dtype=bool)
    has_path[conv_touch["path_id"].to_numpy()] = True
    outcomes = pd.DataFrame(
        {
            "conversions": np.concatenate([np.ones(has_path.sum()), np.zeros(len(null_end))]),
            "nulls": np.concatenate([np.zeros(has_path.sum()), np.ones(len(null_end))]),
            "revenue": np.concatenate([conv_revenue[has_path], np.zeros(len(null_end))]),
            "end_t": np.concatenate([conv_t[has_path], null_end]),
        },
        index=pd.Index(
            np.concatenate([np.flatnonzero(has_path), np.arange(len(null_end)) + n_conv]).astype(
                "int64"
            ),
            name="path_id",
        ),
    )
    touches = pd.concat([conv_touch, null_touch], ignore_index=True)
    unattributed = ~has_path
    if report_since is not None:
        since_ns = pd.Timestamp(report_since).as_unit("ns").value
        outcomes = outcomes[outcomes["end_t"] >= since_ns]
        touches = touches[touches["path_id"].isin(outcomes.index)]
        unattributed &= conv_t >= since_ns
    touches = _finish(touches, outcomes, collapse_repeats)
    touches["key"] = labels[touches["key"].to_numpy(dtype=np.int64)]
    return Paths(
        touches=touches,
        outcomes=outcomes[["conversions", "nulls", "revenue"]],
        unattributed_conversions=float(unattributed.sum()),
        unattributed_revenue=float(conv_revenue[unattributed].sum()),
    )


def paths_from_table(
    table: pd.DataFrame,
    *,
    path: str = "path",
    conversions: str = "total_conversions",
    revenue: str | None = "total_conversion_value",
    nulls: str | None = "total_null",
    sep: str = ">",
    collapse_repeats: bool = True,
) -> Paths:
    """Paths from an aggregated table: one row per distinct path (``"a > b > c"``) with its
    conversion, revenue and null counts — the format of ``mta``'s and ``ChannelAttribution``'s
    sample data. Touch ages are unknown (NaN), so time decay cannot run on these paths."""
    needed = [path, conversions, *(c for c in (revenue, nulls) if c is not None)]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise ValueError(f"path table is missing column(s): {', '.join(missing)}")
    if table.empty:
        return empty_paths()
    split = table[path].astype(str).str.split(sep.strip(), regex=False)
    exploded = split.explode().str.strip()
    touches = pd.DataFrame(
        {"path_id": exploded.index.to_numpy().astype("int64"), "key": exploded.to_numpy()}
    )
    touches = touches[touches["key"].notna() & (touches["key"] != "")]
    touches["t"] = np.zeros(len(touches), dtype=np.int64)
    outcomes = pd.DataFrame(
        {
            "conversions": table[conversions].astype(float).to_numpy(),
            "nulls": table[nulls].astype(float).to_numpy() if nulls else 0.0,
            "revenue": table[revenue].astype(float).to_numpy() if revenue else 0.0,
            "end_t": np.zeros(len(table), dtype=np.int64),
        },
        index=pd.Index(np.arange(len(table), dtype=np.int64), name="path_id"),
    )
    outcomes = outcomes.loc[outcomes.index.isin(touches["path_id"])]
    touches = touches.reset_index(drop=True)
    touches["order"] = np.arange(len(touches))
    touches = _finish(
        touches.drop(columns="t").rename(columns={"order": "t"}), outcomes, collapse_repeats
    )
    touches["age"] = np.nan
    return Paths(touches=touches, outcomes=outcomes[["conversions", "nulls", "revenue"]])


def aggregate_paths(paths: Paths, *, sep: str = " > ") -> pd.DataFrame:
    """Distinct paths with their totals: ``path`` (keys joined by ``sep``), ``total_conversions``,
    ``total_conversion_value``, ``total_null`` — the compact form (``mta``'s and
    ``ChannelAttribution``'s input) that :func:`paths_from_table` reads back. Every model but
    time decay gives the same result on it; rollups can store it and add periods together."""
    columns = ["path", "total_conversions", "total_conversion_value", "total_null"]
    if paths.empty:
        return pd.DataFrame(
            {c: pd.Series(dtype="object" if c == "path" else "float64") for c in columns}
        )
    joined = paths.touches.groupby("path_id", sort=True)["key"].agg(sep.join)
    outcomes = paths.outcomes.loc[joined.index]
    frame = pd.DataFrame(
        {
            "path": joined.to_numpy(),
            "total_conversions": outcomes["conversions"].to_numpy(),
            "total_conversion_value": outcomes["revenue"].to_numpy(),
            "total_null": outcomes["nulls"].to_numpy(),
        }
    )
    return frame.groupby("path", sort=True, as_index=False)[columns[1:]].sum()


def paths_from_store(
    conn: Connection,
    *,
    journey_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    key: TouchKey = "channel",
    lookback: timedelta = DEFAULT_LOOKBACK,
    conversion_events: Sequence[str] = DEFAULT_CONVERSION_EVENTS,
    revenue_events: Sequence[str] = DEFAULT_REVENUE_EVENTS,
    touch_events: Sequence[str] = DEFAULT_TOUCH_EVENTS,
    collapse_repeats: bool = True,
) -> Paths:
    """Paths of the conversions in ``[since, until)``, touches from ``journey_id`` (all journeys
    when None). Events are read from ``since - lookback`` so early conversions keep their
    window (paths ending before ``since`` are then left out). Conversions are customer events
    (not tied to a journey), so they are read for every
    journey, and the touch filter alone scopes attribution to the journey."""
    read_since = since - lookback if since is not None else None
    columns = ["seq", "customer_id", "name", "occurred_at", "journey_id", "step_id", "variant"]
    columns += ["channel", "intent_id", "value"]
    touches = events_frame(
        conn,
        names=list(touch_events),
        journey_id=journey_id,
        since=read_since,
        until=until,
        columns=columns,
    )
    conversions = events_frame(
        conn, names=list(conversion_events), since=read_since, until=until, columns=columns
    )
    if journey_id is not None and not conversions.empty:
        # journey.converted of other journeys are not this journey's goal.
        other = (conversions["name"] == "journey.converted") & (
            conversions["journey_id"] != journey_id
        )
        conversions = conversions[~other]
    frame = pd.concat([touches, conversions], ignore_index=True) if len(touches) else conversions
    return build_paths(
        frame,
        key=key,
        lookback=lookback,
        conversion_events=conversion_events,
        revenue_events=revenue_events,
        touch_events=touch_events,
        collapse_repeats=collapse_repeats,
        report_since=since,
    )


__all__ = [
    "DEFAULT_CONVERSION_EVENTS",
    "DEFAULT_LOOKBACK",
    "DEFAULT_REVENUE_EVENTS",
    "DEFAULT_TOUCH_EVENTS",
    "TOUCH_KEYS",
    "Paths",
    "TouchKey",
    "aggregate_paths",
    "build_paths",
    "empty_paths",
    "paths_from_store",
    "paths_from_table",
]
