"""RFM summary, BG/NBD, Gamma-Gamma and CLV against the CDNOW data shipped in ``lifetimes``.

Oracles: the published CDNOW figures (Fader, Hardie & Lee 2005: r=0.243, α=4.414, a=0.793,
b=2.426, LL=−9582.4; Fader & Hardie's Gamma-Gamma note: p=6.25, q=3.74, v=15.44), ``lifetimes``'
own fit and predictions, and ``lifetimes.utils.summary_data_from_transaction_data``.
"""

from __future__ import annotations

import warnings
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from tests.analytics.cdnow import CALIBRATION_END, purchase_events, transactions

from prefect_journeys.analytics.clv import (
    BGNBD,
    _bgnbd_terms,
    bgnbd_log_likelihood,
    customer_lifetime_value,
    customer_value,
    fit_bgnbd,
    fit_gamma_gamma,
    rfm_from_transactions,
    rfm_summary,
    sample_bgnbd,
)

lifetimes = pytest.importorskip("lifetimes")
datasets = pytest.importorskip("lifetimes.datasets")

PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "v": 15.44}


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    """The published CDNOW calibration summary (weeks) with average repeat spend."""
    return datasets.load_cdnow_summary_data_with_monetary_value()


@pytest.fixture(scope="module")
def ours(cdnow: pd.DataFrame) -> BGNBD:
    return fit_bgnbd(cdnow["frequency"], cdnow["recency"], cdnow["T"], unit="weeks")


@pytest.fixture(scope="module")
def reference(cdnow: pd.DataFrame) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lifetimes.BetaGeoFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


def _rfm(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))  # type: ignore[return-value]


def test_rfm_summary_of_cdnow_sample_equals_lifetimes_and_the_published_summary(
    cdnow: pd.DataFrame,
) -> None:
    events = purchase_events(sample=True)
    events = pd.concat([events, events.iloc[:50]])  # re-sent orders: deduplicated by order id
    summary = rfm_summary(events, as_of=CALIBRATION_END, unit="weeks")
    tx = transactions(sample=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = lifetimes.utils.summary_data_from_transaction_data(
            tx,
            "customer_id",
            "occurred_at",
            "value",
            observation_period_end=CALIBRATION_END,
            freq="D",
            freq_multiplier=7,
        )
    summary = summary.loc[ref.index]
    assert len(summary) == 2357
    np.testing.assert_array_equal(summary["frequency"], ref["frequency"])
    for column in ("recency", "T", "monetary_value"):
        np.testing.assert_allclose(summary[column], ref[column], rtol=1e-12, err_msg=column)
    # the published file rounds to two decimals; its ids are the sample's ids
    published = cdnow.set_axis(cdnow.index.astype(str))
    summary = summary.loc[published.index]
    np.testing.assert_array_equal(summary["frequency"], published["frequency"])
    for column in ("recency", "T", "monetary_value"):
        np.testing.assert_allclose(summary[column], published[column], atol=0.005 + 1e-9)


def test_rfm_hand_computed_days_and_same_day_orders_merge() -> None:
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b", "c"],
            "occurred_at": pd.to_datetime(
                [
                    "2026-01-01 10:00",
                    "2026-01-01 18:00",
                    "2026-01-04 00:00",
                    "2026-01-11 23:59",
                    "2026-01-05 08:00",
                    "2026-01-20 00:00",
                ]
            ),
            "value": [5.0, 5.0, 20.0, 40.0, 7.0, 1.0],
        }
    )
    summary = rfm_from_transactions(tx, as_of=datetime(2026, 1, 11, 12))
    assert summary.index.tolist() == ["a", "b"]  # c bought after as_of
    assert summary.loc["a"].tolist() == [2, 10.0, 10.0, 30.0]  # Jan 1 (10) then 20 and 40
    assert summary.loc["b"].tolist() == [0, 0.0, 6.0, 0.0]
    assert rfm_from_transactions(tx.iloc[:0]).empty


def test_bgnbd_on_cdnow_equals_published_values_and_lifetimes(
    ours: BGNBD, reference: object
) -> None:
    for name, value in PUBLISHED_BGNBD.items():
        assert ours.params[name] == pytest.approx(value, abs=5e-4), name  # rounding of 3 dp
    for name, value in reference.params_.items():  # type: ignore[attr-defined]
        assert ours.params[name] == pytest.approx(value, rel=1e-5), name
    assert ours.log_likelihood == pytest.approx(-9582.4, abs=0.05)


