"""The pure helpers behind the analytics pages, on hand-built frames."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from prefect_journeys.dashboards import insights


def test_select_dims_keeps_the_chosen_channel_and_variant_and_drops_the_keys() -> None:
    table = pd.DataFrame(
        {
            "step_id": ["a", "a", "b", "b"],
            "channel": ["email", "sms", "email", "email"],
            "variant": ["x", "x", "x", "y"],
            "sent": [1, 2, 3, 4],
        }
    )
    out = insights.select_dims(table, channel="email", variant="x")
    assert out.to_dict("records") == [{"step_id": "a", "sent": 1}, {"step_id": "b", "sent": 3}]
    assert insights.select_dims(table) is table or insights.select_dims(table).equals(table)
    assert insights.select_dims(table, channel="whatsapp").empty
    with pytest.raises(ValueError, match="no 'variant' column"):
        insights.select_dims(table.drop(columns="variant"), variant="x")


def test_dims_lists_only_chosen_dimensions() -> None:
    assert insights.dims(None, None) == ()
    assert insights.dims("email", None) == ("channel",)
    assert insights.dims("email", "x") == ("channel", "variant")
    assert insights.dims(None, "x") == ("variant",)


def test_keep_variant_keeps_whole_enrollments_of_the_variant() -> None:
    events = pd.DataFrame(
        {
            "enrollment_id": ["e1", "e1", "e2", "e2", "e3"],
            "variant": [None, "x", None, "y", None],
            "name": ["journey.step"] * 5,
        }
    )
    kept = insights.keep_variant(events, "x")
    assert kept["enrollment_id"].tolist() == ["e1", "e1"]  # the pre-split step too
    assert insights.keep_variant(events, None) is events
    assert insights.keep_variant(events, "z").empty
    with pytest.raises(ValueError, match="enrollment_id"):
        insights.keep_variant(events.drop(columns="enrollment_id"), "x")


def test_error_bars_are_the_distances_to_the_interval() -> None:
    table = pd.DataFrame(
        {
            "variant": ["a", "holdout"],
            "holdout": [False, True],
            "rate": [0.2, 0.1],
            "rate_low": [0.15, 0.02],
            "rate_high": [0.3, 0.25],
        }
    )
    bars = insights.error_bars(table)
    np.testing.assert_allclose(bars["above"], [0.1, 0.15])
    np.testing.assert_allclose(bars["below"], [0.05, 0.08])


def test_heatmap_labels_cohorts_as_text() -> None:
    rates = pd.DataFrame(
        [[1.0, 0.5], [1.0, np.nan]],
        index=pd.PeriodIndex(["2025-01", "2025-02"], freq="M", name="cohort"),
        columns=pd.Index([0, 1], name="offset"),
    )
    grid = insights.heatmap(rates)
    assert list(grid.index) == ["2025-01", "2025-02"] and list(grid.columns) == [0, 1]
    assert grid.loc["2025-01", 1] == 0.5 and math.isnan(grid.to_numpy()[1, 1])


def test_top_customers_sorts_by_clv_and_keeps_ids() -> None:
    customers = pd.DataFrame(
        {"clv": [5.0, 50.0, 20.0], "probability_alive": [0.1, 0.9, 0.5]},
        index=pd.Index(["c1", "c2", "c3"], name="customer_id"),
    )
    top = insights.top_customers(customers, 2)
    assert top["customer_id"].tolist() == ["c2", "c3"]
    assert top["clv"].tolist() == [50.0, 20.0]
    with pytest.raises(ValueError, match="non-negative"):
        insights.top_customers(customers, -1)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "—"), (float("nan"), "—"), (30, "30s"), (600, "10m"), (5400, "1.5h"), (172800, "2.0d")],
)
def test_duration_is_short_and_readable(seconds: float | None, shown: str) -> None:
    assert insights.duration(seconds) == shown


def test_first_finite_skips_missing_values() -> None:
    assert insights.first_finite(pd.Series([np.nan, 25.0])) == 25.0
    assert insights.first_finite(pd.Series([np.nan])) is None
    assert insights.first_finite([]) is None
