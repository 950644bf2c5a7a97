"""Attribution cross-checked on the 10,000-path sample shipped in the ``mta`` package.

Oracles: ``mta`` (first/last touch, linear proportional, position based, Shapley, and its
first-order transition matrix — exact agreement expected) and ``ChannelAttribution`` (heuristic
models exactly; the Markov removal effects it estimates by simulation, within stated tolerances).
"""

from __future__ import annotations

import contextlib
import importlib.resources
import io
from typing import Any

import pandas as pd
import pytest

from prefect_journeys.analytics.attribution import (
    attribution_table,
    fit_markov,
    paths_from_table,
)
from prefect_journeys.analytics.attribution_paths import Paths

mta_module = pytest.importorskip("mta")
ca = pytest.importorskip("ChannelAttribution")

DATA = importlib.resources.files("mta") / "data" / "data.csv.gz"


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    with importlib.resources.as_file(DATA) as path:
        return pd.read_csv(path)


@pytest.fixture(scope="module")
def paths(sample: pd.DataFrame) -> Paths:
    return paths_from_table(sample, sep=">")


@pytest.fixture(scope="module")
def ours(paths: Paths) -> pd.DataFrame:
    models = ["first_touch", "last_touch", "linear", "position_based", "markov", "shapley"]
    table = attribution_table(paths, models=models)
    return table.pivot(index="key", columns="model", values=["conversions", "revenue"])


def quiet(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a reference function without its progress prints and banners."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


@pytest.fixture(scope="module")
def mta_model() -> Any:
    with importlib.resources.as_file(DATA) as path:
        # allow_loops=False: mta collapses consecutive repeats, as our paths do by default
        model = quiet(mta_module.MTA, data=str(path), allow_loops=False, add_timepoints=False)
    quiet(model.first_touch, normalize=False)
    quiet(model.last_touch, normalize=False)
    quiet(model.linear, share="proportional", normalize=False)
    quiet(model.position_based, normalize=False)
    quiet(model.shapley, normalize=False)
    return model


def test_sample_totals(paths: Paths, sample: pd.DataFrame) -> None:
    assert len(paths.outcomes) == 10_000
    assert paths.total_conversions == sample["total_conversions"].sum() == 19_785
    assert paths.total_revenue == pytest.approx(sample["total_conversion_value"].sum())
    assert paths.keys == sorted(sample["path"].str.split(" > ").explode().unique())


@pytest.mark.parametrize(
    ("mta_name", "ours_name"),
    [
        ("first_touch", "first_touch"),
        ("last_touch", "last_touch"),
        ("linear", "linear"),
        ("pos_based", "position_based"),
        ("shapley", "shapley"),
    ],
)
def test_conversions_equal_mta(
    mta_model: Any, ours: pd.DataFrame, mta_name: str, ours_name: str
) -> None:
    expected = pd.Series(mta_model.attribution[mta_name], dtype=float)
    expected = expected.reindex(ours.index, fill_value=0.0)
    got = ours[("conversions", ours_name)]
    pd.testing.assert_series_equal(got, expected, check_names=False, rtol=1e-9, atol=1e-9)


def test_markov_chain_equals_mta_transition_matrix(mta_model: Any, paths: Paths) -> None:
    expected = quiet(mta_model.transition_matrix)
    frame = fit_markov(paths).transition_frame()
    got = {(a, b): p for a, b, p in frame.itertuples(index=False)}
    assert got.keys() == expected.keys()
    for pair, probability in expected.items():
        assert got[pair] == pytest.approx(probability, rel=1e-12), pair


def test_heuristics_equal_channel_attribution(sample: pd.DataFrame, ours: pd.DataFrame) -> None:
    data = sample.assign(path=sample["path"].str.replace(" > ", ">", regex=False))
    ref = (
        quiet(
            ca.heuristic_models,
            data,
            "path",
            "total_conversions",
            var_value="total_conversion_value",
            flg_pro=False,
        )
        .set_index("channel_name")
        .reindex(ours.index)
    )
    for model in ("first_touch", "last_touch"):
        for column, suffix in (("conversions", "conversions"), ("revenue", "value")):
            got = ours[(column, model)].to_numpy()
            assert got == pytest.approx(ref[f"{model}_{suffix}"].to_numpy(), rel=1e-9)


def test_linear_equals_channel_attribution_on_raw_paths(sample: pd.DataFrame) -> None:
    # ChannelAttribution's linear model keeps repeated touches: compare on uncollapsed paths.
    data = sample.assign(path=sample["path"].str.replace(" > ", ">", regex=False))
    ref = quiet(
        ca.heuristic_models,
        data,
        "path",
        "total_conversions",
        var_value="total_conversion_value",
        flg_pro=False,
    ).set_index("channel_name")
    raw = paths_from_table(sample, collapse_repeats=False)
    got = attribution_table(raw, models=["linear"]).set_index("key").reindex(ref.index)
    assert got["conversions"].to_numpy() == pytest.approx(
        ref["linear_touch_conversions"].to_numpy(), rel=1e-9
    )
    assert got["revenue"].to_numpy() == pytest.approx(
        ref["linear_touch_value"].to_numpy(), rel=1e-9
    )


def test_markov_agrees_with_channel_attribution_simulation(
    sample: pd.DataFrame, paths: Paths, ours: pd.DataFrame
) -> None:
    data = sample.assign(path=sample["path"].str.replace(" > ", ">", regex=False))
    ref = quiet(
        ca.markov_model,
        data,
        "path",
        "total_conversions",
        var_value="total_conversion_value",
        var_null="total_null",
        order=1,
        nsim_start=1e5,
        conv_par=0.01,
        seed=0,
        out_more=True,
        verbose=False,
        flg_pro=False,
    )
    removal = ref["removal_effects"].set_index("channel_name").reindex(ours.index)
    result = ref["result"].set_index("channel_name").reindex(ours.index)
    exact = fit_markov(paths).removal
    # Removal effects: within 0.01 (absolute) of the simulated ones.
    assert (removal["removal_effects_conversion"] - exact["removal_effect"]).abs().max() < 0.01
    diff_value = removal["removal_effects_conversion_value"] - exact["removal_effect_revenue"]
    assert diff_value.abs().max() < 0.01
    # Credited conversions/revenue: within 3 % / 5 % for every key with ≥ 1 % of the total,
    # and within 0.5 % of the total for every key.
    for column, ref_column, rel in (
        ("conversions", "total_conversions", 0.03),
        ("revenue", "total_conversion_value", 0.05),
    ):
        got = ours[(column, "markov")]
        expected = result[ref_column]
        total = got.sum()
        assert total == pytest.approx(expected.sum(), rel=1e-9)
        big = expected >= 0.01 * total
        assert big.sum() >= 8
        assert ((got - expected).abs() / expected)[big].max() < rel
        assert (got - expected).abs().max() < 0.005 * total
