"""Churn as of a date, and Kaplan–Meier survival of the time until a customer churns.

Definitions (``as_of`` is the date the figures are "as of"; events after it are ignored):

* **activity**: the events that show a customer is alive. By default ``purchase`` (deduplicated
  orders, see :func:`analytics.cohorts.purchases`); ``activity="any"`` means every customer event,
  i.e. every event whose name does not start with ``journey.`` or ``message.`` (those are written
  by the engine, not by the customer); or an explicit list of event names.
* a customer **has churned** as of ``as_of`` when their last activity at or before ``as_of`` is
  at least ``threshold`` (default 90 days) old: ``last_activity + threshold <= as_of``.
* **churn rate** = churned / customers with any activity at or before ``as_of``.
* **time to churn** (for survival) runs from a customer's first purchase (only purchasers are in
  the survival cohort) to the moment they churn, ``last_activity + threshold``, where
  ``last_activity`` is the later of the first purchase and the last activity before ``as_of``.
  Customers who have not churned as of ``as_of`` are censored at ``as_of - first_purchase``.
  Durations are in days (fractional).
* **Kaplan–Meier**: ``S(t) = Π_{t_i <= t} (1 - d_i / n_i)`` over the distinct event times
  ``t_i`` (``d_i`` churned at ``t_i``, ``n_i`` still at risk just before it; censored at
  ``t_i`` count as at risk). The confidence band is the exponential Greenwood (log(-log)) band,
  the one lifelines reports: ``exp(-exp(log(-log S) ± z·σ/log S))`` with
  ``σ² = Σ d_i / (n_i (n_i - d_i))`` (terms with ``n_i = d_i`` contribute 0); it is ``[1, 1]``
  where ``S = 1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from scipy.stats import norm

from prefect_journeys.analytics.cohorts import purchases, require_columns

DEFAULT_THRESHOLD = timedelta(days=90)
ENGINE_PREFIXES = ("journey.", "message.")


def activity_times(
    events: pd.DataFrame, *, activity: str | Sequence[str] = "purchase"
) -> pd.DataFrame:
    """``customer_id`` and ``occurred_at`` of every activity event (see the module docstring)."""
    require_columns(events, ["customer_id", "name", "occurred_at"], "churn")
    if isinstance(activity, str) and activity == "purchase":
        return purchases(events)[["customer_id", "occurred_at"]]
    names = events["name"].astype(str)
    if isinstance(activity, str) and activity == "any":
        keep = ~names.str.startswith(ENGINE_PREFIXES)
    elif isinstance(activity, str):
        raise ValueError(
            f"churn: activity must be 'purchase', 'any' or a list of event names, got {activity!r}"
        )
    else:
        keep = names.isin(list(activity))
    rows = events.loc[keep & events["customer_id"].notna(), ["customer_id", "occurred_at"]]
    return pd.DataFrame(
        {
            "customer_id": rows["customer_id"].astype(str),
            "occurred_at": pd.to_datetime(rows["occurred_at"]),
        }
    )


def _check(threshold: timedelta) -> None:
    if threshold <= timedelta(0):
        raise ValueError(f"churn: threshold must be positive, got {threshold}")


@dataclass(frozen=True)
class ChurnRate:
    """Churn as of a date: ``churned`` of the ``customers`` active before it; ``rate`` in [0, 1]."""

    as_of: datetime
    threshold: timedelta
    customers: int
    churned: int
    rate: float


def churn_rate(
    events: pd.DataFrame,
    as_of: datetime,
    *,
    threshold: timedelta = DEFAULT_THRESHOLD,
    activity: str | Sequence[str] = "purchase",
) -> ChurnRate:
    """Share of customers active at or before ``as_of`` whose last activity is ``threshold`` old."""
    _check(threshold)
    times = activity_times(events, activity=activity)
    cutoff = pd.Timestamp(as_of)
    in_time = times.loc[times["occurred_at"] <= cutoff]
    last = in_time.groupby("customer_id", sort=False)["occurred_at"].max()  # order is irrelevant
    churned = int((last + threshold <= cutoff).sum())
    customers = len(last)
    rate = churned / customers if customers else 0.0
    return ChurnRate(as_of, threshold, customers, churned, rate)


def churn_durations(
    events: pd.DataFrame,
    as_of: datetime,
    *,
    threshold: timedelta = DEFAULT_THRESHOLD,
    activity: str | Sequence[str] = "purchase",
) -> pd.DataFrame:
    """Per purchaser: ``first_purchase_at``, ``last_activity_at``, ``duration`` (days), ``churned``."""
    return _durations(events, as_of, threshold=threshold, activity=activity, sort=True)


def _durations(
    events: pd.DataFrame,
    as_of: datetime,
    *,
    threshold: timedelta,
    activity: str | Sequence[str],
    sort: bool,
) -> pd.DataFrame:
    """:func:`churn_durations`; ``sort=False`` leaves the customers in first-seen order (cheaper
    on millions of text ids when only the durations matter, as for Kaplan–Meier)."""
    _check(threshold)
    cutoff = pd.Timestamp(as_of)
    orders = purchases(events)
    orders = orders.loc[orders["occurred_at"] <= cutoff]
    span = orders.groupby("customer_id", sort=sort)["occurred_at"].agg(["min", "max"])
    first = span["min"]
    if isinstance(activity, str) and activity == "purchase":
        last = span["max"]
    else:
        times = activity_times(events, activity=activity)
        times = times.loc[times["occurred_at"] <= cutoff]
        last = times.groupby("customer_id")["occurred_at"].max().reindex(first.index)
    last = last.where(last > first, first)
    churn_at = last + threshold
    churned = churn_at <= cutoff
    end = churn_at.where(churned, cutoff)
    out = pd.DataFrame(
        {
            "first_purchase_at": first,
            "last_activity_at": last,
            "duration": (end - first).dt.total_seconds() / 86400.0,
            "churned": churned.astype(bool),
        }
    )
    out.index.name = "customer_id"
    return out


def kaplan_meier(
    durations: Sequence[float] | np.ndarray | pd.Series,
    observed: Sequence[bool] | np.ndarray | pd.Series,
    *,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Kaplan–Meier survival with exponential-Greenwood ``1 - alpha`` bands.

    Indexed by ``timeline``: 0 and every distinct duration (event or censoring). Columns:
    ``at_risk`` (before t), ``observed`` (events at t), ``censored`` (at t), ``survival``,
    ``lower``, ``upper``.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"kaplan_meier: alpha must be in (0, 1), got {alpha}")
    t = np.asarray(durations, dtype=float)
    e = np.asarray(observed, dtype=bool)
    if t.shape != e.shape or t.ndim != 1:
        raise ValueError("kaplan_meier: durations and observed must be 1-d and of equal length")
    if np.isnan(t).any() or (t < 0).any():
        raise ValueError("kaplan_meier: durations must be non-negative numbers")
    times, inverse = np.unique(np.concatenate([[0.0], t]), return_inverse=True)
    inverse = inverse[1:]
    removed = np.bincount(inverse, minlength=len(times))
    deaths = np.bincount(inverse, weights=e, minlength=len(times))
    at_risk = len(t) - np.concatenate([[0], np.cumsum(removed)[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(at_risk > 0, deaths / at_risk, 0.0)
        survival = np.cumprod(1.0 - hazard)
        terms = np.where(at_risk > deaths, deaths / (at_risk * (at_risk - deaths)), 0.0)
        variance = np.cumsum(terms)
        z = float(norm.ppf(1 - alpha / 2))
        log_s = np.log(survival)
        spread = z * np.sqrt(variance) / log_s
        lower = np.exp(-np.exp(np.log(-log_s) - spread))
        upper = np.exp(-np.exp(np.log(-log_s) + spread))
    one = survival >= 1.0
    lower = np.where(one, 1.0, np.where(survival <= 0.0, 0.0, lower))
    upper = np.where(one, 1.0, np.where(survival <= 0.0, 0.0, upper))
    return pd.DataFrame(
        {
            "at_risk": at_risk.astype(np.int64),
            "observed": deaths.astype(np.int64),
            "censored": (removed - deaths).astype(np.int64),
            "survival": survival,
            "lower": lower,
            "upper": upper,
        },
        index=pd.Index(times, name="timeline"),
    )


def median_survival(km: pd.DataFrame) -> float:
    """The first time the survival drops to 0.5 or below (``inf`` when it never does)."""
    below = km.index[km["survival"].to_numpy() <= 0.5]
    return float(below[0]) if len(below) else float("inf")


def churn_survival(
    events: pd.DataFrame,
    as_of: datetime,
    *,
    threshold: timedelta = DEFAULT_THRESHOLD,
    activity: str | Sequence[str] = "purchase",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Kaplan–Meier survival of the time to churn (days) of purchasers as of ``as_of``."""
    durations = _durations(events, as_of, threshold=threshold, activity=activity, sort=False)
    return kaplan_meier(durations["duration"], durations["churned"], alpha=alpha)


__all__ = [
    "DEFAULT_THRESHOLD",
    "ChurnRate",
    "activity_times",
    "churn_durations",
    "churn_rate",
    "churn_survival",
    "kaplan_meier",
    "median_survival",
]
