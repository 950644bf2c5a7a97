"""Data-driven attribution by the Markov removal effect, computed exactly.

The paths define a first-order absorbing Markov chain: a ``(start)`` state, one transient state
per touch key and two absorbing states, ``(conversion)`` and ``(null)``. Every path of weight
``n = conversions + nulls`` contributes ``n`` transitions ``start → k1 → k2 → ... → kL`` and
then ``conversions`` transitions ``kL → (conversion)`` and ``nulls`` transitions
``kL → (null)``; a state's transition probabilities are its transition counts over its total.

With ``Q`` the key-to-key block, ``r`` the key-to-conversion column and ``s`` the start
distribution, the expected visits are ``x = s (I - Q)^-1`` and the probability of converting is
``P = x · r`` — obtained by solving the linear system, not by simulating journeys.

The *removal effect* of key ``k`` is ``RE_k = 1 - P_{-k} / P``, where ``P_{-k}`` is the
conversion probability when every transition into ``k`` goes to ``(null)`` instead. Conversions
are credited in proportion to the removal effects: ``credit_k = RE_k / Σ RE × total``.

Revenue uses the same chain with a value on the conversion transitions: a conversion from key
``c`` is worth ``v_c``, the mean revenue of the conversions whose path ends at ``c``; expected
value ``V = Σ_c x_c r_c v_c``; revenue removal effect ``1 - V_{-k} / V``, normalised to total
revenue the same way. (``ChannelAttribution`` estimates the same quantity by simulation.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from prefect_journeys.analytics.attribution_heuristics import empty_credit
from prefect_journeys.analytics.attribution_paths import Paths

START = "(start)"
CONVERSION = "(conversion)"
NULL = "(null)"

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class MarkovModel:
    """The fitted chain and its removal effects.

    ``keys``: transient states in matrix order. ``start``: start distribution (len K).
    ``transitions``: K × (K + 2) probabilities, columns ``keys + [(conversion), (null)]``.
    ``conversion_value``: ``v_c`` per key (mean revenue of conversions whose path ends there).
    ``conversion_probability``: ``P``. ``removal``: frame indexed by key with
    ``removal_effect``, ``removal_effect_revenue``, ``conversion_probability_without``.
    """

    keys: list[str]
    start: FloatArray
    transitions: FloatArray
    conversion_value: FloatArray
    conversion_probability: float
    expected_value: float
    removal: pd.DataFrame

    def transition_frame(self) -> pd.DataFrame:
        """Non-zero transitions as rows ``from``, ``to``, ``probability`` (with ``(start)``)."""
        targets = [*self.keys, CONVERSION, NULL]
        rows = [(START, self.keys[j], p) for j, p in enumerate(self.start) if p > 0]
        for i, key in enumerate(self.keys):
            rows += [(key, targets[j], p) for j, p in enumerate(self.transitions[i]) if p > 0]
        return pd.DataFrame(rows, columns=["from", "to", "probability"])


def _transition_counts(paths: Paths) -> tuple[list[str], FloatArray, FloatArray, FloatArray]:
    """Keys, start counts (K), transition counts K × (K + 2) and revenue ending at each key."""
    touches = paths.touches
    codes, uniques = pd.factorize(touches["key"], sort=True)
    keys = [str(k) for k in uniques]
    k = len(keys)
    outcome = paths.outcomes.reindex(touches["path_id"])
    conv = outcome["conversions"].to_numpy(dtype=float)
    nulls = outcome["nulls"].to_numpy(dtype=float)
    revenue = outcome["revenue"].to_numpy(dtype=float)
    weight = conv + nulls
    position = touches["position"].to_numpy()
    last = position == touches["length"].to_numpy() - 1
    first = position == 0

    start = np.bincount(codes[first], weights=weight[first], minlength=k).astype(float)
    counts = np.zeros((k, k + 2))
    inner = ~last
    nxt = np.roll(codes, -1)
    np.add.at(counts, (codes[inner], nxt[inner]), weight[inner])
    counts[:, k] += np.bincount(codes[last], weights=conv[last], minlength=k)
    counts[:, k + 1] += np.bincount(codes[last], weights=nulls[last], minlength=k)
    ending_revenue = np.bincount(codes[last], weights=revenue[last], minlength=k).astype(float)
    return keys, start, counts, ending_revenue


def _solve(
    start: FloatArray, q: FloatArray, r: FloatArray, value: FloatArray
) -> tuple[float, float]:
    """Conversion probability and expected value of the absorbing chain."""
    if len(start) == 0:
        return 0.0, 0.0
    visits = np.linalg.solve((np.eye(len(start)) - q).T, start)
    return float(visits @ r), float(visits @ (r * value))


def fit_markov(paths: Paths) -> MarkovModel:
    """Fit the first-order chain on the paths and compute every key's removal effect."""
    keys, start_counts, counts, ending_revenue = _transition_counts(paths)
    k = len(keys)
    totals = counts.sum(axis=1)
    transitions = np.divide(
        counts, totals[:, None], out=np.zeros_like(counts), where=totals[:, None] > 0
    )
    transitions[totals == 0, k + 1] = 1.0  # a key only seen on weightless paths leads nowhere
    start_total = start_counts.sum()
    start = start_counts / start_total if start_total > 0 else start_counts
    ending_conv = counts[:, k]
    value = np.divide(ending_revenue, ending_conv, out=np.zeros(k), where=ending_conv > 0)
    q, r = transitions[:, :k], transitions[:, k]
    p_all, v_all = _solve(start, q, r, value)

    p_without = np.zeros(k)
    v_without = np.zeros(k)
    for i in range(k):
        keep = np.arange(k) != i
        p_without[i], v_without[i] = _solve(
            start[keep], q[np.ix_(keep, keep)], r[keep], value[keep]
        )
    removal = pd.DataFrame(
        {
            "removal_effect": 1.0 - p_without / p_all if p_all > 0 else np.zeros(k),
            "removal_effect_revenue": 1.0 - v_without / v_all if v_all > 0 else np.zeros(k),
            "conversion_probability_without": p_without,
        },
        index=pd.Index(keys, name="key"),
    )
    return MarkovModel(
        keys=keys,
        start=start,
        transitions=transitions,
        conversion_value=value,
        conversion_probability=p_all,
        expected_value=v_all,
        removal=removal,
    )


def _share(effects: FloatArray) -> FloatArray:
    # Removal effects are >= 0 up to rounding; clip so tiny negatives do not flip credit.
    effects = np.clip(effects, 0.0, None)
    total = effects.sum()
    return effects / total if total > 0 else np.zeros_like(effects)


def markov(paths: Paths) -> pd.DataFrame:
    """Conversions and revenue credited per key in proportion to the removal effects."""
    if paths.touches.empty:
        return empty_credit()
    model = fit_markov(paths)
    removal = model.removal
    credit = pd.DataFrame(
        {
            "key": removal.index.to_numpy(),
            "conversions": _share(removal["removal_effect"].to_numpy()) * paths.total_conversions,
            "revenue": _share(removal["removal_effect_revenue"].to_numpy()) * paths.total_revenue,
        }
    )
    return credit[(credit["conversions"] != 0) | (credit["revenue"] != 0)].reset_index(drop=True)


__all__ = ["CONVERSION", "NULL", "START", "MarkovModel", "fit_markov", "markov"]
