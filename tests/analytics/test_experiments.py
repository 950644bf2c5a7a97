"""Experiment statistics against hand-computed cases and statsmodels (the reference), on public
data shipped with statsmodels: Spector & Mazzeo's PSI teaching experiment (32 students, a real
treatment/control trial) and the China smoking study (eight cities' 2×2 tables)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import integrate, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
    proportions_ztest,
)

from prefect_journeys.analytics import experiments as ex
from prefect_journeys.analytics.frames import empty_events

GRID = [(0, 1), (0, 10), (1, 10), (3, 40), (10, 10), (50, 1000), (7, 25000), (999, 1000)]


def _counts(rows: list[tuple[str, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "variant": [r[0] for r in rows],
            "enrollments": [r[1] for r in rows],
            "conversions": [r[2] for r in rows],
            "holdout": [r[0] == "holdout" for r in rows],
        }
    )


def _spector() -> tuple[tuple[int, int], tuple[int, int]]:
    """(conversions, n) for PSI = 1 (treatment) and PSI = 0 (control); GRADE 1 = improved."""
    data = sm.datasets.spector.load_pandas().data
    by = data.groupby("PSI")["GRADE"].agg(["sum", "size"])
    return (int(by.loc[1.0, "sum"]), int(by.loc[1.0, "size"])), (
        int(by.loc[0.0, "sum"]),
        int(by.loc[0.0, "size"]),
    )


def _china() -> pd.DataFrame:
    """Per city: lung cancer among smokers (x1/n1) and among non-smokers (x0/n0)."""
    data = sm.datasets.china_smoking.load_pandas().data
    return pd.DataFrame(
        {
            "x1": data["smoking_yes_cancer_yes"],
            "n1": data["smoking_yes_cancer_yes"] + data["smoking_yes_cancer_no"],
            "x0": data["smoking_no_cancer_yes"],
            "n0": data["smoking_no_cancer_yes"] + data["smoking_no_cancer_no"],
        }
    ).astype(int)


# ----------------------------------------------------------------------------- intervals and tests


def test_wilson_matches_statsmodels() -> None:
    x = [c for c, _ in GRID]
    n = [m for _, m in GRID]
    for confidence in (0.95, 0.9, 0.99):
        low, high = ex.wilson_interval(x, n, confidence)
        for i, (c, m) in enumerate(GRID):
            ref = proportion_confint(c, m, alpha=1 - confidence, method="wilson")
            assert low[i] == pytest.approx(ref[0], abs=1e-12)
            assert high[i] == pytest.approx(ref[1], abs=1e-12)


def test_wilson_hand_case_and_edges() -> None:
    # 1 of 10 at 95%: centre (0.1 + z²/20)/(1 + z²/10), half z/(1 + z²/10)·sqrt(0.009 + z²/400)
    z = 1.959963984540054
    centre = (0.1 + z * z / 20) / (1 + z * z / 10)
    half = z / (1 + z * z / 10) * math.sqrt(0.1 * 0.9 / 10 + z * z / 400)
    low, high = ex.wilson_interval(1, 10)
    assert (float(low), float(high)) == pytest.approx((centre - half, centre + half), abs=1e-12)
    low, high = ex.wilson_interval([0, 5], [0, 5])
    assert math.isnan(low[0]) and math.isnan(high[0])
    assert high[1] == 1.0 and 0.5 < low[1] < 1
    with pytest.raises(ValueError, match="exceed"):
        ex.wilson_interval(5, 4)
    with pytest.raises(ValueError, match="negative"):
        ex.wilson_interval(-1, 4)
    with pytest.raises(ValueError, match="confidence"):
        ex.wilson_interval(1, 4, confidence=1.5)


def test_ztest_matches_statsmodels_on_public_data() -> None:
    (x1, n1), (x0, n0) = _spector()
    z, p = ex.two_proportion_ztest(x1, n1, x0, n0)
    ref_z, ref_p = proportions_ztest([x1, x0], [n1, n0])
    assert float(z) == pytest.approx(ref_z, rel=1e-12)
    assert float(p) == pytest.approx(ref_p, rel=1e-12)
    china = _china()
    z, p = ex.two_proportion_ztest(china["x1"], china["n1"], china["x0"], china["n0"])
    for i, row in enumerate(china.itertuples()):
        ref_z, ref_p = proportions_ztest([row.x1, row.x0], [row.n1, row.n0])
        assert z[i] == pytest.approx(ref_z, rel=1e-12)
        assert p[i] == pytest.approx(ref_p, rel=1e-9, abs=1e-300)


def test_ztest_hand_case_and_degenerate() -> None:
    # 20/100 vs 10/100: pooled 0.15, se = sqrt(0.15·0.85·0.02), z = 0.1/se
    z, p = ex.two_proportion_ztest(20, 100, 10, 100)
    expected_z = 0.1 / math.sqrt(0.15 * 0.85 * 0.02)
    assert float(z) == pytest.approx(expected_z, rel=1e-12)
    assert float(p) == pytest.approx(2 * stats.norm.sf(expected_z), rel=1e-12)
    assert float(p) == pytest.approx(0.04767, abs=1e-5)
    z, p = ex.two_proportion_ztest([0, 0], [50, 0], [0, 1], [50, 10])
    assert np.isnan(z).all() and np.isnan(p).all()  # no variation / an empty arm


def test_difference_and_ratio_intervals_match_statsmodels() -> None:
    china = _china()
    (x1, n1), (x0, n0) = _spector()
    cases = [(x1, n1, x0, n0), (60, 1000, 45, 1000), (1, 30, 4, 31)]
    cases += [tuple(int(v) for v in r) for r in china[["x1", "n1", "x0", "n0"]].to_numpy()]
    for a, b, c, d in cases:
        low, high = ex.newcombe_interval(a, b, c, d)
        ref = confint_proportions_2indep(a, b, c, d, method="newcomb", compare="diff")
        assert (float(low), float(high)) == pytest.approx(ref, abs=1e-12)
        low, high = ex.ratio_interval(a, b, c, d)
        ref = confint_proportions_2indep(a, b, c, d, method="log", compare="ratio")
        assert (float(low) + 1, float(high) + 1) == pytest.approx(ref, rel=1e-10)
    low, high = ex.ratio_interval(0, 10, 3, 10)
    assert math.isnan(float(low)) and math.isnan(float(high))


def test_multiple_comparison_corrections_match_statsmodels() -> None:
    china = _china()
    _, p = ex.two_proportion_ztest(china["x1"], china["n1"], china["x0"], china["n0"])
    p = np.concatenate([p, [0.01, 0.04, 0.03, 0.2, 0.5]])
    for method in ("holm", "bonferroni"):
        ours = ex.adjust_pvalues(p, method)  # type: ignore[arg-type]
        assert ours == pytest.approx(multipletests(p, method=method)[1], rel=1e-12, abs=1e-300)
    assert ex.adjust_pvalues(p, "none") == pytest.approx(p)
    with_nan = ex.adjust_pvalues([0.01, np.nan, 0.04], "holm")
    assert with_nan[0] == pytest.approx(0.02) and np.isnan(with_nan[1])
    assert with_nan[2] == pytest.approx(0.04)
    with pytest.raises(ValueError, match="correction"):
        ex.adjust_pvalues([0.1], "sidak")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- Bayesian


def _monte_carlo(x: list[int], n: list[int], draws: int = 1_000_000) -> np.ndarray:
    rng = np.random.default_rng(20260302)
    a = 1 + np.asarray(x)
    b = 1 + np.asarray(n) - np.asarray(x)
    samples = rng.beta(a, b, size=(draws, len(x)))
    return np.bincount(samples.argmax(axis=1), minlength=len(x)) / draws


@pytest.mark.parametrize(
    ("x", "n"),
    [
        ([60, 45], [1000, 1000]),
        ([3, 8], [18, 14]),  # the PSI experiment
        ([0, 0], [10, 200]),
        ([60, 45, 50], [1000, 1000, 1000]),
        ([5, 9, 2, 30], [100, 120, 40, 500]),
        ([120, 130, 118, 0], [2000, 2000, 2000, 5]),
    ],
)
def test_prob_best_against_seeded_monte_carlo(x: list[int], n: list[int]) -> None:
    ours = ex.prob_best(x, n)
    assert ours.sum() == pytest.approx(1.0, abs=1e-9)
    # 10⁶ draws: standard error ≤ 0.0005, so 0.003 is six of them
    assert ours == pytest.approx(_monte_carlo(x, n), abs=0.003)


def test_prob_best_two_arms_is_exact() -> None:
    # the closed form equals direct integration of P(B > A) to quadrature precision
    for (xa, na), (xb, nb) in [((60, 1000), (45, 1000)), ((3, 18), (8, 14)), ((0, 5), (40, 41))]:
        a1, b1, a2, b2 = 1 + xa, 1 + na - xa, 1 + xb, 1 + nb - xb
        direct, _ = integrate.quad(
            lambda t, a1=a1, b1=b1, a2=a2, b2=b2: (
                stats.beta.pdf(t, a2, b2) * stats.beta.cdf(t, a1, b1)
            ),
            0,
            1,
            epsabs=1e-13,
            limit=500,
            points=[xa / na, xb / nb],
        )
        assert ex.prob_best([xa, xb], [na, nb])[1] == pytest.approx(direct, abs=1e-9)
        # the k-arm quadrature agrees with the closed form
        three = ex.prob_best([xa, xb, 0], [na, nb, 10**6])  # a third arm that cannot win
        assert three[:2] == pytest.approx(ex.prob_best([xa, xb], [na, nb]), abs=1e-7)
    # symmetry and trivial cases
    assert ex.prob_best([5, 5, 5], [50, 50, 50]) == pytest.approx([1 / 3] * 3, abs=1e-9)
    assert list(ex.prob_best([], [])) == []
    assert list(ex.prob_best([3], [10])) == [1.0]


# ----------------------------------------------------------------------------- sample size


@pytest.mark.parametrize(
    ("baseline", "mde", "relative"),
    [(0.05, 0.01, False), (0.1, 0.02, False), (0.3, -0.05, False), (0.02, 0.2, True)],
)
def test_sample_size_matches_statsmodels(baseline: float, mde: float, relative: bool) -> None:
    target = baseline * (1 + mde) if relative else baseline + mde
    h = proportion_effectsize(target, baseline)
    ref = NormalIndPower().solve_power(effect_size=h, alpha=0.05, power=0.8, ratio=1.0)
    ours = ex.sample_size_per_arm(baseline, mde, relative=relative)
    # statsmodels also counts the far tail's (negligible) power, so it may be a hair lower
    assert ours == math.ceil(ref) or ours == math.ceil(ref) + 1
    assert ours - ref < 1.01


def test_sample_size_hand_case_and_errors() -> None:
    # 10% → 12%: h = 2·asin√0.12 − 2·asin√0.10, n = 2·((1.95996 + 0.84162)/h)²
    h = 2 * math.asin(math.sqrt(0.12)) - 2 * math.asin(math.sqrt(0.10))
    expected = math.ceil(2 * ((1.959963984540054 + 0.8416212335729143) / h) ** 2)
    assert ex.sample_size_per_arm(0.10, 0.02) == expected == 3835
    assert ex.sample_size_per_arm(0.10, 0.2, relative=True) == expected
    assert ex.sample_size_per_arm(0.10, 0.02, power=0.9) > expected
    for bad in [
        dict(baseline=0.0, mde=0.1),
        dict(baseline=0.5, mde=0.0),
        dict(baseline=0.95, mde=0.1),
        dict(baseline=0.5, mde=2.0, relative=True),
        dict(baseline=0.5, mde=0.1, alpha=0.0),
    ]:
        with pytest.raises(ValueError):
            ex.sample_size_per_arm(**bad)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- table and verdict


def test_experiment_table_hand_case() -> None:
    table = ex.experiment_table(_counts([("a", 100, 20), ("holdout", 100, 10)]))
    a = table.set_index("variant").loc["a"]
    h = table.set_index("variant").loc["holdout"]
    assert bool(h["control"]) and not bool(a["control"])
    assert a["rate"] == 0.2 and h["rate"] == 0.1
    assert a["lift_abs"] == pytest.approx(0.1) and a["lift_rel"] == pytest.approx(1.0)
    assert a["z"] == pytest.approx(0.1 / math.sqrt(0.15 * 0.85 * 0.02))
    assert a["p_value"] == pytest.approx(0.04767, abs=1e-5)
    assert a["p_adjusted"] == a["p_value"]  # one comparison: nothing to correct
    assert math.isnan(h["lift_abs"]) and math.isnan(h["p_value"])
    assert a["prob_best"] + h["prob_best"] == pytest.approx(1.0)
    assert a["prob_best"] > 0.95
    ref = proportion_confint(20, 100, method="wilson")
    assert (a["rate_low"], a["rate_high"]) == pytest.approx(ref)


def test_experiment_table_on_the_psi_experiment() -> None:
    (x1, n1), (x0, n0) = _spector()
    table = ex.experiment_table(_counts([("psi", n1, x1), ("classic", n0, x0)]))
    # no holdout: the control is the first variant given — here 'psi' itself
    assert table["control"].tolist() == [True, False]
    table = ex.experiment_table(_counts([("psi", n1, x1), ("classic", n0, x0)]), control="classic")
    psi = table.set_index("variant").loc["psi"]
    ref_z, ref_p = proportions_ztest([x1, x0], [n1, n0])
    assert psi["z"] == pytest.approx(ref_z) and psi["p_value"] == pytest.approx(ref_p)


def test_control_choice() -> None:
    counts = _counts([("a", 100, 20), ("b", 100, 10)])
    assert ex.experiment_table(counts)["control"].tolist() == [True, False]  # first variant
    table = ex.experiment_table(counts, control="b")
    assert table["control"].tolist() == [False, True]
    with pytest.raises(ValueError, match="control variant 'z'"):
        ex.experiment_table(counts, control="z")
    with pytest.raises(ValueError, match="conversions"):
        ex.experiment_table(counts.drop(columns=["conversions"]))
    assert ex.experiment_table(counts.iloc[0:0]).empty


def test_multiple_arms_are_corrected() -> None:
    counts = _counts([("a", 5000, 290), ("b", 5000, 260), ("c", 5000, 255), ("holdout", 5000, 250)])
    table = ex.experiment_table(counts).set_index("variant")
    raw = table.loc[["a", "b", "c"], "p_value"].to_numpy()
    assert table.loc[["a", "b", "c"], "p_adjusted"].to_numpy() == pytest.approx(
        multipletests(raw, method="holm")[1]
    )
    # a's raw p is below 0.05 but not once three comparisons are accounted for
    assert raw[0] < 0.1
    none = ex.experiment_table(counts, correction="none").set_index("variant")
    assert none.loc["a", "p_adjusted"] == none.loc["a", "p_value"]


def test_verdict_refuses_on_too_little_data() -> None:
    # 20% vs 10% on 100 each: significant (p ≈ 0.048) but far below the needed sample size
    verdict = ex.experiment_verdict(
        ex.experiment_table(_counts([("a", 100, 20), ("holdout", 100, 10)]))
    )
    assert verdict.status == "no_winner" and verdict.winner is None
    (cmp,) = verdict.comparisons
    assert cmp.status == "insufficient"
    assert cmp.reasons == ("too_few_conversions", "below_sample_size")
    assert cmp.required_per_arm == ex.sample_size_per_arm(0.1, 0.2, relative=True)
    assert "too little data" in verdict.text("en") and "3835" in verdict.text("en")
    assert "数据太少" in verdict.text("zh-CN") and "暂无胜者" in verdict.text("zh-CN")
    # no conversions at all in the control: the needed size is unknown
    verdict = ex.experiment_verdict(
        ex.experiment_table(_counts([("a", 500, 30), ("holdout", 500, 0)]))
    )
    assert "no_baseline" in verdict.comparisons[0].reasons


def test_verdict_winner_loser_and_no_difference() -> None:
    big = _counts([("a", 20000, 1300), ("b", 20000, 980), ("holdout", 20000, 1000)])
    verdict = ex.experiment_verdict(ex.experiment_table(big))
    assert verdict.status == "winner" and verdict.winner == "a" and verdict.control == "holdout"
    status = {c.variant: c.status for c in verdict.comparisons}
    assert status == {"a": "winner", "b": "no_difference"}
    assert verdict.text().startswith("Verdict: a is the winner.")
    assert "胜出" in verdict.text("zh-CN")
    worse = _counts([("a", 20000, 700), ("holdout", 20000, 1000)])
    verdict = ex.experiment_verdict(ex.experiment_table(worse))
    assert verdict.status == "no_winner" and verdict.comparisons[0].status == "loser"
    assert "does worse" in verdict.text()
    # enough data, tiny difference: not significant, so no winner
    same = _counts([("a", 20000, 1010), ("holdout", 20000, 1000)])
    verdict = ex.experiment_verdict(ex.experiment_table(same))
    assert verdict.comparisons[0].status == "no_difference"
    assert "no significant difference" in verdict.text()
    with pytest.raises(ValueError, match="locale"):
        verdict.text("fr")  # type: ignore[arg-type]


def test_verdict_empty_and_single() -> None:
    assert ex.experiment_verdict(ex.experiment_table(_counts([]))).status == "empty"
    single = ex.experiment_verdict(ex.experiment_table(_counts([("holdout", 10, 1)])))
    assert single.status == "no_winner" and single.comparisons == ()
    assert "nothing to compare" in single.text()


# ----------------------------------------------------------------------------- counts from events


def test_counts_from_events_hand_case() -> None:
    rows = [
        # enrollment 1: entered (no variant yet), split into a, converted
        (1, "journey.entered", None),
        (1, "journey.step", "a"),
        (1, "journey.converted", "a"),
        # 2: split into holdout, no conversion
        (2, "journey.entered", None),
        (2, "journey.completed", "holdout"),
        # 3: converted before the split, then split into a
        (3, "journey.entered", None),
        (3, "journey.converted", None),
        (3, "journey.step", "a"),
        # 4: never split: not in the experiment
        (4, "journey.entered", None),
        (None, "purchase", None),
    ]
    events = pd.DataFrame(rows, columns=["enrollment_id", "name", "variant"])
    counts = ex.counts_from_events(events)
    assert counts.to_dict("records") == [
        {"variant": "a", "enrollments": 2, "conversions": 2, "holdout": False},
        {"variant": "holdout", "enrollments": 1, "conversions": 0, "holdout": True},
    ]
    assert ex.counts_from_events(empty_events()).empty
    with pytest.raises(ValueError, match="enrollment_id"):
        ex.counts_from_events(events.drop(columns=["enrollment_id"]))


# ----------------------------------------------------------------------------- bandit allocation


def test_floored_shares_and_bucket_weights() -> None:
    shares = ex.floored_shares([0.98, 0.015, 0.005], 0.05)
    assert shares == pytest.approx([0.9, 0.05, 0.05])
    # 0.1 < 0.2 → pinned at 0.2; the other 0.8 shared 2:1
    assert ex.floored_shares([0.6, 0.3, 0.1], 0.2) == pytest.approx([0.8 * 2 / 3, 0.8 / 3, 0.2])
    assert ex.floored_shares([0.5, 0.5], 0.0) == pytest.approx([0.5, 0.5])
    assert ex.floored_shares([0.0, 0.0], 0.1) == pytest.approx([0.5, 0.5])
    with pytest.raises(ValueError, match="floor"):
        ex.floored_shares([0.5, 0.5], 0.6)
    assert ex.bucket_weights([0.9, 0.05, 0.05], 90, 0.05) == [80, 5, 5]  # 4.5 rounds up to 5
    assert ex.bucket_weights([0.5, 0.5], 90) == [45, 45]
    assert ex.bucket_weights([1 / 3] * 3, 100) == [34, 33, 33]
    # a floor of exactly 1/3 cannot give each of three arms ceil(31.67) = 32 of 95 buckets
    assert ex.bucket_weights([1 / 3] * 3, 95, 1 / 3) == [32, 32, 31]
    for shares, space, floor in [([0.97, 0.01, 0.01, 0.01], 80, 0.1), ([0.2, 0.8], 7, 0.3)]:
        weights = ex.bucket_weights(shares, space, floor)
        assert sum(weights) == space
        assert min(weights) >= min(math.ceil(floor * space), space // len(shares))
