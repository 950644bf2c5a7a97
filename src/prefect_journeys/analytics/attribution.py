"""Attribution of conversions and revenue to touchpoints, every model side by side.

Paths come from :mod:`~prefect_journeys.analytics.attribution_paths` (events → one path per
conversion plus null paths); the models live in ``attribution_heuristics`` (first touch, last
touch, linear, time decay, position based), ``attribution_markov`` (exact removal effect) and
``attribution_shapley`` (exact Shapley values). :func:`attribution_table` runs the chosen models
on the same paths into one long table for the dashboard's Attribution page. Definitions:
``docs/metrics.md``, "Attribution".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Connection

from prefect_journeys.analytics.attribution_heuristics import (
    DEFAULT_HALF_LIFE,
    first_touch,
    last_touch,
    linear,
    position_based,
    time_decay,
)
from prefect_journeys.analytics.attribution_markov import fit_markov, markov
from prefect_journeys.analytics.attribution_paths import (
    DEFAULT_CONVERSION_EVENTS,
    DEFAULT_LOOKBACK,
    DEFAULT_REVENUE_EVENTS,
    DEFAULT_TOUCH_EVENTS,
    Paths,
    TouchKey,
    aggregate_paths,
    build_paths,
    paths_from_store,
    paths_from_table,
)
from prefect_journeys.analytics.attribution_shapley import MAX_KEYS, Characteristic, shapley

MODELS: tuple[str, ...] = (
    "first_touch",
    "last_touch",
    "linear",
    "time_decay",
    "position_based",
    "markov",
    "shapley",
)
DEFAULT_MODELS: tuple[str, ...] = MODELS[:-1]  # Shapley is opt-in (exponential in keys)
TABLE_COLUMNS: tuple[str, ...] = (
    "model",
    "key",
    "conversions",
    "revenue",
    "share",
    "revenue_share",
)


def empty_table() -> pd.DataFrame:
    """An attribution table with no rows."""
    dtypes = {"model": "object", "key": "object"}
    return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, "float64")) for c in TABLE_COLUMNS})


def attribution_table(
    paths: Paths,
    *,
    models: Sequence[str] = DEFAULT_MODELS,
    half_life: timedelta = DEFAULT_HALF_LIFE,
    first_weight: float = 0.4,
    last_weight: float = 0.4,
    shapley_characteristic: Characteristic = "conversions",
    shapley_max_keys: int = MAX_KEYS,
) -> pd.DataFrame:
    """Model × key → credited ``conversions`` and ``revenue``, with each key's ``share`` of the
    model's conversions and ``revenue_share`` of its revenue (0 when the total is 0).

    Every model gets a row for every key seen in the paths (0 credit included), so models line
    up; rows are ordered as ``models`` then by key.
    """
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown model(s): {', '.join(unknown)}; expected {', '.join(MODELS)}")
    runners: dict[str, Callable[[Paths], pd.DataFrame]] = {
        "first_touch": first_touch,
        "last_touch": last_touch,
        "linear": linear,
        "time_decay": lambda p: time_decay(p, half_life=half_life),
        "position_based": lambda p: position_based(
            p, first_weight=first_weight, last_weight=last_weight
        ),
        "markov": markov,
        "shapley": lambda p: shapley(
            p, characteristic=shapley_characteristic, max_keys=shapley_max_keys
        ),
    }
    keys = paths.keys
    if not keys or not models:
        return empty_table()
    frames = []
    for model in dict.fromkeys(models):
        credit = runners[model](paths).set_index("key").reindex(keys, fill_value=0.0)
        frame = credit.rename_axis("key").reset_index()
        frame.insert(0, "model", model)
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    for column, share in (("conversions", "share"), ("revenue", "revenue_share")):
        total = table.groupby("model", sort=False)[column].transform("sum")
        table[share] = (table[column] / total.where(total != 0)).fillna(0.0)
    return table[list(TABLE_COLUMNS)]


def attribution_from_store(
    conn: Connection,
    *,
    journey_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    key: TouchKey = "channel",
    lookback: timedelta = DEFAULT_LOOKBACK,
    models: Sequence[str] = DEFAULT_MODELS,
    half_life: timedelta = DEFAULT_HALF_LIFE,
    conversion_events: Sequence[str] = DEFAULT_CONVERSION_EVENTS,
    revenue_events: Sequence[str] = DEFAULT_REVENUE_EVENTS,
    touch_events: Sequence[str] = DEFAULT_TOUCH_EVENTS,
) -> pd.DataFrame:
    """:func:`attribution_table` over the store's paths for a journey and period (see
    :func:`~prefect_journeys.analytics.attribution_paths.paths_from_store`)."""
    paths = paths_from_store(
        conn,
        journey_id=journey_id,
        since=since,
        until=until,
        key=key,
        lookback=lookback,
        conversion_events=conversion_events,
        revenue_events=revenue_events,
        touch_events=touch_events,
    )
    return attribution_table(paths, models=models, half_life=half_life)


__all__ = [
    "DEFAULT_MODELS",
    "MODELS",
    "TABLE_COLUMNS",
    "Paths",
    "aggregate_paths",
    "attribution_from_store",
    "attribution_table",
    "build_paths",
    "empty_table",
    "first_touch",
    "fit_markov",
    "last_touch",
    "linear",
    "markov",
    "paths_from_store",
    "paths_from_table",
    "position_based",
    "shapley",
    "time_decay",
]
