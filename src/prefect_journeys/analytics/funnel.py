"""Ordered funnels over arbitrary events: how many customers did step 1, then 2, then 3... in time.

A funnel is a list of :class:`FunnelStep` (an event name plus optional equality filters on event
columns or ``properties``) and a conversion window. Each customer gets a *level*: the number of
consecutive steps they completed in order, inside the window counted from the step-1 event that
started the chain. Two selectable semantics (see ``docs/metrics.md``):

* ``"first"`` — anchored on the customer's FIRST step-1 event in the frame (Mixpanel's
  unique-users rule): only the chain started by that event counts.
* ``"any"`` — the maximum level reached from ANY step-1 event (ClickHouse ``windowFunnel``'s
  default); ``funnel_levels(..., semantics="any")`` returns exactly what ClickHouse's
  ``windowFunnel(window)(timestamp, cond1, ...)`` returns per customer on the same rows.

Ordering and boundaries follow ClickHouse: a customer's events are ordered by time and, at the
same instant, by step number (so steps that happen at the same instant count in order, whatever
order they arrived in); a step at exactly ``start + window`` is inside. ``strict_order`` follows
ClickHouse's ``'strict_order'`` option: after the first step-1 event, an event of the customer
(in the frame) that matches no step, or a step whose previous step has not been reached yet,
ends the customer's funnel at the level reached so far.

The computation is vectorised: events are sorted once by (customer, time, step) and each chain
advances one step at a time for all chains at once with ``numpy.searchsorted``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

FunnelSemantics = Literal["first", "any"]
SEMANTICS: tuple[str, ...] = ("first", "any")
_NS = 1_000_000_000
_NONE = np.iinfo(np.int64).max  # "not reached" position / time


@dataclass(frozen=True)
class FunnelStep:
    """One funnel step: events named ``event`` whose columns/properties equal ``where``'s values.

    A ``where`` key that is an event column (``channel``, ``step_id``, ``journey_id``...) is
    compared with that column; any other key is looked up in the ``properties`` dict.
    """

    event: str
    where: Mapping[str, Any] = field(default_factory=dict)
    label: str | None = None

    @property
    def title(self) -> str:
        """The label, else ``event[key=value,...]``."""
        if self.label:
            return self.label
        if not self.where:
            return self.event
        filters = ",".join(f"{k}={v}" for k, v in self.where.items())
        return f"{self.event}[{filters}]"


StepLike = FunnelStep | str | Mapping[str, Any]


def as_steps(steps: Sequence[StepLike]) -> list[FunnelStep]:
    """Normalise steps given as :class:`FunnelStep`, event names or dicts
    (``{"event": ..., "where": {...}, "label": ...}``)."""
    out: list[FunnelStep] = []
    for i, step in enumerate(steps, start=1):
        if isinstance(step, FunnelStep):
            out.append(step)
        elif isinstance(step, str):
            if not step:
                raise ValueError(f"funnel step {i}: empty event name")
            out.append(FunnelStep(step))
        elif isinstance(step, Mapping):
            event = step.get("event")
            if not isinstance(event, str) or not event:
                raise ValueError(f"funnel step {i}: 'event' (an event name) is required")
            where = step.get("where") or {}
            if not isinstance(where, Mapping):
                raise ValueError(f"funnel step {i}: 'where' must be a mapping")
            out.append(FunnelStep(event, dict(where), step.get("label")))
        else:
            raise ValueError(f"funnel step {i}: expected a FunnelStep, name or dict, got {step!r}")
    if not out:
        raise ValueError("a funnel needs at least one step")
    if len(out) > 32:
        raise ValueError("a funnel has at most 32 steps")
    return out


def window_ns(window: timedelta | float) -> int:
    """The conversion window in nanoseconds (numbers are seconds); negative → ValueError."""
    seconds = window.total_seconds() if isinstance(window, timedelta) else float(window)
    if not np.isfinite(seconds) or seconds < 0:
        raise ValueError(f"the conversion window must be a non-negative duration, got {window!r}")
    return round(seconds * _NS)


def _step_mask(events: pd.DataFrame, step: FunnelStep) -> npt.NDArray[np.bool_]:
    mask = np.array(events["name"] == step.event, dtype=bool)
    for key, value in step.where.items():
        if key in events.columns and key != "properties":
            mask &= (events[key] == value).to_numpy(dtype=bool)
            continue
        if "properties" not in events.columns:
            raise ValueError(
                f"funnel step {step.title!r} filters on property {key!r}: "
                "the frame needs a 'properties' column"
            )
        idx = np.flatnonzero(mask)
        props = events["properties"].to_numpy()[idx]
        hit = np.fromiter(
            (isinstance(p, dict) and key in p and p[key] == value for p in props),
            dtype=bool,
            count=len(idx),
        )
        mask[idx] = hit
    return mask


def _order(
    cust: npt.NDArray[np.int64], ts: npt.NDArray[np.int64], lev: npt.NDArray[np.int64], base: int
) -> npt.NDArray[np.intp]:
    """Positions sorted by (customer, time, step): one sort of a (time, step) key, then a
    stable sort by customer (about twice as fast as ``np.lexsort`` on millions of rows)."""
    start = int(ts.min())
    if (int(ts.max()) - start) >= np.iinfo(np.int64).max // base:  # spans of centuries
        return np.lexsort((lev, ts, cust))
    by_time = np.argsort((ts - start) * base + lev)
    return by_time[np.argsort(cust[by_time], kind="stable")]


@dataclass
class _Chains:
    customers: pd.Index  # customer ids, by code
    level: npt.NDArray[np.int64]  # per customer code
    times: npt.NDArray[np.int64]  # per customer code × step: ns timestamp of the chain, or _NONE


def _chains(
    events: pd.DataFrame,
    steps: list[FunnelStep],
    window: int,
    semantics: str,
    strict_order: bool,
) -> _Chains:
    n = len(steps)
    missing = [c for c in ("customer_id", "name", "occurred_at") if c not in events.columns]
    if missing:
        raise ValueError(f"events frame is missing column(s): {', '.join(missing)}")
    if semantics not in SEMANTICS:
        raise ValueError(f"unknown funnel semantics {semantics!r}: expected 'first' or 'any'")
    frame = events[events["customer_id"].notna()]
    codes, customers = pd.factorize(frame["customer_id"], sort=True)
    n_customers = len(customers)
    empty = _Chains(
        pd.Index(customers),
        np.zeros(n_customers, dtype=np.int64),
        np.full((n_customers, n), _NONE, dtype=np.int64),
    )
    if frame.empty:
        return empty
    when = pd.to_datetime(frame["occurred_at"])
    if when.isna().any():
        raise ValueError("events frame has rows without 'occurred_at'")
    ts_rows = when.to_numpy(dtype="datetime64[ns]").astype(np.int64)

    # One entry per (row, matching step); rows matching no step are level 0 (strict order only).
    rows_parts: list[npt.NDArray[np.int64]] = []
    level_parts: list[npt.NDArray[np.int64]] = []
    matched = np.zeros(len(frame), dtype=bool)
    for k, step in enumerate(steps, start=1):
        mask = _step_mask(frame, step)
        matched |= mask
        idx = np.flatnonzero(mask)
        rows_parts.append(idx)
        level_parts.append(np.full(len(idx), k, dtype=np.int64))
    if strict_order:
        idx = np.flatnonzero(~matched)
        rows_parts.append(idx)
        level_parts.append(np.zeros(len(idx), dtype=np.int64))
    rows = np.concatenate(rows_parts)
    lev = np.concatenate(level_parts)
    if len(rows) == 0:
        return empty
    cust = codes[rows].astype(np.int64)
    ts = ts_rows[rows]
    order = _order(cust, ts, lev, n + 1)
    cust, ts, lev = cust[order], ts[order], lev[order]
    pos_by_level = [np.flatnonzero(lev == k) for k in range(n + 1)]

    starts = pos_by_level[1]
    if len(starts) == 0:
        return empty
    first_start = np.full(n_customers, _NONE, dtype=np.int64)
    np.minimum.at(first_start, cust[starts], starts)
    if semantics == "first":
        starts = first_start[first_start != _NONE]

    # Greedy chains: from each start, the earliest next-step entry in the window.
    s_cust = cust[starts]
    s_time = ts[starts]
    chain_pos = np.full((len(starts), n), _NONE, dtype=np.int64)
    chain_pos[:, 0] = starts
    alive = np.arange(len(starts))
    for k in range(1, n):
        targets = pos_by_level[k + 1]
        if len(alive) == 0 or len(targets) == 0:
            break
        at = np.searchsorted(targets, chain_pos[alive, k - 1], side="right")
        inside = at < len(targets)
        alive, at = alive[inside], at[inside]
        cand = targets[at]
        ok = (cust[cand] == s_cust[alive]) & (ts[cand] <= s_time[alive] + window)
        alive, cand = alive[ok], cand[ok]
        chain_pos[alive, k] = cand

    cutoff = np.full(n_customers, _NONE, dtype=np.int64)
    if strict_order:
        # Earliest position at which each level is reached (by any counted chain).
        reach = np.full((n_customers, n), _NONE, dtype=np.int64)
        for k in range(n):
            np.minimum.at(reach[:, k], s_cust, chain_pos[:, k])
        # An event matching no step after the first step-1 event ends the funnel...
        zero = pos_by_level[0]
        zero = zero[zero > first_start[cust[zero]]]
        np.minimum.at(cutoff, cust[zero], zero)
        # ...and so does a step whose previous step is not reached yet.
        for k in range(2, n + 1):
            p = pos_by_level[k]
            c = cust[p]
            early = (p > first_start[c]) & (p < reach[c, k - 2])
            np.minimum.at(cutoff, c[early], p[early])

    counted = chain_pos < cutoff[s_cust][:, None]
    levels = counted.sum(axis=1).astype(np.int64)
    # Per customer, the chain that reached the highest level (earliest start on ties).
    pick = np.lexsort((starts, -levels, s_cust))
    s_sorted = s_cust[pick]
    keep = np.ones(len(pick), dtype=bool)
    keep[1:] = s_sorted[1:] != s_sorted[:-1]
    best = pick[keep]
    out_level = np.zeros(n_customers, dtype=np.int64)
    out_level[s_cust[best]] = levels[best]
    times = np.full((n_customers, n), _NONE, dtype=np.int64)
    best_pos = chain_pos[best]
    best_ts = np.where(counted[best], ts[np.minimum(best_pos, len(ts) - 1)], _NONE)
    times[s_cust[best]] = best_ts
    return _Chains(pd.Index(customers), out_level, times)


def funnel_levels(
    events: pd.DataFrame,
    steps: Sequence[StepLike],
    window: timedelta | float,
    *,
    semantics: FunnelSemantics = "first",
    strict_order: bool = False,
) -> pd.DataFrame:
    """Per customer in the frame: ``level`` (0..len(steps)) and ``step_<k>_at`` timestamps.

    ``window`` is a timedelta or seconds. The timestamps are those of the chain that gave the
    level (for ``"any"``, the earliest-starting chain reaching the highest level); ``NaT`` for
    steps not reached. Customers without a step-1 event have level 0. Rows without a customer
    are ignored.
    """
    plan = as_steps(steps)
    chains = _chains(events, plan, window_ns(window), semantics, strict_order)
    out = pd.DataFrame({"customer_id": chains.customers, "level": chains.level})
    for k in range(len(plan)):
        col = chains.times[:, k]
        out[f"step_{k + 1}_at"] = pd.to_datetime(
            np.where(col == _NONE, np.iinfo(np.int64).min, col).view("datetime64[ns]")
        )
    return out


FUNNEL_COLUMNS = (
    "level",
    "step",
    "customers",
    "conversion_from_previous",
    "conversion_from_first",
    "median_seconds_from_previous",
    "median_seconds_from_first",
)


def ordered_funnel(
    events: pd.DataFrame,
    steps: Sequence[StepLike],
    window: timedelta | float,
    *,
    semantics: FunnelSemantics = "first",
    strict_order: bool = False,
) -> pd.DataFrame:
    """The funnel: one row per step with the customers reaching it and the conversion.

    * ``customers`` — distinct customers whose level is at least this step's number;
    * ``conversion_from_previous`` / ``conversion_from_first`` — that count over the previous
      step's / step 1's (``NaN`` when the base is zero; step 1's from-previous is ``NaN``);
    * ``median_seconds_from_previous`` / ``median_seconds_from_first`` — median over the
      customers reaching the step of the time between their chain's previous step (step 1)
      and this step (``NaN`` for step 1 and when nobody reached it). The median of an even
      count is the mean of the two middle values.
    """
    plan = as_steps(steps)
    chains = _chains(events, plan, window_ns(window), semantics, strict_order)
    counts = [int((chains.level >= k).sum()) for k in range(1, len(plan) + 1)]
    first_count = counts[0] if counts else 0
    records: list[dict[str, Any]] = []
    for k, step in enumerate(plan, start=1):
        reached = chains.level >= k
        count = counts[k - 1]
        prev = counts[k - 2] if k > 1 else None
        gap_prev = gap_first = float("nan")
        if k > 1 and count:
            t = chains.times[reached]
            gap_prev = float(np.median(t[:, k - 1] - t[:, k - 2])) / _NS
            gap_first = float(np.median(t[:, k - 1] - t[:, 0])) / _NS
        records.append(
            {
                "level": k,
                "step": step.title,
                "customers": count,
                "conversion_from_previous": count / prev if prev else float("nan"),
                "conversion_from_first": count / first_count if first_count else float("nan"),
                "median_seconds_from_previous": gap_prev,
                "median_seconds_from_first": gap_first,
            }
        )
    return pd.DataFrame.from_records(records, columns=list(FUNNEL_COLUMNS))


__all__ = [
    "FUNNEL_COLUMNS",
    "SEMANTICS",
    "FunnelSemantics",
    "FunnelStep",
    "as_steps",
    "funnel_levels",
    "ordered_funnel",
    "window_ns",
]
