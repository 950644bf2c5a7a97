"""Customer lifetime value: RFM summary, BG/NBD and Gamma-Gamma fitted by maximum likelihood.

* **RFM summary** (as the BG/NBD literature defines it, Fader, Hardie & Lee 2005): orders (see
  :func:`analytics.cohorts.purchases`) are grouped per customer and calendar day (UTC); orders of
  one day are one transaction worth their sum. With ``as_of`` the calibration end (orders on
  later days are ignored; its whole day counts), per customer: ``frequency`` = number of
  *repeat* transaction days (days with orders − 1), ``recency`` = time from the first to the last
  transaction day, ``T`` = time from the first transaction day to the day of ``as_of``,
  ``monetary_value`` = mean value of the repeat transactions (0 without repeats). Times are in
  ``unit`` = ``"days"`` or ``"weeks"`` (days / 7, as in the published CDNOW summary).
* **BG/NBD**: while alive a customer buys as a Poisson process with rate λ ~ Gamma(r, α); after
  each repeat transaction they drop out with probability p ~ Beta(a, b). Fitted by maximum
  likelihood over ``(frequency, recency, T)`` in log-parameter space (BFGS with the analytic
  gradient), with the log-likelihood written with ``gammaln``/``betaln`` and ``logaddexp`` so it
  stays finite for any frequency. It gives ``expected_purchases`` in the next ``t`` units and
  ``probability_alive`` per customer.
* **Gamma-Gamma**: a customer's transaction values are Gamma(p, ν) with ν ~ Gamma(q, v);
  fitted on customers with ``frequency > 0`` and a positive ``monetary_value``; gives the
  conditional expected average transaction value ``(p (v + x m̄)) / (p x + q − 1)``.
* **CLV** over ``months`` months with a monthly discount rate d:
  ``Σ_{i=1..months} E[value] · (E[Y(i·k)] − E[Y((i−1)·k)]) / (1 + d)^i``, k the number of units
  in a month (``days_per_month`` / unit length).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, cast

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from prefect_journeys.analytics.cohorts import purchases, require_columns

Unit = Literal["days", "weeks"]
UNIT_DAYS: dict[str, float] = {"days": 1.0, "weeks": 7.0}
DAYS_PER_MONTH = 365.25 / 12
SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value")
Array = NDArray[np.float64]
Levels = tuple[NDArray[np.float64], NDArray[np.intp]]


def _unit_days(unit: str) -> float:
    if unit not in UNIT_DAYS:
        raise ValueError(f"clv: unit must be 'days' or 'weeks', got {unit!r}")
    return UNIT_DAYS[unit]


def _empty_summary() -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series(dtype=float) for c in SUMMARY_COLUMNS})
    out["frequency"] = out["frequency"].astype("int64")
    out.index.name = "customer_id"
    return out


def rfm_from_transactions(
    transactions: pd.DataFrame, *, as_of: datetime | None = None, unit: Unit = "days"
) -> pd.DataFrame:
    """RFM summary of a ``customer_id``, ``occurred_at``, ``value`` frame (see module docstring).

    ``as_of`` defaults to the last transaction. Indexed by ``customer_id``; columns
    ``frequency`` (int), ``recency``, ``T``, ``monetary_value``.
    """
    require_columns(transactions, ["customer_id", "occurred_at", "value"], "rfm summary")
    seconds = _unit_days(unit) * 86400.0
    day = pd.to_datetime(transactions["occurred_at"]).dt.floor("D")
    if len(day) == 0:
        return _empty_summary()
    end = pd.Timestamp(as_of).floor("D") if as_of is not None else day.max()
    frame = pd.DataFrame(
        {
            "customer_id": transactions["customer_id"],
            "day": day,
            "value": pd.to_numeric(transactions["value"], errors="coerce").fillna(0.0),
        }
    )
    # one transaction per customer and day, sorted by customer then day
    daily = frame.loc[day <= end].groupby(["customer_id", "day"], sort=True)["value"].sum()
    if daily.empty:
        return _empty_summary()
    index = cast(pd.MultiIndex, daily.index)
    codes = np.asarray(index.codes[0])
    days = index.get_level_values("day").to_numpy().astype("datetime64[s]").astype(np.int64)
    values = daily.to_numpy(dtype=float)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(codes)] - 1
    frequency = (ends - starts).astype(np.int64)
    repeat_total = np.add.reduceat(values, starts) - values[starts]
    end_s = int(end.value // 1_000_000_000)  # Timestamp.value is in nanoseconds
    out = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": (days[ends] - days[starts]) / seconds,
            "T": (end_s - days[starts]) / seconds,
            "monetary_value": np.where(frequency > 0, repeat_total / np.maximum(frequency, 1), 0.0),
        },
        index=index.levels[0][codes[starts]],
    )
    out.index.name = "customer_id"
    return out


def rfm_summary(
    events: pd.DataFrame, *, as_of: datetime | None = None, unit: Unit = "days"
) -> pd.DataFrame:
    """RFM summary from the ``purchase`` events of an event frame (orders deduplicated)."""
    orders = purchases(events)
    return rfm_from_transactions(orders, as_of=as_of, unit=unit)


def _as_arrays(*columns: ArrayLike) -> list[Array]:
    arrays = [np.asarray(c, dtype=float).ravel() for c in columns]
    if len({a.shape for a in arrays}) != 1:
        raise ValueError("clv: frequency, recency, T (and values) must have equal lengths")
    if any(not np.isfinite(a).all() for a in arrays):
        raise ValueError("clv: inputs must be finite numbers")
    return arrays


def _check_rft(x: Array, tx: Array, T: Array) -> None:
    if (x < 0).any() or (x != np.round(x)).any():
        raise ValueError("clv: frequency must be non-negative whole numbers")
    if (tx < 0).any() or (tx > T).any():
        raise ValueError("clv: recency must satisfy 0 <= recency <= T")
    if (tx[x == 0] != 0).any():
        raise ValueError("clv: recency must be 0 where frequency is 0")


def _minimize(
    objective: Callable[[Array], tuple[float, Array]],
    start: Array,
    what: str,
    names: tuple[str, ...],
    penalizer: float,
) -> Array:
    """BFGS in log-parameter space, with an optional L2 penalty ``penalizer · Σ θ²``.

    Raises ``ValueError`` when the optimum is not finite: parameters beyond 1e-5..1e5 mean the
    likelihood keeps rising towards a degenerate model (e.g. no heterogeneity between customers).
    """
    if penalizer < 0:
        raise ValueError(f"{what}: penalizer must be >= 0, got {penalizer}")

    def penalized(log_params: Array) -> tuple[float, Array]:
        value, grad = objective(log_params)
        params = np.exp(log_params)
        return value + penalizer * float(params @ params), grad + 2 * penalizer * params**2

    result = minimize(penalized, start, jac=True, method="BFGS", options={"gtol": 1e-8})
    log_params = np.asarray(result.x, dtype=float)
    value, gradient = penalized(log_params)
    shown = ", ".join(f"{n}={p:.4g}" for n, p in zip(names, np.exp(log_params), strict=True))
    if not np.isfinite(value) or np.abs(log_params).max() > np.log(1e5):
        raise ValueError(
            f"{what}: the maximum-likelihood parameters diverge ({shown}): the data do not "
            "identify the model (too little history, or no differences between customers); "
            "use more data or a penalizer > 0"
        )
    if np.abs(gradient).max() > 1e-5:
        raise ValueError(f"{what}: the fit did not converge ({shown}; {result.message})")
    return np.exp(log_params)


def _compress(*columns: Array) -> tuple[list[Array], Array]:
    """Distinct rows of the columns and how many times each occurs (likelihoods are per row)."""
    counts = pd.DataFrame({str(i): c for i, c in enumerate(columns)}).value_counts(sort=False)
    index = counts.index
    unique = [np.asarray(index.get_level_values(i), dtype=float) for i in range(len(columns))]
    return unique, np.asarray(counts, dtype=float)


@dataclass(frozen=True)
class BGNBD:
    """A fitted BG/NBD model: λ ~ Gamma(r, alpha), dropout p ~ Beta(a, b); times in ``unit``."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    customers: int
    unit: str = "days"

    @property
    def params(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}

    def _log_dropout_odds(self, x: Array, tx: Array, T: Array) -> Array:
        """log of ``a/(b+x-1) · ((alpha+T)/(alpha+tx))^(r+x)`` (−inf where ``x == 0``)."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        repeat = x > 0
        bx1 = np.where(repeat, b + x - 1, 1.0)
        odds = np.log(a) - np.log(bx1) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))
        return np.where(repeat, odds, -np.inf)

    def probability_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> Array:
        """P(still active at T | x, t_x, T); 1 for customers without a repeat purchase."""
        x, tx, big_t = _as_arrays(frequency, recency, T)
        return np.asarray(expit(-self._log_dropout_odds(x, tx, big_t)), dtype=float)

    def expected_purchases(
        self, t: float, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> Array:
        """E[number of purchases in (T, T + t] | x, t_x, T] (FHL 2005, eq. 10)."""
        if t < 0:
            raise ValueError(f"clv: the prediction horizon must be >= 0, got {t}")
        x, tx, big_t = _as_arrays(frequency, recency, T)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        z = t / (alpha + big_t + t)
        hyp = hyp2f1(r + x, b + x, a + b + x - 1, z)
        power = np.exp((r + x) * (np.log(alpha + big_t) - np.log(alpha + big_t + t)))
        alive_part = (a + b + x - 1) / (a - 1) * (1 - power * hyp)
        return np.asarray(alive_part * expit(-self._log_dropout_odds(x, tx, big_t)), dtype=float)

    def expected_purchases_new(self, t: ArrayLike) -> Array:
        """E[X(t)]: expected repeat purchases in the first ``t`` units of a new customer."""
        span = np.asarray(t, dtype=float)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        hyp = hyp2f1(r, b, a + b - 1, span / (alpha + span))
        power = (alpha / (alpha + span)) ** r
        return np.asarray((a + b - 1) / (a - 1) * (1 - power * hyp), dtype=float)


def bgnbd_log_likelihood(
    params: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> Array:
    """Per-customer BG/NBD log-likelihood at ``params = (r, alpha, a, b)``."""
    x, tx, big_t = _as_arrays(frequency, recency, T)
    value, _ = _bgnbd_terms(np.asarray(params, dtype=float), x, tx, big_t)
    return value


def _bgnbd_terms(
    params: Array, x: Array, tx: Array, T: Array, levels: Levels | None = None
) -> tuple[Array, Array]:
    """Log-likelihood per row and its gradient (rows × 4) in natural parameters.

    The special functions depend on the frequency only, so they are evaluated once per distinct
    frequency (``levels`` = the distinct values and each row's index into them).
    """
    r, alpha, a, b = params
    xs, at = levels if levels is not None else np.unique(x, return_inverse=True)
    # per distinct frequency
    repeat_s = xs > 0
    bx1_s = np.where(repeat_s, b + xs - 1, 1.0)
    psi_abx = digamma(a + b + xs)
    base_s = gammaln(r + xs) - gammaln(r) + r * np.log(alpha) + betaln(a, b + xs) - betaln(a, b)
    odds_s = np.log(a) - np.log(bx1_s)
    d_r_s = digamma(r + xs) - digamma(r) + np.log(alpha)
    d_a_s = digamma(a + b) - psi_abx
    d_b_s = digamma(b + xs) - digamma(b) + digamma(a + b) - psi_abx
    # per row
    repeat = repeat_s[at]
    rx = r + x
    log_at, log_atx = np.log(alpha + T), np.log(alpha + tx)
    a3 = -rx * log_at
    a4 = np.where(repeat, odds_s[at] - rx * log_atx, -np.inf)
    value = base_s[at] + np.logaddexp(a3, a4)
    s4 = np.where(repeat, expit(a4 - a3), 0.0)
    s3 = 1.0 - s4
    grad = np.column_stack(
        [
            d_r_s[at] - s3 * log_at - s4 * log_atx,
            r / alpha - rx * (s3 / (alpha + T) + s4 / (alpha + tx)),
            d_a_s[at] + s4 / a,
            d_b_s[at] - s4 / bx1_s[at],
        ]
    )
    return value, grad


def fit_bgnbd(
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    *,
    unit: str = "days",
    min_repeat_buyers: int = 10,
    penalizer: float = 0.0,
) -> BGNBD:
    """Maximum-likelihood BG/NBD on an RFM summary; ``ValueError`` when it cannot be fitted.

    ``penalizer`` adds ``penalizer · (r² + alpha² + a² + b²)`` to the mean negative
    log-likelihood (0: plain maximum likelihood, as checked against the published values).
    """
    x, tx, big_t = _as_arrays(frequency, recency, T)
    _check_rft(x, tx, big_t)
    repeaters = int((x > 0).sum())
    if repeaters < min_repeat_buyers:
        raise ValueError(
            f"BG/NBD: {repeaters} customer(s) with repeat purchases, need at least "
            f"{min_repeat_buyers} to fit the model"
        )
    if (big_t <= 0).all():
        raise ValueError("BG/NBD: every customer has T = 0; nothing was observed")
    (ux, utx, ut), weights = _compress(x, tx, big_t)
    total = weights.sum()
    levels = np.unique(ux, return_inverse=True)

    def objective(log_params: Array) -> tuple[float, Array]:
        params = np.exp(log_params)
        value, grad = _bgnbd_terms(params, ux, utx, ut, levels)
        ll = float(weights @ value)
        if not np.isfinite(ll):
            return np.inf, np.zeros(4)
        return -ll / total, -(weights @ grad) * params / total

    params = _minimize(objective, np.zeros(4), "BG/NBD", ("r", "alpha", "a", "b"), penalizer)
    ll = float(weights @ _bgnbd_terms(params, ux, utx, ut, levels)[0])
    r, alpha, a, b = (float(p) for p in params)
    return BGNBD(r, alpha, a, b, ll, len(x), unit)


@dataclass(frozen=True)
class GammaGamma:
    """A fitted Gamma-Gamma spend model (transaction values Gamma(p, ν), ν ~ Gamma(q, v))."""

    p: float
    q: float
    v: float
    log_likelihood: float
    customers: int

    @property
    def params(self) -> dict[str, float]:
        return {"p": self.p, "q": self.q, "v": self.v}

    @property
    def mean_value(self) -> float:
        """The population's expected average transaction value, ``p v / (q − 1)``."""
        return self.p * self.v / (self.q - 1)

    def expected_value(self, frequency: ArrayLike, monetary_value: ArrayLike) -> Array:
        """E[average transaction value | x, m̄]; the population mean where ``x == 0``."""
        x, m = _as_arrays(frequency, monetary_value)
        m = np.where(x > 0, m, 0.0)
        return (self.p * (self.v + x * m)) / (self.p * x + self.q - 1)


def _gamma_gamma_terms(
    params: Array, x: Array, m: Array, levels: Levels | None = None
) -> tuple[Array, Array]:
    """Log-likelihood per row and gradient (rows × 3); special functions once per frequency."""
    p, q, v = params
    xs, at = levels if levels is not None else np.unique(x, return_inverse=True)
    pxs = p * xs
    psi_pxq = digamma(pxs + q)
    base_s = gammaln(pxs + q) - gammaln(pxs) - gammaln(q) + q * np.log(v) + pxs * np.log(xs)
    d_p_s = xs * (psi_pxq - digamma(pxs) + np.log(xs))
    d_q_s = psi_pxq - digamma(q) + np.log(v)
    px = pxs[at]
    log_m = np.log(m)
    vxm = v + x * m
    log_vxm = np.log(vxm)
    value = base_s[at] + (px - 1) * log_m - (px + q) * log_vxm
    grad = np.column_stack(
        [
            d_p_s[at] + x * (log_m - log_vxm),
            d_q_s[at] - log_vxm,
            q / v - (px + q) / vxm,
        ]
    )
    return value, grad


def fit_gamma_gamma(
    frequency: ArrayLike,
    monetary_value: ArrayLike,
    *,
    min_customers: int = 10,
    penalizer: float = 0.0,
) -> GammaGamma:
    """Maximum-likelihood Gamma-Gamma over customers with ``frequency > 0`` and positive value.

    ``penalizer`` as in :func:`fit_bgnbd` (on ``p² + q² + v²``).
    """
    x, m = _as_arrays(frequency, monetary_value)
    use = (x > 0) & (m > 0)
    if int(use.sum()) < min_customers:
        raise ValueError(
            f"Gamma-Gamma: {int(use.sum())} customer(s) with repeat purchases of positive value, "
            f"need at least {min_customers}"
        )
    (ux, um), weights = _compress(x[use], m[use])
    total = weights.sum()
    levels = np.unique(ux, return_inverse=True)

    def objective(log_params: Array) -> tuple[float, Array]:
        params = np.exp(log_params)
        value, grad = _gamma_gamma_terms(params, ux, um, levels)
        ll = float(weights @ value)
        if not np.isfinite(ll):
            return np.inf, np.zeros(3)
        return -ll / total, -(weights @ grad) * params / total

    params = _minimize(objective, np.zeros(3), "Gamma-Gamma", ("p", "q", "v"), penalizer)
    p, q, v = (float(k) for k in params)
    if q <= 1:
        raise ValueError(f"Gamma-Gamma: fitted q = {q:.3g} <= 1 gives an infinite mean spend")
    ll = float(weights @ _gamma_gamma_terms(params, ux, um, levels)[0])
    return GammaGamma(p, q, v, ll, int(use.sum()))


def customer_lifetime_value(
    bgnbd: BGNBD,
    gamma_gamma: GammaGamma,
    summary: pd.DataFrame,
    *,
    months: int = 12,
    monthly_discount: float = 0.01,
    days_per_month: float = DAYS_PER_MONTH,
) -> pd.Series:
    """Discounted expected revenue per customer over ``months`` months (see module docstring)."""
    if months < 0:
        raise ValueError(f"clv: months must be >= 0, got {months}")
    if monthly_discount <= -1:
        raise ValueError(f"clv: monthly_discount must be > -1, got {monthly_discount}")
    if days_per_month <= 0:
        raise ValueError(f"clv: days_per_month must be positive, got {days_per_month}")
    require_columns(summary, list(SUMMARY_COLUMNS), "clv")
    x, tx, big_t = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    value = gamma_gamma.expected_value(x, summary["monetary_value"].to_numpy(dtype=float))
    step = days_per_month / _unit_days(bgnbd.unit)
    clv = np.zeros(len(summary))
    previous = np.zeros(len(summary))
    for month in range(1, months + 1):
        cumulative = bgnbd.expected_purchases(month * step, x, tx, big_t)
        clv += value * (cumulative - previous) / (1 + monthly_discount) ** month
        previous = cumulative
    return pd.Series(clv, index=summary.index, name="clv")


@dataclass(frozen=True)
class CustomerValue:
    """Per-customer RFM, P(alive), expected purchases, expected value and CLV, with the models."""

    customers: pd.DataFrame
    bgnbd: BGNBD
    gamma_gamma: GammaGamma


def customer_value(
    events: pd.DataFrame,
    *,
    as_of: datetime | None = None,
    unit: Unit = "days",
    horizon: float = 30.0,
    months: int = 12,
    monthly_discount: float = 0.01,
    penalizer: float = 0.0,
) -> CustomerValue:
    """Fit both models on the purchases before ``as_of`` and score every purchaser.

    Columns: the RFM summary, ``probability_alive``, ``expected_purchases`` (next ``horizon``
    units), ``expected_value`` (per transaction) and ``clv`` (``months`` months discounted).
    """
    summary = rfm_summary(events, as_of=as_of, unit=unit)
    x, tx, big_t = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    bgnbd = fit_bgnbd(x, tx, big_t, unit=unit, penalizer=penalizer)
    gamma_gamma = fit_gamma_gamma(x, summary["monetary_value"], penalizer=penalizer)
    out = summary.copy()
    out["probability_alive"] = bgnbd.probability_alive(x, tx, big_t)
    out["expected_purchases"] = bgnbd.expected_purchases(horizon, x, tx, big_t)
    out["expected_value"] = gamma_gamma.expected_value(x, summary["monetary_value"])
    out["clv"] = customer_lifetime_value(
        bgnbd, gamma_gamma, summary, months=months, monthly_discount=monthly_discount
    )
    return CustomerValue(out, bgnbd, gamma_gamma)


def sample_bgnbd(
    params: dict[str, float], T: ArrayLike, *, rng: np.random.Generator
) -> pd.DataFrame:
    """Draw ``frequency``, ``recency``, ``T`` for customers observed for ``T`` units each.

    Each customer gets λ ~ Gamma(r, 1/alpha) and p ~ Beta(a, b); repeat purchases arrive as a
    Poisson process and the customer drops out after the J-th, J ~ Geometric(p).
    """
    big_t = np.asarray(T, dtype=float).ravel()
    n = len(big_t)
    lam = rng.gamma(params["r"], 1 / params["alpha"], n)
    p = rng.beta(params["a"], params["b"], n)
    arrivals = rng.poisson(lam * big_t)
    x = np.minimum(rng.geometric(p), arrivals)
    tx = np.zeros(n)
    repeat = x > 0
    tx[repeat] = big_t[repeat] * rng.beta(x[repeat], arrivals[repeat] - x[repeat] + 1)
    return pd.DataFrame({"frequency": x.astype(np.int64), "recency": tx, "T": big_t})


__all__ = [
    "BGNBD",
    "CustomerValue",
    "GammaGamma",
    "bgnbd_log_likelihood",
    "customer_lifetime_value",
    "customer_value",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "rfm_from_transactions",
    "rfm_summary",
    "sample_bgnbd",
]
