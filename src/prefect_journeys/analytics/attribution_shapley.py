"""Shapley-value attribution, exact over every coalition of keys.

Players are the touch keys; a coalition ``S`` is a set of keys. Two characteristic functions:

* ``"conversions"`` (default; ``mta``'s): ``v(S)`` = conversions (revenue) of the converting
  paths whose set of keys is a subset of ``S`` — what ``S`` alone would have produced. The
  Shapley values then sum to the total conversions (revenue) exactly. This game is a sum of
  unanimity games, so each path's credit ends up split equally over its DISTINCT keys; the
  enumeration below computes it the general way all the same.
* ``"conversion_rate"``: ``v(S)`` = conversions / journeys over the paths (converting or null)
  whose key set is a subset of ``S`` — uses the null paths, so a key that appears mostly on
  dying journeys loses credit. The values sum to the overall conversion rate and are rescaled
  to total conversions (revenue: revenue per journey, rescaled to total revenue); a key can get
  negative credit.

``φ_i = Σ_{S ⊆ N∖{i}} |S|! (n−|S|−1)! / n! · (v(S ∪ {i}) − v(S))``, computed with bit masks over
all ``2^n`` coalitions (``n ≤ max_keys``, default 15; more is refused, since the cost doubles
with each key).
"""

from __future__ import annotations

from math import factorial
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from prefect_journeys.analytics.attribution_heuristics import empty_credit
from prefect_journeys.analytics.attribution_paths import Paths

Characteristic = Literal["conversions", "conversion_rate"]
CHARACTERISTICS: tuple[str, ...] = ("conversions", "conversion_rate")
MAX_KEYS = 15

FloatArray = npt.NDArray[np.float64]


def _subset_sums(values: FloatArray, n: int) -> FloatArray:
    """``out[S] = Σ_{T ⊆ S} values[T]`` over bit-mask coalitions (the zeta transform)."""
    out = values.copy()
    for bit in range(n):
        shaped = out.reshape(-1, 2, 1 << bit)
        shaped[:, 1, :] += shaped[:, 0, :]
    return out


def shapley_values(v: FloatArray, n: int) -> FloatArray:
    """Exact Shapley values of the game ``v`` given on all ``2^n`` bit-mask coalitions."""
    masks = np.arange(1 << n)
    sizes = np.zeros(1 << n, dtype=np.int64)
    for bit in range(n):
        sizes += (masks >> bit) & 1
    weight_by_size = np.array(
        [factorial(s) * factorial(n - s - 1) / factorial(n) for s in range(n)], dtype=float
    )
    phi = np.zeros(n)
    for i in range(n):
        without = masks[(masks >> i) & 1 == 0]
        phi[i] = float(
            np.sum(weight_by_size[sizes[without]] * (v[without | (1 << i)] - v[without]))
        )
    return phi


def shapley(
    paths: Paths,
    *,
    characteristic: Characteristic = "conversions",
    max_keys: int = MAX_KEYS,
) -> pd.DataFrame:
    """Conversions and revenue credited per key by their exact Shapley values."""
    if characteristic not in CHARACTERISTICS:
        raise ValueError(
            f"unknown characteristic {characteristic!r}; expected one of {', '.join(CHARACTERISTICS)}"
        )
    touches = paths.touches
    if touches.empty:
        return empty_credit()
    codes, uniques = pd.factorize(touches["key"], sort=True)
    n = len(uniques)
    if n > max_keys:
        raise ValueError(
            f"Shapley attribution is exact over all 2^n coalitions and refuses {n} keys "
            f"(max_keys={max_keys}); use the 'channel' key or the Markov model"
        )
    # Distinct keys per path, then the sum of their bits is the path's key-set mask.
    pairs = pd.DataFrame({"path_id": touches["path_id"].to_numpy(), "code": codes})
    pairs = pairs.drop_duplicates()
    pairs["bit"] = np.left_shift(np.int64(1), pairs["code"].to_numpy(dtype=np.int64))
    path_mask = pairs.groupby("path_id")["bit"].sum()
    outcome = paths.outcomes.reindex(path_mask.index)
    mask = path_mask.to_numpy(dtype=np.int64)
    size = 1 << n

    def by_mask(values: pd.Series) -> FloatArray:
        summed = np.bincount(mask, weights=values.to_numpy(dtype=float), minlength=size)
        return _subset_sums(summed.astype(float), n)

    conversions = by_mask(outcome["conversions"])
    revenue = by_mask(outcome["revenue"])
    if characteristic == "conversion_rate":
        journeys = by_mask(outcome["conversions"] + outcome["nulls"])
        conversions = np.divide(conversions, journeys, out=np.zeros(size), where=journeys > 0)
        revenue = np.divide(revenue, journeys, out=np.zeros(size), where=journeys > 0)
    phi_conv = shapley_values(conversions, n)
    phi_rev = shapley_values(revenue, n)
    if characteristic == "conversion_rate":
        phi_conv = _rescale(phi_conv, paths.total_conversions)
        phi_rev = _rescale(phi_rev, paths.total_revenue)
    credit = pd.DataFrame(
        {"key": [str(k) for k in uniques], "conversions": phi_conv, "revenue": phi_rev}
    )
    return credit[(credit["conversions"] != 0) | (credit["revenue"] != 0)].reset_index(drop=True)


def _rescale(phi: FloatArray, total: float) -> FloatArray:
    s = phi.sum()
    return phi / s * total if s != 0 else np.zeros_like(phi)


__all__ = ["CHARACTERISTICS", "MAX_KEYS", "Characteristic", "shapley", "shapley_values"]
