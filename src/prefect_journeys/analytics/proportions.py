"""Two proportions: conversion-rate intervals, lift intervals, the z-test, corrections for
several comparisons, and the sample size a test needs. Arrays in, arrays out (NaN where a figure
is undefined); definitions in ``docs/metrics.md`` ("Experiments")."""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from scipy import stats

Correction = Literal["holm", "bonferroni", "none"]


def check_counts(conversions: Any, enrollments: Any) -> tuple[np.ndarray, np.ndarray]:
    """Counts as float arrays; a clear ``ValueError`` for mismatched, negative or impossible
    (more conversions than enrollments) counts."""
    x = np.asarray(conversions, dtype="float64")
    n = np.asarray(enrollments, dtype="float64")
    if x.shape != n.shape:
        raise ValueError("conversions and enrollments must have the same length")
    if np.any(n < 0) or np.any(x < 0):
        raise ValueError("conversions and enrollments cannot be negative")
    if np.any(x > n):
        raise ValueError("conversions cannot exceed enrollments")
    return x, n


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return float(stats.norm.ppf(0.5 + confidence / 2))


# ----------------------------------------------------------------------------- intervals and tests


def wilson_interval(
    conversions: Any, enrollments: Any, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a conversion rate (arrays in, arrays out; NaN where n = 0).

    Wilson, not Wald: at the low rates and small arms typical of marketing the Wald interval
    ``p ± z·sqrt(p(1-p)/n)`` undercovers and collapses to a point at 0 conversions.
    """
    x, n = check_counts(conversions, enrollments)
    z = _z(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
    high = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    return low, high


def newcombe_interval(
    conv: Any, n: Any, conv_control: Any, n_control: Any, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Interval for the difference of rates ``p - p_control`` (Newcombe's hybrid score method,
    built from the two Wilson intervals; NaN where an arm is empty)."""
    x1, n1 = check_counts(conv, n)
    x0, n0 = check_counts(conv_control, n_control)
    l1, u1 = wilson_interval(x1, n1, confidence)
    l0, u0 = wilson_interval(x0, n0, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p0 = x1 / n1, x0 / n0
    d = p1 - p0
    low = d - np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    high = d + np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    return low, high


def ratio_interval(
    conv: Any, n: Any, conv_control: Any, n_control: Any, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Interval for the relative lift ``p / p_control - 1`` (Katz log method on the risk ratio;
    NaN when either arm has no conversions or is empty)."""
    x1, n1 = check_counts(conv, n)
    x0, n0 = check_counts(conv_control, n_control)
    z = _z(confidence)
    ok = (x1 > 0) & (x0 > 0) & (n1 > 0) & (n0 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_rr = np.log((x1 / n1) / (x0 / n0))
        se = np.sqrt(1 / x1 - 1 / n1 + 1 / x0 - 1 / n0)
        low = np.where(ok, np.exp(log_rr - z * se) - 1, np.nan)
        high = np.where(ok, np.exp(log_rr + z * se) - 1, np.nan)
    return low, high


def two_proportion_ztest(
    conv: Any, n: Any, conv_control: Any, n_control: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided z-test of ``p = p_control`` with the pooled variance: ``(z, p-value)``.

    ``z = (p - p0) / sqrt(P(1-P)(1/n + 1/n0))`` with ``P`` the pooled rate. NaN when an arm is
    empty or the pooled rate is 0 or 1 (no variation to test).
    """
    x1, n1 = check_counts(conv, n)
    x0, n0 = check_counts(conv_control, n_control)
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (x1 + x0) / (n1 + n0)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
        z = (x1 / n1 - x0 / n0) / se
    valid = (n1 > 0) & (n0 > 0) & (se > 0)
    z = np.where(valid, z, np.nan)
    p = np.where(valid, 2 * stats.norm.sf(np.abs(z)), np.nan)
    return z, p


def adjust_pvalues(pvalues: Any, method: Correction = "holm") -> np.ndarray:
    """Family-wise error correction for several comparisons against one control.

    ``holm`` (step-down, never less powerful than Bonferroni), ``bonferroni`` (``m·p``) or
    ``none``. NaNs are left out of the family and stay NaN.
    """
    p = np.asarray(pvalues, dtype="float64")
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return out
    valid = p[ok]
    if method == "none":
        adjusted = valid
    elif method == "bonferroni":
        adjusted = np.minimum(valid * m, 1.0)
    elif method == "holm":
        order = np.argsort(valid, kind="stable")
        scaled = valid[order] * (m - np.arange(m))
        stepped = np.minimum(np.maximum.accumulate(scaled), 1.0)
        adjusted = np.empty(m)
        adjusted[order] = stepped
    else:
        raise ValueError(f"unknown correction {method!r}: use holm, bonferroni or none")
    out[ok] = adjusted
    return out


# ----------------------------------------------------------------------------- planning


def sample_size_per_arm(
    baseline: float,
    mde: float,
    *,
    relative: bool = False,
    alpha: float = 0.05,
    power: float = 0.8,
) -> int:
    """Enrollments per arm (equal arms) for a two-sided test at ``alpha`` to detect, with
    ``power``, a change from ``baseline`` to ``baseline + mde`` (``baseline·(1 + mde)`` when
    ``relative``).

    Normal approximation on the arcsine-transformed rates (Cohen's effect size
    ``h = 2·asin√p1 − 2·asin√p0``): ``n = 2·((z_{1−α/2} + z_{power}) / h)²``, rounded up — the
    figure statsmodels' ``NormalIndPower`` gives for ``proportion_effectsize``.
    """
    if not 0 < baseline < 1:
        raise ValueError(f"baseline rate must be between 0 and 1 (exclusive), got {baseline}")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"alpha and power must be between 0 and 1, got {alpha} and {power}")
    if mde == 0:
        raise ValueError("the minimum detectable effect cannot be 0")
    target = baseline * (1 + mde) if relative else baseline + mde
    if not 0 < target < 1:
        kind = "relative" if relative else "absolute"
        raise ValueError(
            f"baseline {baseline} with a {kind} effect of {mde} gives a rate of {target:.4g},"
            " outside (0, 1)"
        )
    h = 2 * math.asin(math.sqrt(target)) - 2 * math.asin(math.sqrt(baseline))
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return math.ceil(2 * (z / h) ** 2 - 1e-9)


__all__ = [
    "Correction",
    "adjust_pvalues",
    "newcombe_interval",
    "ratio_interval",
    "sample_size_per_arm",
    "two_proportion_ztest",
    "wilson_interval",
]
