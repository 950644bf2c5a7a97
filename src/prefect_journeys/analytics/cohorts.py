"""Purchases, first-purchase monthly cohorts, retention, repeat rate, order value, journey revenue.

Every figure here is computed from ``purchase`` events of the event log (frames shaped like the
``events`` table, see :mod:`prefect_journeys.analytics.frames`):

* an **order** is one ``purchase`` event; events repeating the same ``properties.order_id`` for
  the same customer are one order (the earliest is kept), so a re-sent webhook does not count
  twice. Purchases without an order id are all kept. Its revenue is ``value`` (the engine stores
  the amount there), or ``properties.amount`` when ``value`` is missing, else 0.
* a customer's **cohort** is the calendar month (UTC) of their first order.
* **retention** at month offset *k* is the share of a cohort with at least one order in calendar
  month ``cohort + k``. Offset 0 is 100 % by definition (the first order is in it). Cells a cohort
  has not reached yet (after the month of ``as_of``) are missing, not zero; the month of ``as_of``
  itself is included although it may be partial.
* the **average retention curve** at offset *k* is the cohorts' retention weighted by cohort size,
  over the cohorts that have reached offset *k*: ``sum(retained_k) / sum(size)`` over them.
* **repeat rate**: share of purchasers with two or more orders. **AOV**: revenue / orders.
* **revenue per journey**: revenue of orders placed by customers who entered the journey
  (``journey.entered``), at or after an entry and less than ``window`` (default 30 days) after
  it. One order counts once per journey, but may count for several journeys (this is reach, not
  attribution: :mod:`analytics.attribution` splits revenue between touchpoints).
  ``journey.converted`` is not used: its ``value`` is the time to convert, not money.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

PURCHASE = "purchase"
ENTERED = "journey.entered"
PURCHASE_COLUMNS = ("customer_id", "occurred_at", "value", "order_id")


def require_columns(frame: pd.DataFrame, columns: tuple[str, ...] | list[str], what: str) -> None:
    """Raise a ``ValueError`` naming the columns ``what`` needs that ``frame`` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: events frame lacks column(s): {', '.join(missing)}")


def _from_properties(properties: pd.Series, key: str) -> pd.Series:
    values = [p.get(key) if isinstance(p, dict) else None for p in properties]
    return pd.Series(values, index=properties.index, dtype="object")


def purchases(events: pd.DataFrame) -> pd.DataFrame:
    """The orders in ``events``: ``customer_id``, ``occurred_at``, ``value``, ``order_id``.

    ``purchase`` events only, in the frame's order, deduplicated by ``(customer_id,
    properties.order_id)`` when the frame has ``properties`` (the earliest copy is kept).
    ``value`` is a float (missing → the ``amount`` property, else 0).
    """
    require_columns(events, ["customer_id", "name", "occurred_at"], "purchases")
    needed = [c for c in ("customer_id", "occurred_at", "value", "properties") if c in events]
    rows = events.loc[(events["name"] == PURCHASE) & events["customer_id"].notna(), needed]
    value = (
        pd.to_numeric(rows["value"], errors="coerce")
        if "value" in rows
        else pd.Series(np.nan, index=rows.index)
    )
    if "properties" in rows:
        order_id = _from_properties(rows["properties"], "order_id")
        missing = value.isna().to_numpy()
        if missing.any():  # the amount property is read only where it is needed
            amount = _from_properties(rows["properties"][missing], "amount")
            value = value.fillna(pd.to_numeric(amount, errors="coerce"))
    else:
        order_id = pd.Series(None, index=rows.index, dtype="object")
    out = pd.DataFrame(
        {
            "customer_id": rows["customer_id"].astype(str),
            "occurred_at": pd.to_datetime(rows["occurred_at"]),
            "value": value.fillna(0.0).astype(float),
            "order_id": order_id,
        }
    ).reset_index(drop=True)
    ids = out["order_id"]
    # Only orders whose id occurs more than once can have copies: dedupe those rows alone.
    repeated = (ids.notna() & ids.duplicated(keep=False)).to_numpy()
    if repeated.any():
        by_time = out.loc[repeated].sort_values("occurred_at", kind="stable")
        copies = by_time.duplicated(["customer_id", "order_id"])
        out = out.drop(index=copies.index[copies.to_numpy()]).reset_index(drop=True)
    return out