def test_bgnbd_predictions_and_probability_alive_equal_lifetimes(
    cdnow: pd.DataFrame, ours: BGNBD, reference: object
) -> None:
    x, tx, T = _rfm(cdnow)
    for t in (1.0, 39.0, 52.0):
        mine = ours.expected_purchases(t, x, tx, T)
        ref = reference.conditional_expected_number_of_purchases_up_to_time(t, x, tx, T)  # type: ignore[attr-defined]
        np.testing.assert_allclose(mine, ref, rtol=1e-5)
    alive = reference.conditional_probability_alive(x, tx, T)  # type: ignore[attr-defined]
    np.testing.assert_allclose(ours.probability_alive(x, tx, T), alive, atol=1e-6)
    assert (ours.probability_alive(x, tx, T)[x == 0] == 1.0).all()
    horizon = np.array([1.0, 10.0, 39.0, 78.0])
    new = reference.expected_number_of_purchases_up_to_time(horizon)  # type: ignore[attr-defined]
    np.testing.assert_allclose(ours.expected_purchases_new(horizon), new, rtol=1e-5)
    # FHL 2005: a customer with x=2, t_x=30.43, T=38.86 is expected to buy 1.226 times in 39 wks
    assert ours.expected_purchases(39, [2], [30.43], [38.86])[0] == pytest.approx(1.226, abs=1e-3)


def test_bgnbd_gradient_matches_finite_differences_and_large_frequency_is_finite() -> None:
    params = np.array([0.24, 4.4, 0.79, 2.4])
    x = np.array([0.0, 1.0, 3.0, 500.0, 5000.0])
    tx = np.array([0.0, 2.0, 20.0, 38.0, 38.5])
    T = np.array([39.0, 39.0, 39.0, 39.0, 39.0])
    value, grad = _bgnbd_terms(params, x, tx, T)
    assert np.isfinite(value).all() and np.isfinite(grad).all()
    for i in range(4):
        step = np.zeros(4)
        step[i] = 1e-6 * params[i]
        up = bgnbd_log_likelihood(params + step, x, tx, T)
        down = bgnbd_log_likelihood(params - step, x, tx, T)
        np.testing.assert_allclose(grad[:, i], (up - down) / (2 * step[i]), rtol=1e-5, atol=1e-6)
    # against the textbook product form where it does not overflow (x <= 3)
    r, alpha, a, b = params
    from scipy.special import beta, gamma

    direct = []
    for xi, ti, Ti in zip(x[:3], tx[:3], T[:3], strict=True):
        head = gamma(r + xi) * alpha**r / gamma(r)
        like = beta(a, b + xi) / beta(a, b) * head / (alpha + Ti) ** (r + xi)
        if xi > 0:
            like += beta(a + 1, b + xi - 1) / beta(a, b) * head / (alpha + ti) ** (r + xi)
        direct.append(np.log(like))
    np.testing.assert_allclose(value[:3], direct, rtol=1e-12)


