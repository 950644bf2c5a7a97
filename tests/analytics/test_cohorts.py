"""Cohorts, retention, repeat rate, AOV and revenue per journey: hand-computed cases, and the
retention matrix of the real CDNOW log (shipped in ``lifetimes``) against the same definition
written independently in DuckDB SQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.analytics.cdnow import purchase_events

from prefect_journeys.analytics.cohorts import (
    average_order_value,
    first_purchase_cohorts,
    purchases,
    repeat_rate,
    retention,
    revenue_per_journey,
)

D = datetime
COLUMNS = ["customer_id", "name", "occurred_at", "value", "properties", "journey_id"]


def frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=COLUMNS)
    out["occurred_at"] = pd.to_datetime(out["occurred_at"])
    return out


ROWS = [
    # a: Jan cohort, order o1 recorded twice, buys again in March
    ("a", "purchase", D(2026, 1, 5), 10.0, {"order_id": "o1"}, None),
    ("a", "purchase", D(2026, 1, 5, 1), 10.0, {"order_id": "o1"}, None),
    ("a", "purchase", D(2026, 3, 2), 20.0, {"order_id": "o2"}, None),
    # b: Jan cohort, buys in Feb (amount only in properties)
    ("b", "purchase", D(2026, 1, 20), 5.0, {}, None),
    ("b", "purchase", D(2026, 2, 20), None, {"amount": 7}, None),
    # c: Feb cohort, once; its order id o1 is not a's o1
    ("c", "purchase", D(2026, 2, 1), 30.0, {"order_id": "o1"}, None),
    ("a", "journey.entered", D(2026, 1, 1), None, {}, "j1"),
    ("c", "journey.entered", D(2026, 1, 1), None, {}, "j1"),
    ("b", "journey.entered", D(2026, 2, 10), None, {}, "j2"),
    ("b", "signed_up", D(2026, 4, 1), None, {}, None),
]


def test_purchases_dedupe_by_customer_and_order_id_and_take_amount_fallback() -> None:
    orders = purchases(frame(ROWS))
    assert list(orders["customer_id"]) == ["a", "a", "b", "b", "c"]  # the frame's order
    assert list(orders["value"]) == [10.0, 20.0, 5.0, 7.0, 30.0]
    assert orders["occurred_at"].iloc[0] == pd.Timestamp(D(2026, 1, 5))  # the earliest copy
    # the earliest copy wins even when a later copy comes first in the frame
    reversed_orders = purchases(frame(ROWS[::-1]))
    assert pd.Timestamp(D(2026, 1, 5)) in set(reversed_orders["occurred_at"])
    assert len(reversed_orders) == 5


def test_purchases_without_properties_keep_every_row() -> None:
    events = frame(ROWS).drop(columns=["properties"])
    assert len(purchases(events)) == 6


def test_first_purchase_cohorts() -> None:
    cohorts = first_purchase_cohorts(frame(ROWS)).set_index("customer_id")
    assert [str(c) for c in cohorts["cohort"]] == ["2026-01", "2026-01", "2026-02"]
    assert cohorts.loc["b", "first_purchase_at"] == pd.Timestamp(D(2026, 1, 20))


def test_retention_matrix_counts_rates_and_curve() -> None:
    result = retention(frame(ROWS))
    counts = result.counts.rename(index=str)
    assert counts.loc["2026-01"].tolist() == [2.0, 1.0, 1.0]
    assert counts.loc["2026-02"].tolist()[:2] == [1.0, 0.0]
    assert np.isnan(counts.loc["2026-02", 2])  # April has not been observed
    assert result.rates.rename(index=str).loc["2026-01"].tolist() == [1.0, 0.5, 0.5]
    assert result.sizes.tolist() == [2, 1]
    # offset 1: (1 + 0) / (2 + 1); offset 2: only the January cohort has reached it
    assert result.curve["retention"].tolist() == pytest.approx([1.0, 1 / 3, 0.5])
    assert result.curve["customers"].tolist() == [3, 3, 2]


def test_retention_as_of_ignores_later_orders_and_extends_to_the_as_of_month() -> None:
    result = retention(frame(ROWS), as_of=D(2026, 4, 15))
    counts = result.counts.rename(index=str)
    assert counts.loc["2026-01"].tolist() == [2.0, 1.0, 1.0, 0.0]
    assert counts.loc["2026-02"].tolist()[:3] == [1.0, 0.0, 0.0]
    assert np.isnan(counts.loc["2026-02", 3])  # May is after as_of
    early = retention(frame(ROWS), as_of=D(2026, 1, 31))
    assert early.counts.rename(index=str).to_dict("index") == {"2026-01": {0: 2.0}}


def test_repeat_rate_and_average_order_value() -> None:
    assert repeat_rate(frame(ROWS)) == pytest.approx(2 / 3)
    assert average_order_value(frame(ROWS)) == pytest.approx((10 + 20 + 5 + 7 + 30) / 5)


def test_revenue_per_journey_counts_orders_inside_the_window_after_entry() -> None:
    rows = [
        *ROWS,
        # c re-enters j1 on Feb 1 00:00: the Feb 1 order is 0 s after this entry
        ("c", "journey.entered", D(2026, 2, 1), None, {}, "j1"),
        # d enters but buys before entering only
        ("d", "purchase", D(2026, 1, 1), 99.0, {}, None),
        ("d", "journey.entered", D(2026, 1, 2), None, {}, "j2"),
    ]
    out = revenue_per_journey(frame(rows))
    assert out.loc["j1"].to_dict() == {
        "entered": 2,
        "purchasers": 2,
        "orders": 2,
        "revenue": 40.0,  # a's Jan 5 order (o1 once) + c's Feb 1 order; a's March order is late
        "revenue_per_entered": 20.0,
    }
    assert out.loc["j2"].to_dict() == {
        "entered": 2,
        "purchasers": 1,
        "orders": 1,
        "revenue": 7.0,
        "revenue_per_entered": 3.5,
    }
    # c's order is exactly 31 days after c's entry: outside a 31-day window, inside a 32-day one
    assert revenue_per_journey(frame(ROWS), window=timedelta(days=31)).loc["j1", "revenue"] == 10.0
    assert revenue_per_journey(frame(ROWS), window=timedelta(days=32)).loc["j1", "revenue"] == 40.0


def test_empty_frames_give_empty_results_and_bad_input_clear_errors() -> None:
    empty = frame([])
    assert purchases(empty).empty
    assert first_purchase_cohorts(empty).empty
    assert retention(empty).counts.empty and retention(empty).curve.empty
    assert repeat_rate(empty) == 0.0 and average_order_value(empty) == 0.0
    assert revenue_per_journey(empty).empty
    with pytest.raises(ValueError, match="occurred_at"):
        purchases(frame(ROWS).drop(columns=["occurred_at"]))
    with pytest.raises(ValueError, match="journey_id"):
        revenue_per_journey(frame(ROWS).drop(columns=["journey_id"]))
    with pytest.raises(ValueError, match="window"):
        revenue_per_journey(frame(ROWS), window=timedelta(days=-1))


def test_cdnow_retention_repeat_rate_and_aov_equal_duckdb_sql() -> None:
    duckdb = pytest.importorskip("duckdb")
    events = purchase_events(sample=False)
    orders = events[["customer_id", "occurred_at", "value"]]
    con = duckdb.connect()
    con.register("orders", orders)
    cells = con.execute(
        """
        with o as (
            select customer_id, date_trunc('month', occurred_at) as month, value from orders
        ), f as (
            select customer_id, min(month) as cohort from o group by customer_id
        )
        select f.cohort, date_diff('month', f.cohort, o.month) as k,
               count(distinct o.customer_id) as n
        from o join f using (customer_id) group by all order by all
        """
    ).df()
    result = retention(events)
    assert len(result.sizes) == 3  # CDNOW customers first bought in January-March 1997
    for row in cells.itertuples():
        cohort = pd.Period(row.cohort, freq="M")
        assert result.counts.loc[cohort, row.k] == row.n
    assert result.counts.notna().sum().sum() == len(cells)  # zero cells: none in CDNOW
    repeat, aov = con.execute(
        """
        select avg((n >= 2)::int), (select avg(value) from orders)
        from (select customer_id, count(*) as n from orders group by customer_id)
        """
    ).fetchone()
    assert repeat_rate(events) == pytest.approx(repeat, rel=1e-12)
    assert average_order_value(events) == pytest.approx(aov, rel=1e-12)
    # the curve is the size-weighted mean of the cohorts' rates
    reached = result.rates.notna()
    weights = reached.mul(result.sizes, axis=0)
    expected = (result.rates.fillna(0) * weights).sum() / weights.sum()
    np.testing.assert_allclose(result.curve["retention"], expected, rtol=1e-12)


def test_an_order_counts_for_every_journey_the_customer_entered_in_the_window() -> None:
    rows = [*ROWS, ("b", "journey.entered", D(2026, 2, 15), None, {}, "j1")]
    out = revenue_per_journey(frame(rows))
    assert out.index.tolist() == ["j1", "j2"]
    assert out.loc["j1", "revenue"] == 17.0  # a's 10 + b's 7 (b entered j1 on Feb 15)
    assert out.loc["j2", "revenue"] == 7.0


def test_revenue_per_journey_equals_duckdb_sql_on_random_logs() -> None:
    duckdb = pytest.importorskip("duckdb")
    rng = np.random.default_rng(11)
    n = 6_000
    start = pd.Timestamp("2026-01-01")
    events = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in rng.integers(0, 400, n)],
            "name": rng.choice(["purchase", "journey.entered", "message.sent"], n),
            "occurred_at": start + pd.to_timedelta(rng.integers(0, 120 * 86400, n), unit="s"),
            "value": rng.gamma(2.0, 30.0, n).round(2),
            "journey_id": rng.choice(["j1", "j2", "j3"], n),
        }
    )
    events.loc[events["name"] == "purchase", "journey_id"] = None
    con = duckdb.connect()
    con.register("events", events)
    expected = con.execute(
        """
        with o as (select row_number() over () as id, customer_id, occurred_at, value
                   from events where name = 'purchase'),
             e as (select customer_id, journey_id, occurred_at from events
                   where name = 'journey.entered'),
             hit as (select distinct e.journey_id, o.id, o.customer_id, o.value
                     from o join e on o.customer_id = e.customer_id
                      and e.occurred_at <= o.occurred_at
                      and o.occurred_at < e.occurred_at + interval 30 day)
        select journey_id, count(distinct customer_id) as purchasers, count(*) as orders,
               sum(value) as revenue
        from hit group by journey_id order by journey_id
        """
    ).df()
    out = revenue_per_journey(events)
    assert out.index.tolist() == expected["journey_id"].tolist()
    assert out["purchasers"].tolist() == expected["purchasers"].tolist()
    assert out["orders"].tolist() == expected["orders"].tolist()
    np.testing.assert_allclose(out["revenue"], expected["revenue"], rtol=1e-12)
    entered = events[events["name"] == "journey.entered"].groupby("journey_id")["customer_id"]
    assert out["entered"].tolist() == entered.nunique().tolist()