def _month_number(times: pd.Series) -> np.ndarray:
    """Months since year 0 (``year * 12 + month - 1``) of each timestamp."""
    return (times.dt.year.to_numpy() * 12 + times.dt.month.to_numpy() - 1).astype(np.int64)


def _period(month_number: np.ndarray) -> pd.PeriodIndex:
    years, months = np.divmod(month_number, 12)
    starts = pd.to_datetime(pd.DataFrame({"year": years, "month": months + 1, "day": 1}))
    return pd.PeriodIndex(starts, freq="M")


def first_purchase_cohorts(events: pd.DataFrame) -> pd.DataFrame:
    """One row per purchaser: ``customer_id``, ``first_purchase_at``, ``cohort`` (monthly Period)."""
    orders = purchases(events)
    first = orders.groupby("customer_id", sort=True)["occurred_at"].min()
    out = pd.DataFrame({"customer_id": first.index, "first_purchase_at": first.to_numpy()})
    out["cohort"] = _period(_month_number(out["first_purchase_at"])) if len(out) else []
    return out.astype({"cohort": "period[M]"})


@dataclass(frozen=True)
class Retention:
    """Cohort retention: ``counts`` and ``rates`` are cohort × month-offset tables.

    ``counts.loc[c, k]`` customers of cohort ``c`` ordered in month ``c + k`` (NaN when that
    month is after ``as_of``); ``rates`` divides by ``sizes``; ``curve`` is the size-weighted
    average retention by offset with the number of customers it averages over (``customers``).
    """

    counts: pd.DataFrame
    rates: pd.DataFrame
    sizes: pd.Series
    curve: pd.DataFrame


def retention(events: pd.DataFrame, *, as_of: datetime | None = None) -> Retention:
    """Monthly first-purchase cohorts and their retention up to the month of ``as_of``.

    Orders after ``as_of`` are ignored; ``as_of`` defaults to the last order's time.
    """
    orders = purchases(events)
    if as_of is not None:
        orders = orders.loc[orders["occurred_at"] <= pd.Timestamp(as_of)]
    if orders.empty:
        empty = pd.DataFrame(index=pd.PeriodIndex([], freq="M", name="cohort"))
        curve = pd.DataFrame({"retention": pd.Series(dtype=float), "customers": []})
        curve.index.name = "offset"
        return Retention(empty, empty, pd.Series(dtype="int64", name="size"), curve)
    last = pd.Timestamp(as_of) if as_of is not None else orders["occurred_at"].max()
    last_month = int(last.year * 12 + last.month - 1)
    month = _month_number(orders["occurred_at"])
    customer_codes, _ = pd.factorize(orders["customer_id"])
    first_month = pd.Series(month).groupby(customer_codes).transform("min").to_numpy()
    offsets = month - first_month
    cells = pd.DataFrame({"cohort": first_month, "offset": offsets, "customer": customer_codes})
    cells = cells.drop_duplicates()
    counts = cells.groupby(["cohort", "offset"]).size().unstack("offset", fill_value=0)
    counts = counts.reindex(columns=range(last_month - int(counts.index.min()) + 1), fill_value=0)
    counts = counts.astype(float)
    reached = counts.index.to_numpy()[:, None] + counts.columns.to_numpy()[None, :] <= last_month
    counts = counts.where(reached)
    sizes = counts[0].astype("int64").rename("size")
    rates = counts.div(sizes, axis=0)
    eligible = pd.DataFrame(reached, index=counts.index, columns=counts.columns).mul(sizes, axis=0)
    total = eligible.sum(axis=0)
    curve = pd.DataFrame(
        {"retention": counts.sum(axis=0) / total, "customers": total.astype("int64")}
    )
    curve.index.name = "offset"
    periods = _period(counts.index.to_numpy())
    for table in (counts, rates):
        table.index = periods.rename("cohort")
        table.columns.name = "offset"
    sizes.index = periods.rename("cohort")
    return Retention(counts, rates, sizes, curve)