def test_gamma_gamma_on_cdnow_equals_published_values_and_lifetimes(
    cdnow: pd.DataFrame, ours: BGNBD, reference: object
) -> None:
    model = fit_gamma_gamma(cdnow["frequency"], cdnow["monetary_value"])
    assert model.customers == 946
    for name, value in PUBLISHED_GG.items():
        assert model.params[name] == pytest.approx(value, abs=0.01), name
    repeat = cdnow[cdnow["frequency"] > 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = lifetimes.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    for name, value in ref.params_.items():
        assert model.params[name] == pytest.approx(value, rel=1e-5), name
    expected = ref.conditional_expected_average_profit(cdnow["frequency"], cdnow["monetary_value"])
    np.testing.assert_allclose(
        model.expected_value(cdnow["frequency"], cdnow["monetary_value"]), expected, rtol=1e-6
    )
    # CLV: lifetimes counts 4.345 weeks in a month
    clv = customer_lifetime_value(
        ours, model, cdnow, months=12, monthly_discount=0.01, days_per_month=7 * 4.345
    )
    ref_clv = ref.customer_lifetime_value(
        reference,
        cdnow["frequency"],
        cdnow["recency"],
        cdnow["T"],
        cdnow["monetary_value"],
        time=12,
        discount_rate=0.01,
        freq="W",
    )
    np.testing.assert_allclose(clv, ref_clv, rtol=1e-5)


def test_fit_recovers_parameters_sampled_from_the_model() -> None:
    truth = {"r": 0.5, "alpha": 8.0, "a": 0.8, "b": 3.0}
    sample = sample_bgnbd(truth, np.full(40_000, 52.0), rng=np.random.default_rng(7))
    model = fit_bgnbd(*_rfm(sample), unit="weeks")
    for name, value in truth.items():
        assert model.params[name] == pytest.approx(value, rel=0.15), name
    # the sampler agrees with the model's E[X(T)] (3 standard errors)
    mean, se = sample["frequency"].mean(), sample["frequency"].std() / np.sqrt(len(sample))
    expected = BGNBD(**truth, log_likelihood=0.0, customers=0).expected_purchases_new(52.0)
    assert abs(mean - expected) < 3 * se


def test_customer_value_end_to_end_on_cdnow_events(cdnow: pd.DataFrame, ours: BGNBD) -> None:
    result = customer_value(
        purchase_events(sample=True), as_of=CALIBRATION_END, unit="weeks", horizon=39.0
    )
    table = result.customers
    assert len(table) == 2357
    assert result.bgnbd.params == pytest.approx(ours.params, rel=1e-3)  # days not rounded
    assert {"probability_alive", "expected_purchases", "expected_value", "clv"} <= set(table)
    assert table["clv"].ge(0).all() and table["probability_alive"].between(0, 1).all()
    x, tx, T = _rfm(table)
    np.testing.assert_allclose(
        table["expected_purchases"], result.bgnbd.expected_purchases(39.0, x, tx, T)
    )


def test_fits_refuse_too_little_data_and_bad_input() -> None:
    with pytest.raises(ValueError, match="repeat purchases"):
        fit_bgnbd([0, 0, 1], [0, 0, 1], [5, 5, 5])
    with pytest.raises(ValueError, match="recency"):
        fit_bgnbd([1] * 20, [6] * 20, [5] * 20)
    with pytest.raises(ValueError, match="frequency"):
        fit_bgnbd([-1] * 20, [0] * 20, [5] * 20)
    with pytest.raises(ValueError, match="equal lengths"):
        fit_bgnbd([1, 2], [1], [3, 3])
    with pytest.raises(ValueError, match="Gamma-Gamma"):
        fit_gamma_gamma([1, 0], [10.0, 0.0])
    with pytest.raises(ValueError, match="unit"):
        rfm_summary(purchase_events(sample=True).iloc[:10], unit="months")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="repeat purchases"):
        customer_value(purchase_events(sample=True).iloc[:0])


def test_a_degenerate_likelihood_is_refused() -> None:
    # everyone bought exactly 10 times and is still buying: no heterogeneity, no dropout, so the
    # likelihood keeps rising as r, alpha -> infinity and a -> 0
    x = np.full(200, 10.0)
    tx = np.linspace(40.0, 52.0, 200)
    T = np.full(200, 52.0)
    with pytest.raises(ValueError, match="diverge"):
        fit_bgnbd(x, tx, T, unit="weeks")
    with pytest.raises(ValueError, match="penalizer"):
        fit_bgnbd(x, tx, T, penalizer=-1.0)


def test_penalized_gamma_gamma_equals_lifetimes(cdnow: pd.DataFrame) -> None:
    model = fit_gamma_gamma(cdnow["frequency"], cdnow["monetary_value"], penalizer=0.001)
    plain = fit_gamma_gamma(cdnow["frequency"], cdnow["monetary_value"])
    assert sum(v**2 for v in model.params.values()) < sum(v**2 for v in plain.params.values())
    repeat = cdnow[cdnow["frequency"] > 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = lifetimes.GammaGammaFitter(penalizer_coef=0.001)
        ref.fit(repeat["frequency"], repeat["monetary_value"])
    for name, value in ref.params_.items():
        assert model.params[name] == pytest.approx(value, rel=1e-5), name


def test_rfm_of_orders_all_after_as_of_is_empty() -> None:
    tx = pd.DataFrame(
        {"customer_id": ["a"], "occurred_at": [pd.Timestamp("2026-02-01")], "value": [1.0]}
    )
    assert rfm_from_transactions(tx, as_of=datetime(2026, 1, 1)).empty


def test_rfm_in_days_equals_lifetimes_on_its_example_transaction_log() -> None:
    raw = datasets.load_transaction_data()
    tx = pd.DataFrame(
        {
            "customer_id": raw["id"].astype(str),
            "occurred_at": pd.to_datetime(raw["date"]),
            "value": 1.0,
        }
    )
    as_of = datetime(2014, 12, 31)
    ours = rfm_from_transactions(tx, as_of=as_of, unit="days")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = lifetimes.utils.summary_data_from_transaction_data(
            tx, "customer_id", "occurred_at", observation_period_end=as_of, freq="D"
        )
    ours = ours.loc[ref.index]
    assert len(ours) == len(ref) > 1000
    for column in ("frequency", "recency", "T"):
        np.testing.assert_array_equal(ours[column].to_numpy(dtype=float), ref[column], column)
