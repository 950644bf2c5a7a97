"""Beta posteriors of conversion rates: each arm's probability to be best, and how the bandit
split turns those probabilities into floored shares and whole hash buckets."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import integrate, special, stats

from prefect_journeys.analytics.proportions import check_counts


def _two_arm_exact(a1: float, b1: float, a2: float, b2: float) -> float:
    """P(X2 > X1) for X1 ~ Beta(a1, b1), X2 ~ Beta(a2, b2), ``a2`` a whole number (closed form)."""
    i = np.arange(int(a2), dtype="float64")
    terms = (
        special.betaln(a1 + i, b1 + b2)
        - np.log(b2 + i)
        - special.betaln(1 + i, b2)
        - special.betaln(a1, b1)
    )
    return float(np.clip(np.exp(terms).sum(), 0.0, 1.0))


def _quadrature(alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """P(arm i best) = ∫ f_i(x) ∏_{j≠i} F_j(x) dx, by adaptive quadrature over arm i's mass."""
    k = len(alpha)
    out = np.empty(k)
    means = alpha / (alpha + beta)
    for i in range(k):
        lo, hi = stats.beta.ppf([1e-12, 1 - 1e-12], alpha[i], beta[i])
        others = [j for j in range(k) if j != i]

        a_i, b_i, log_norm = (
            float(alpha[i]),
            float(beta[i]),
            float(special.betaln(alpha[i], beta[i])),
        )
        a_o, b_o = alpha[others], beta[others]

        def integrand(
            x: float,
            a_i: float = a_i,
            b_i: float = b_i,
            log_norm: float = log_norm,
            a_o: np.ndarray = a_o,
            b_o: np.ndarray = b_o,
        ) -> float:  # Beta pdf of arm i × Beta cdfs of the others (plain ufuncs: fast)
            log_pdf = (a_i - 1) * math.log(x) + (b_i - 1) * math.log1p(-x) - log_norm
            return math.exp(log_pdf) * float(np.prod(special.betainc(a_o, b_o, x)))

        breaks = sorted({float(v) for v in means[others] if lo < v < hi})
        value, _ = integrate.quad(
            integrand, lo, hi, points=breaks or None, limit=400, epsabs=1e-11, epsrel=1e-9
        )
        out[i] = value
    return out


def prob_best(conversions: Any, enrollments: Any) -> np.ndarray:
    """Probability that each arm has the highest conversion rate, with Beta(1 + conversions,
    1 + enrollments - conversions) posteriors (a uniform prior).

    Two arms: the exact closed-form sum (Evan Miller's formula). More arms: for each arm the
    one-dimensional integral ``∫ f_i(x) ∏_{j≠i} F_j(x) dx``, by adaptive quadrature (absolute
    error below 1e-9 per arm), renormalised to sum to 1. Deterministic: no sampling.
    """
    x, n = check_counts(conversions, enrollments)
    if x.ndim != 1:
        raise ValueError("prob_best takes one count per arm")
    k = len(x)
    if k == 0:
        return np.empty(0)
    if k == 1:
        return np.ones(1)
    alpha, beta = 1 + x, 1 + n - x
    if k == 2:
        # the sum has alpha terms: put the arm with fewer conversions in the integer slot
        if alpha[1] <= alpha[0]:
            second = _two_arm_exact(alpha[0], beta[0], alpha[1], beta[1])
            return np.array([1 - second, second])
        first = _two_arm_exact(alpha[1], beta[1], alpha[0], beta[0])
        return np.array([first, 1 - first])
    raw = _quadrature(alpha, beta)
    return raw / raw.sum()


# ----------------------------------------------------------------------------- bandit allocation


def floored_shares(probabilities: Any, floor: float) -> np.ndarray:
    """Shares proportional to ``probabilities`` but none below ``floor``: arms under the floor
    get exactly the floor and the rest is shared among the others in proportion, repeated until
    no arm is under it (so every share ≥ floor and they sum to 1)."""
    p = np.asarray(probabilities, dtype="float64")
    k = len(p)
    if k == 0:
        return p
    if floor < 0 or floor * k > 1 + 1e-12:
        raise ValueError(f"floor {floor} × {k} arms must be between 0 and 1")
    total = p.sum()
    p = p / total if total > 0 else np.full(k, 1 / k)
    pinned = np.zeros(k, dtype=bool)
    while True:
        free = ~pinned
        mass = 1 - floor * pinned.sum()
        weight = p[free].sum()
        shares = np.full(k, floor)
        shares[free] = p[free] / weight * mass if weight > 0 else mass / free.sum()
        under = free & (shares < floor - 1e-15)
        if not under.any():
            return shares
        pinned |= under


def bucket_weights(shares: Any, space: int, floor: float = 0.0) -> list[int]:
    """Whole-number weights summing to ``space`` (hash buckets out of 100) closest to
    ``shares·space`` (largest remainders, ties to the earlier arm), each at least
    ``ceil(floor·space)`` when that is possible, so a floored arm never rounds below its floor."""
    s = np.asarray(shares, dtype="float64")
    k = len(s)
    if k == 0 or space <= 0:
        return [0] * k
    minimum = min(math.ceil(floor * space - 1e-9), space // k)
    target = s / s.sum() * space if s.sum() > 0 else np.full(k, space / k)
    weights = np.maximum(np.floor(target).astype(int), minimum)
    remainder = target - np.floor(target)
    while weights.sum() < space:
        gap = np.where(weights < target + 1, remainder, -1.0)
        i = int(np.argmax(gap))
        weights[i] += 1
        remainder[i] = -1.0
    while weights.sum() > space:
        spare = np.where(weights > minimum, weights - target, -np.inf)
        i = int(np.argmax(spare))
        weights[i] -= 1
    return [int(w) for w in weights]


__all__ = ["bucket_weights", "floored_shares", "prob_best"]
