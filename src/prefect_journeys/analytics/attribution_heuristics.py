"""Rule-based attribution: each converting path splits its conversions and revenue over its
touches by fixed weights that sum to 1, and credit is summed per key.

* first touch — all to the first touch; last touch — all to the last;
* linear — ``1/n`` to each of the path's ``n`` touches (a key that appears twice, not in a row,
  gets two shares: ``mta``'s ``linear(share="proportional")``);
* time decay — weight ``2^(-age/half_life)`` (age = time from touch to conversion), normalised
  over the path;
* position based — ``first_weight`` to the first touch, ``last_weight`` to the last, the rest
  spread evenly over the middle touches; one touch gets everything, two touches split in the
  ratio ``first_weight : last_weight`` (50/50 for the default 40/20/40).

Every function returns a credit frame: ``key``, ``conversions``, ``revenue`` (one row per key
that gets credit, sorted by key); the columns sum to the paths' total conversions and revenue.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd

from prefect_journeys.analytics.attribution_paths import Paths

DEFAULT_HALF_LIFE = timedelta(days=7)


def empty_credit() -> pd.DataFrame:
    """A credit frame with no rows."""
    return pd.DataFrame(
        {
            "key": pd.Series(dtype="object"),
            "conversions": pd.Series(dtype="float64"),
            "revenue": pd.Series(dtype="float64"),
        }
    )


def _outcome_rows(paths: Paths) -> npt.NDArray[np.intp]:
    """Row of each touch's path in ``paths.outcomes``, -1 when the path has none there."""
    index = paths.outcomes.index
    path_id = paths.touches["path_id"].to_numpy()
    if len(index) and index.is_monotonic_increasing and index.is_unique:  # as built
        ids = index.to_numpy()
        # Built paths: touches sorted by path and one outcome per path, so a touch's row is
        # the number of paths started before it; checked, else a binary search.
        at = np.cumsum(np.r_[True, path_id[1:] != path_id[:-1]]) - 1 if len(path_id) else path_id
        if len(at) and at[-1] < len(ids) and (ids[at] == path_id).all():
            return at
        at = np.minimum(np.searchsorted(ids, path_id), len(ids) - 1)
        return np.where(ids[at] == path_id, at, -1)
    return index.get_indexer(pd.Index(path_id))


def credit_by_weight(paths: Paths, weights: npt.ArrayLike) -> pd.DataFrame:
    """Credit per key given each touch's share of its path (shares of a path sum to 1)."""
    touches = paths.touches
    if touches.empty:
        return empty_credit()
    w = np.asarray(weights, dtype=float)
    # Each touch's path outcome by position (NaN for a path without outcome: no credit).
    at = _outcome_rows(paths)  # -1 picks the NaN appended below: no outcome, no credit
    conversions = np.append(paths.outcomes["conversions"].to_numpy(dtype=float), np.nan)[at]
    revenue = np.append(paths.outcomes["revenue"].to_numpy(dtype=float), np.nan)[at]
    # Only touches that get credit are grouped (first/last touch: one per converting path),
    # and their keys are taken as they are stored (no conversion of every key to Python str).
    keep = (conversions > 0) & (w != 0)
    frame = pd.DataFrame(
        {
            "key": touches["key"].array[keep],
            "conversions": w[keep] * conversions[keep],
            "revenue": w[keep] * revenue[keep],
        }
    )
    credit = frame.groupby("key", sort=True, as_index=False)
    return credit[["conversions", "revenue"]].sum()


def _positions(paths: Paths) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    return (
        paths.touches["position"].to_numpy(dtype=np.int64),
        paths.touches["length"].to_numpy(dtype=np.int64),
    )


def first_touch(paths: Paths) -> pd.DataFrame:
    """All of a conversion's credit to the first touch of its path."""
    position, _ = _positions(paths)
    return credit_by_weight(paths, (position == 0).astype(float))


def last_touch(paths: Paths) -> pd.DataFrame:
    """All of a conversion's credit to the last touch of its path."""
    position, length = _positions(paths)
    return credit_by_weight(paths, (position == length - 1).astype(float))


def linear(paths: Paths) -> pd.DataFrame:
    """An equal share to every touch of the path."""
    _, length = _positions(paths)
    return credit_by_weight(paths, 1.0 / np.maximum(length, 1))


def position_based(
    paths: Paths, *, first_weight: float = 0.4, last_weight: float = 0.4
) -> pd.DataFrame:
    """``first_weight`` to the first touch, ``last_weight`` to the last, the rest evenly to the
    touches between; a one-touch path gives it everything, a two-touch path splits
    ``first_weight : last_weight``."""
    if first_weight < 0 or last_weight < 0 or first_weight + last_weight > 1:
        raise ValueError(
            "position weights must be >= 0 with first_weight + last_weight <= 1, "
            f"got {first_weight} and {last_weight}"
        )
    position, length = _positions(paths)
    first = position == 0
    last = position == length - 1
    middle_share = (1.0 - first_weight - last_weight) / np.maximum(length - 2, 1)
    weights = np.where(first, first_weight, np.where(last, last_weight, middle_share))
    ends = first_weight + last_weight
    two = length == 2
    if ends > 0:
        weights = np.where(two & first, first_weight / ends, weights)
        weights = np.where(two & last, last_weight / ends, weights)
    else:
        weights = np.where(two, 0.5, weights)
    weights = np.where(length == 1, 1.0, weights)
    return credit_by_weight(paths, weights)


def time_decay(paths: Paths, *, half_life: timedelta = DEFAULT_HALF_LIFE) -> pd.DataFrame:
    """Weight ``2^(-age/half_life)`` per touch (age = touch to conversion), normalised per
    path: a touch one half-life older than another gets half its credit."""
    seconds = half_life.total_seconds()
    if seconds <= 0:
        raise ValueError(f"half_life must be positive, got {half_life}")
    touches = paths.touches
    if touches.empty:
        return empty_credit()
    age = touches["age"].to_numpy(dtype=float)
    if np.isnan(age).any():
        raise ValueError("time decay needs touch times; these paths have none (ages are NaN)")
    # Relative to the path's youngest touch, so weights never underflow to 0/0.
    youngest = touches.groupby("path_id")["age"].transform("min").to_numpy(dtype=float)
    raw = np.exp2(-(age - youngest) / seconds)
    total = pd.Series(raw).groupby(touches["path_id"].to_numpy()).transform("sum").to_numpy()
    return credit_by_weight(paths, raw / total)


__all__ = [
    "DEFAULT_HALF_LIFE",
    "credit_by_weight",
    "empty_credit",
    "first_touch",
    "last_touch",
    "linear",
    "position_based",
    "time_decay",
]
