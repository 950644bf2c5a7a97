"""Every attribution model on small paths solved by hand, conservation, and the side-by-side table."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from prefect_journeys.analytics.attribution import (
    DEFAULT_MODELS,
    attribution_table,
    first_touch,
    fit_markov,
    last_touch,
    linear,
    markov,
    paths_from_table,
    position_based,
    shapley,
    time_decay,
)
from prefect_journeys.analytics.attribution_paths import Paths, empty_paths

DAY = 86400.0


def table(*rows: tuple[str, float, float, float]) -> Paths:
    """Paths from (path, conversions, revenue, nulls) rows."""
    return paths_from_table(
        pd.DataFrame(
            rows, columns=["path", "total_conversions", "total_conversion_value", "total_null"]
        )
    )


def credit(frame: pd.DataFrame, column: str = "conversions") -> dict[str, Any]:
    return {k: pytest.approx(v) for k, v in zip(frame["key"], frame[column], strict=True)}


PATHS = table(
    ("email > sms > push > email", 1, 100.0, 0),
    ("sms", 2, 30.0, 1),
    ("push > sms", 1, 10.0, 3),
    ("email", 0, 0.0, 5),  # null only: never credited by a rule-based model
)


def test_first_and_last_touch() -> None:
    assert credit(first_touch(PATHS)) == {"email": 1, "sms": 2, "push": 1}
    assert credit(first_touch(PATHS), "revenue") == {"email": 100, "sms": 30, "push": 10}
    assert credit(last_touch(PATHS)) == {"email": 1, "sms": 3}
    assert credit(last_touch(PATHS), "revenue") == {"email": 100, "sms": 40}


def test_linear_gives_each_touch_an_equal_share() -> None:
    # path 1: 1/4 each (email twice → 1/2); path 2: sms 2; path 3: 1/2 each
    assert credit(linear(PATHS)) == {"email": 0.5, "push": 0.75, "sms": 2.75}
    assert credit(linear(PATHS), "revenue") == {"email": 50, "push": 30, "sms": 60}


def test_position_based_40_20_40() -> None:
    # path 1 (4 touches): email .4 + .4, sms .1, push .1; path 2: sms 1; path 3: .5/.5
    assert credit(position_based(PATHS)) == {"email": 0.8, "push": 0.6, "sms": 2.6}
    assert credit(position_based(PATHS), "revenue") == {"email": 80, "push": 15, "sms": 45}
    # other weights: 30/50 on the two-touch path splits 3:5
    skewed = position_based(PATHS, first_weight=0.3, last_weight=0.5)
    assert credit(skewed) == {"email": 0.8, "push": 0.1 + 3 / 8, "sms": 0.1 + 2 + 5 / 8}
    with pytest.raises(ValueError, match="position weights"):
        position_based(PATHS, first_weight=0.7, last_weight=0.4)


def test_time_decay_halves_credit_per_half_life() -> None:
    # One conversion (revenue 70): email 2 days before, sms 1 day, email at the conversion.
    touches = pd.DataFrame(
        {
            "path_id": [0, 0, 0],
            "position": [0, 1, 2],
            "length": [3, 3, 3],
            "key": ["email", "sms", "email"],
            "age": [2 * DAY, 1 * DAY, 0.0],
        }
    )
    outcomes = pd.DataFrame(
        {"conversions": [1.0], "nulls": [0.0], "revenue": [70.0]},
        index=pd.Index([0], name="path_id"),
    )
    paths = Paths(touches, outcomes)
    # weights 1/4, 1/2, 1 → 1/7, 2/7, 4/7
    one_day = time_decay(paths, half_life=timedelta(days=1))
    assert credit(one_day) == {"email": 5 / 7, "sms": 2 / 7}
    assert credit(one_day, "revenue") == {"email": 50, "sms": 20}
    week = time_decay(paths)  # default half-life 7 days
    w = 2 ** (-np.array([2, 1, 0]) / 7)
    assert credit(week) == {"email": (w[0] + w[2]) / w.sum(), "sms": w[1] / w.sum()}
    # very old touches do not underflow to 0/0
    old = Paths(touches.assign(age=touches["age"] + 3650 * DAY), outcomes)
    aged = time_decay(old, half_life=timedelta(hours=1)).set_index("key")["conversions"]
    assert aged.to_dict() == {"email": pytest.approx(1.0, abs=1e-6), "sms": pytest.approx(2**-24)}
    with pytest.raises(ValueError, match="needs touch times"):
        time_decay(PATHS)
    with pytest.raises(ValueError, match="half_life must be positive"):
        time_decay(paths, half_life=timedelta(0))


def test_markov_removal_effect_solved_on_paper() -> None:
    # A>B converts (revenue 30), A dies, B converts (revenue 10).
    # start: A 2/3, B 1/3; A → B 1/2, A → null 1/2; B → conversion 1.
    # P = 2/3·1/2 + 1/3 = 2/3; without A: 1/3 (RE 1/2); without B: 0 (RE 1).
    paths = table(("A > B", 1, 30.0, 0), ("A", 0, 0.0, 1), ("B", 1, 10.0, 0))
    model = fit_markov(paths)
    assert model.conversion_probability == pytest.approx(2 / 3)
    assert model.removal["removal_effect"].to_dict() == {"A": pytest.approx(0.5), "B": 1.0}
    assert model.removal["conversion_probability_without"].to_dict() == {
        "A": pytest.approx(1 / 3),
        "B": 0.0,
    }
    assert credit(markov(paths)) == {"A": 2 / 3, "B": 4 / 3}
    # revenue: every conversion ends at B, worth (30 + 10) / 2 = 20 → same shares of 40
    assert model.expected_value == pytest.approx(2 / 3 * 20)
    assert credit(markov(paths), "revenue") == {"A": 40 / 3, "B": 80 / 3}
    frame = model.transition_frame()
    assert {(f, t): p for f, t, p in frame.itertuples(index=False)} == {
        ("(start)", "A"): pytest.approx(2 / 3),
        ("(start)", "B"): pytest.approx(1 / 3),
        ("A", "B"): 0.5,
        ("A", "(null)"): 0.5,
        ("B", "(conversion)"): 1.0,
    }


def test_markov_counts_every_path_through_a_cycle() -> None:
    # A>B>A converts, B dies. start .5/.5; A → B .5, A → conv .5; B → A .5, B → null .5.
    # h_A = .5 + .5 h_B, h_B = .5 h_A → h_A = 2/3, h_B = 1/3 → P = 1/2 (summing only the
    # observed converting path would give 1/16). Without A: 0; without B: .5·.5 = 1/4.
    paths = table(("A > B > A", 1, 0.0, 0), ("B", 0, 0.0, 1))
    model = fit_markov(paths)
    assert model.conversion_probability == pytest.approx(0.5)
    assert model.removal["removal_effect"].to_dict() == {"A": 1.0, "B": pytest.approx(0.5)}
    assert credit(markov(paths)) == {"A": 2 / 3, "B": 1 / 3}
    assert markov(paths)["revenue"].sum() == 0  # no revenue, no revenue credit


def test_markov_revenue_follows_the_value_of_the_last_touch() -> None:
    # Two independent channels: A converts half the time (worth 100), B always (worth 10).
    paths = table(("A", 1, 100.0, 1), ("B", 2, 20.0, 0))
    model = fit_markov(paths)
    # P = 1/2·1/2 + 1/2·1 = 3/4; RE_A = (1/4)/(3/4) = 1/3, RE_B = 2/3
    assert credit(markov(paths)) == {"A": 1.0, "B": 2.0}
    # V = 1/2·1/2·100 + 1/2·1·10 = 30; without A: 5 (RE 5/6), without B: 25 (RE 1/6)
    assert model.expected_value == pytest.approx(30)
    assert credit(markov(paths), "revenue") == {"A": 120 * 5 / 6, "B": 120 / 6}


def test_shapley_conversions_game() -> None:
    # v({A}) = 2, v({B}) = 1, v({A,B}) = 2 + 1 + 3 = 6 → φ_A = (2 + 5)/2, φ_B = (1 + 4)/2
    paths = table(("A", 2, 20.0, 5), ("B", 1, 1.0, 0), ("A > B > A", 3, 9.0, 0))
    assert credit(shapley(paths)) == {"A": 3.5, "B": 2.5}
    assert credit(shapley(paths), "revenue") == {"A": 20 + 4.5, "B": 1 + 4.5}
    # equal to the linear split over each path's DISTINCT keys
    paths3 = table(
        ("a > b > c", 4, 0, 0), ("a > c", 2, 0, 0), ("c", 1, 0, 0), ("b > a > b", 3, 0, 0)
    )
    assert credit(shapley(paths3)) == {"a": 4 / 3 + 1 + 1.5, "b": 4 / 3 + 1.5, "c": 4 / 3 + 1 + 1}


def test_shapley_conversion_rate_game() -> None:
    # rates: v({A}) = 2/7, v({B}) = 1/1, v({A,B}) = 6/11 (every journey)
    paths = table(("A", 2, 20.0, 5), ("B", 1, 1.0, 0), ("A > B > A", 3, 9.0, 0))
    va, vb, vab = 2 / 7, 1.0, 6 / 11
    phi_a, phi_b = (va + vab - vb) / 2, (vb + vab - va) / 2
    got = shapley(paths, characteristic="conversion_rate")
    assert credit(got) == {"A": 6 * phi_a / vab, "B": 6 * phi_b / vab}
    assert got["conversions"].sum() == pytest.approx(6)
    assert got["revenue"].sum() == pytest.approx(30)


def test_shapley_refuses_too_many_keys() -> None:
    many = table(*((f"k{i}", 1, 1.0, 0) for i in range(16)))
    with pytest.raises(ValueError, match="refuses 16 keys"):
        shapley(many)
    assert len(shapley(many, max_keys=16)) == 16
    with pytest.raises(ValueError, match="unknown characteristic"):
        shapley(PATHS, characteristic="clicks")  # type: ignore[arg-type]


RANDOM = table(
    *(
        (
            " > ".join(np.random.default_rng(i).choice(list("abcde"), size=1 + i % 6)),
            i % 3,
            7.5 * (i % 3),
            i % 4,
        )
        for i in range(60)
    )
)


@pytest.mark.parametrize("model", [*DEFAULT_MODELS[:3], DEFAULT_MODELS[4], "markov", "shapley"])
def test_every_model_conserves_conversions_and_revenue(model: str) -> None:
    got = attribution_table(RANDOM, models=[model])
    assert got["conversions"].sum() == pytest.approx(RANDOM.total_conversions)
    assert got["revenue"].sum() == pytest.approx(RANDOM.total_revenue)
    assert got["share"].sum() == pytest.approx(1)
    assert (got["conversions"] >= -1e-12).all()


def test_attribution_table_side_by_side() -> None:
    got = attribution_table(PATHS, models=["first_touch", "last_touch", "markov", "shapley"])
    assert list(got.columns) == ["model", "key", "conversions", "revenue", "share", "revenue_share"]
    assert got["model"].unique().tolist() == ["first_touch", "last_touch", "markov", "shapley"]
    last = got[got["model"] == "last_touch"].set_index("key")
    assert last["conversions"].to_dict() == {"email": 1, "push": 0, "sms": 3}  # 0 rows kept
    assert last["share"].to_dict() == {"email": 0.25, "push": 0, "sms": 0.75}
    assert last["revenue_share"].to_dict() == {"email": 100 / 140, "push": 0, "sms": 40 / 140}
    with pytest.raises(ValueError, match="unknown model"):
        attribution_table(PATHS, models=["data_driven"])


def test_empty_paths_give_empty_results() -> None:
    empty = empty_paths()
    for model in (first_touch, last_touch, linear, position_based, time_decay, markov, shapley):
        assert model(empty).empty
    assert attribution_table(empty).empty
    assert list(attribution_table(empty).columns)[:2] == ["model", "key"]
    # only null paths: keys exist, nothing to credit
    nulls = table(("a > b", 0, 0.0, 3))
    assert attribution_table(nulls, models=["linear", "markov"])["conversions"].sum() == 0
