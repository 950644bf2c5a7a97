"""Small pure helpers behind the analytics pages (Experiments, Attribution, Cohorts & CLV and the
Journeys additions): selecting rows of the analytics tables for the sidebar's choice, and
shaping them for charts. No data loading and no Streamlit here."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

TOP_CUSTOMERS = 20  # rows of the "top customers by CLV" table


def select_dims(
    table: pd.DataFrame, *, channel: str | None = None, variant: str | None = None
) -> pd.DataFrame:
    """The rows of a table grouped by ``channel``/``variant`` that match the chosen ones, with
    those key columns dropped (a ``None`` choice is not a key and keeps the table as it is)."""
    out = table
    for column, value in (("channel", channel), ("variant", variant)):
        if value is None:
            continue
        if column not in out.columns:
            raise ValueError(f"table has no {column!r} column to select {value!r} from")
        out = out[out[column] == value].drop(columns=column)
    return out.reset_index(drop=True)


def dims(channel: str | None, variant: str | None) -> tuple[str, ...]:
    """The ``by=`` dimensions of the step statistics for the chosen channel and variant."""
    return tuple(d for d, v in (("channel", channel), ("variant", variant)) if v is not None)


def keep_variant(events: pd.DataFrame, variant: str | None) -> pd.DataFrame:
    """The events of the enrollments that were assigned ``variant`` (all events without one)."""
    if variant is None or events.empty:
        return events
    for column in ("variant", "enrollment_id"):
        if column not in events.columns:
            raise ValueError(f"events frame is missing column {column!r}")
    chosen = events.loc[events["variant"] == variant, "enrollment_id"].dropna().unique()
    return events[events["enrollment_id"].isin(chosen)].reset_index(drop=True)


def error_bars(table: pd.DataFrame) -> pd.DataFrame:
    """An experiment table's rate with the distances to its interval ends (for error bars)."""
    out = table[["variant", "holdout", "rate", "rate_low", "rate_high"]].copy()
    out["above"] = out["rate_high"] - out["rate"]
    out["below"] = out["rate"] - out["rate_low"]
    return out


def heatmap(rates: pd.DataFrame) -> pd.DataFrame:
    """Retention rates (cohort × month offset) with cohorts as text, for a heatmap."""
    out = rates.copy()
    out.index = [str(c) for c in out.index]
    out.index.name = "cohort"
    out.columns = [int(c) for c in out.columns]
    return out


def top_customers(customers: pd.DataFrame, n: int = TOP_CUSTOMERS) -> pd.DataFrame:
    """The ``n`` customers with the highest predicted CLV: their id and model figures only."""
    if n < 0:
        raise ValueError(f"n must be a non-negative number of customers, got {n}")
    columns = ["clv", "probability_alive", "expected_purchases", "frequency", "monetary_value"]
    out = customers[[c for c in columns if c in customers.columns]]
    out = out.sort_values("clv", ascending=False, kind="stable").head(n)
    return out.rename_axis("customer_id").reset_index()


def duration(seconds: float | None) -> str:
    """Seconds as a short human duration: ``45s``, ``12m``, ``3.5h``, ``2.1d`` ("—" for none)."""
    if seconds is None or not np.isfinite(float(seconds)):
        return "—"
    value = float(seconds)
    if value < 60:
        return f"{value:.0f}s"
    if value < 3600:
        return f"{value / 60:.0f}m"
    if value < 86400:
        return f"{value / 3600:.1f}h"
    return f"{value / 86400:.1f}d"


def first_finite(values: Sequence[float] | pd.Series) -> float | None:
    """The first finite value (``None`` when there is none): a card's figure or a dash."""
    for value in values:
        if value is not None and np.isfinite(float(value)):
            return float(value)
    return None


__all__ = [
    "TOP_CUSTOMERS",
    "dims",
    "duration",
    "error_bars",
    "first_finite",
    "heatmap",
    "keep_variant",
    "select_dims",
    "top_customers",
]
