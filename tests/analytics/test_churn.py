"""Churn rate and Kaplan–Meier time to churn: hand-computed cases, and our estimator against
``lifelines.KaplanMeierFitter`` (survival and exponential-Greenwood band at every time, 1e-9) on
random data with ties and on the real CDNOW purchase log shipped in ``lifetimes``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.analytics.cdnow import purchase_events

from prefect_journeys.analytics.churn import (
    churn_durations,
    churn_rate,
    churn_survival,
    kaplan_meier,
    median_survival,
)

D = datetime
AS_OF = D(2026, 6, 30)
COLUMNS = ["customer_id", "name", "occurred_at", "value"]


def frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=COLUMNS)
    out["occurred_at"] = pd.to_datetime(out["occurred_at"])
    return out


ROWS = [
    ("a", "purchase", D(2026, 1, 1), 10.0),  # last purchase 180 days before AS_OF: churned
    ("b", "purchase", D(2026, 2, 1), 10.0),
    ("b", "purchase", D(2026, 4, 1), 10.0),  # exactly 90 days before AS_OF: churned
    ("c", "purchase", D(2026, 3, 1), 10.0),
    ("c", "signed_up", D(2026, 6, 1), None),  # active with activity="any", churned otherwise
    ("c", "message.opened", D(2026, 6, 20), None),  # engine event: never activity for "any"
    ("d", "purchase", D(2026, 6, 1), 10.0),  # 29 days old: active
    ("e", "purchase", D(2026, 7, 15), 10.0),  # after AS_OF: not a customer yet
    ("f", "signed_up", D(2026, 1, 10), None),  # never purchased
]


def test_churn_rate_on_purchases_counts_the_threshold_day_as_churned() -> None:
    rate = churn_rate(frame(ROWS), AS_OF)
    assert (rate.customers, rate.churned) == (4, 3)  # a, b, c churned; d active
    assert rate.rate == pytest.approx(0.75)
    shorter = churn_rate(frame(ROWS), AS_OF, threshold=timedelta(days=91))
    assert shorter.churned == 2  # b (exactly 90 days) is no longer churned


def test_churn_rate_activity_any_customer_event_or_named_events() -> None:
    anything = churn_rate(frame(ROWS), AS_OF, activity="any")
    assert (anything.customers, anything.churned) == (5, 3)  # f counts, c is active, a, b, f churn
    named = churn_rate(frame(ROWS), AS_OF, activity=["signed_up"])
    assert (named.customers, named.churned) == (2, 1)  # c active, f churned


def test_churn_durations_from_first_purchase() -> None:
    durations = churn_durations(frame(ROWS), AS_OF, activity="any")
    assert list(durations.index) == ["a", "b", "c", "d"]
    # a: churns at Jan 1 + 90 days; b: at Apr 1 + 90 days = AS_OF, 149 days after Feb 1
    assert durations.loc["a"].to_dict() | {"first_purchase_at": None} == {
        "first_purchase_at": None,
        "last_activity_at": pd.Timestamp(D(2026, 1, 1)),
        "duration": 90.0,
        "churned": True,
    }
    assert durations.loc["b", "duration"] == 149.0 and durations.loc["b", "churned"]
    # c: last activity Jun 1 (signed_up), censored at AS_OF, 121 days after Mar 1
    assert durations.loc["c", "duration"] == 121.0 and not durations.loc["c", "churned"]
    assert durations.loc["d", "duration"] == 29.0 and not durations.loc["d", "churned"]


def test_kaplan_meier_hand_computed() -> None:
    # durations 1, 2+, 3, 3, 4+ (+ = censored)
    km = kaplan_meier([1, 2, 3, 3, 4], [True, False, True, True, False])
    assert km.index.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert km["at_risk"].tolist() == [5, 5, 4, 3, 1]
    assert km["observed"].tolist() == [0, 1, 0, 2, 0]
    assert km["censored"].tolist() == [0, 0, 1, 0, 1]
    assert km["survival"].tolist() == pytest.approx([1, 0.8, 0.8, 0.8 / 3, 0.8 / 3])
    # Greenwood at t=3: 1/(5*4) + 2/(3*1)
    var = 1 / 20 + 2 / 3
    s = 0.8 / 3
    z = 1.959963984540054
    low = np.exp(-np.exp(np.log(-np.log(s)) - z * np.sqrt(var) / np.log(s)))
    assert km.loc[3.0, "lower"] == pytest.approx(low, rel=1e-12)
    assert km.loc[0.0, ["lower", "upper"]].tolist() == [1.0, 1.0]
    assert median_survival(km) == 3.0
    assert median_survival(kaplan_meier([5.0], [False])) == float("inf")


def _lifelines_check(durations: np.ndarray, observed: np.ndarray, alpha: float) -> None:
    lifelines = pytest.importorskip("lifelines")
    ours = kaplan_meier(durations, observed, alpha=alpha)
    ref = lifelines.KaplanMeierFitter(alpha=alpha).fit(durations, observed)
    np.testing.assert_array_equal(ours.index.to_numpy(), ref.timeline)
    np.testing.assert_allclose(ours["survival"], ref.survival_function_.iloc[:, 0], atol=1e-9)
    np.testing.assert_allclose(ours["lower"], ref.confidence_interval_.iloc[:, 0], atol=1e-9)
    np.testing.assert_allclose(ours["upper"], ref.confidence_interval_.iloc[:, 1], atol=1e-9)
    table = ref.event_table.reindex(ours.index)
    np.testing.assert_array_equal(ours["at_risk"], table["at_risk"])
    np.testing.assert_array_equal(ours["observed"], table["observed"])
    np.testing.assert_array_equal(ours["censored"], table["censored"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kaplan_meier_equals_lifelines_on_random_data_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = [3, 200, 5000][seed]
    durations = rng.integers(0, 40, n).astype(float)
    observed = rng.random(n) < [1.0, 0.7, 0.3][seed]  # seed 0: survival reaches 0
    _lifelines_check(durations, observed, alpha=[0.05, 0.1, 0.01][seed])


def test_churn_survival_on_cdnow_equals_lifelines() -> None:
    events = purchase_events(sample=False)
    as_of = D(1998, 6, 30)
    durations = churn_durations(events, as_of)
    assert len(durations) == 23570
    # CDNOW's famous finding: most first-quarter buyers never come back
    assert 0.7 < durations["churned"].mean() < 0.95
    _lifelines_check(durations["duration"].to_numpy(), durations["churned"].to_numpy(), 0.05)
    km = churn_survival(events, as_of)
    assert km["survival"].iloc[-1] < 0.3
    assert km["survival"].is_monotonic_decreasing
    assert (km["lower"] <= km["survival"] + 1e-12).all()
    assert (km["upper"] >= km["survival"] - 1e-12).all()


def test_empty_frames_and_bad_input() -> None:
    empty = frame([])
    assert churn_rate(empty, AS_OF).rate == 0.0
    assert churn_durations(empty, AS_OF).empty
    km = churn_survival(empty, AS_OF)
    assert km.index.tolist() == [0.0] and km["survival"].tolist() == [1.0]
    with pytest.raises(ValueError, match="threshold"):
        churn_rate(frame(ROWS), AS_OF, threshold=timedelta(days=-1))
    with pytest.raises(ValueError, match="activity"):
        churn_rate(frame(ROWS), AS_OF, activity="sometimes")
    with pytest.raises(ValueError, match="customer_id"):
        churn_rate(frame(ROWS).drop(columns=["customer_id"]), AS_OF)
    with pytest.raises(ValueError, match="non-negative"):
        kaplan_meier([1.0, -2.0], [True, True])
    with pytest.raises(ValueError, match="equal length"):
        kaplan_meier([1.0, 2.0], [True])
    with pytest.raises(ValueError, match="alpha"):
        kaplan_meier([1.0], [True], alpha=1.5)