def repeat_rate(events: pd.DataFrame) -> float:
    """Share of purchasers with at least two orders (0.0 when nobody purchased)."""
    orders = purchases(events)
    if orders.empty:
        return 0.0
    per_customer = orders.groupby("customer_id").size()
    return float((per_customer >= 2).mean())


def average_order_value(events: pd.DataFrame) -> float:
    """Revenue per order (0.0 when there are no orders)."""
    orders = purchases(events)
    return float(orders["value"].mean()) if len(orders) else 0.0


def revenue_per_journey(
    events: pd.DataFrame, *, window: timedelta = timedelta(days=30)
) -> pd.DataFrame:
    """Per journey: ``entered`` customers, ``purchasers``, ``orders``, ``revenue``, ``revenue_per_entered``.

    An order counts for a journey when its customer entered the journey at or before the order
    and less than ``window`` before it (the latest such entry decides). Journeys whose entrants
    bought nothing in the window show zeros.
    """
    if window <= timedelta(0):
        raise ValueError(f"revenue_per_journey: window must be positive, got {window}")
    require_columns(events, ["customer_id", "name", "occurred_at", "journey_id"], "revenue")
    columns = ["entered", "purchasers", "orders", "revenue", "revenue_per_entered"]
    entries = events.loc[
        (events["name"] == ENTERED) & events["journey_id"].notna() & events["customer_id"].notna(),
        ["customer_id", "journey_id", "occurred_at"],
    ].astype({"customer_id": str, "journey_id": str})
    if entries.empty:
        out = pd.DataFrame(columns=columns, index=pd.Index([], name="journey_id"))
        return out.astype({c: "int64" for c in columns[:3]} | {c: float for c in columns[3:]})
    orders = purchases(events)
    # integer keys: one factorization of the customer ids, then every join is on numbers
    customer, _ = pd.factorize(pd.concat([entries["customer_id"], orders["customer_id"]]))
    journey, journeys = pd.factorize(entries["journey_id"])
    starts = pd.DataFrame(
        {
            "customer": customer[: len(entries)],
            "journey": journey,
            "entered_at": pd.to_datetime(entries["occurred_at"]).to_numpy(),
        }
    )
    starts["pair"] = starts["customer"] * len(journeys) + starts["journey"]
    candidates = pd.DataFrame(
        {
            "order": np.arange(len(orders)),
            "customer": customer[len(entries) :],
            "occurred_at": orders["occurred_at"].to_numpy(),
            "value": orders["value"].to_numpy(),
        }
    ).merge(starts[["customer", "journey", "pair"]].drop_duplicates(), on="customer")
    starts["entered_at"] = starts["entered_at"].astype(candidates["occurred_at"].dtype)
    matched = pd.merge_asof(
        candidates.sort_values("occurred_at", kind="stable"),
        starts[["pair", "entered_at"]].sort_values("entered_at", kind="stable"),
        left_on="occurred_at",
        right_on="entered_at",
        by="pair",
        direction="backward",
    )
    inside = matched.loc[
        matched["entered_at"].notna() & (matched["occurred_at"] - matched["entered_at"] < window)
    ]
    grouped = inside.groupby("journey")
    entered = starts.groupby("journey")["customer"].nunique().rename("entered")
    stats: dict[str, Any] = {
        "purchasers": grouped["customer"].nunique(),
        "orders": grouped["order"].nunique(),
        "revenue": grouped["value"].sum(),
    }
    out = pd.concat([entered, pd.DataFrame(stats)], axis=1).reindex(entered.index)
    out[["purchasers", "orders"]] = out[["purchasers", "orders"]].fillna(0).astype("int64")
    out["revenue"] = out["revenue"].fillna(0.0).astype(float)
    out["revenue_per_entered"] = out["revenue"] / out["entered"]
    out.index = pd.Index(journeys[out.index.to_numpy()], name="journey_id")
    return out.sort_index()[columns]


__all__ = [
    "Retention",
    "average_order_value",
    "first_purchase_cohorts",
    "purchases",
    "repeat_rate",
    "require_columns",
    "retention",
    "revenue_per_journey",
]
