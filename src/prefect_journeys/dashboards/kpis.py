"""Overview KPIs over an events frame: what the cards show, for a period and the one before.

Definitions (all counts are of events whose ``occurred_at`` falls in the window):

* **customers** — distinct customers with any in-scope event;
* **sent / delivered / opened / clicked / bounced / spam reports** — distinct messages (by
  ``intent_id``; an event without one counts once) with a ``message.<name>`` event;
* **conversions** — ``journey.converted`` events; **revenue** — the sum of ``purchase`` values;
* **opt-outs** — consent withdrawals (``consents`` rows with ``granted`` false);
* rates: delivery = delivered / sent, open = opened / delivered, click = clicked / delivered,
  bounce = bounced / sent, spam-report = spam reports / delivered, unsubscribe = opt-outs /
  delivered — ratios of event counts within the same window (so a window edge can cut a message
  between its send and its delivery); ``None`` when the denominator is zero.

Scope: the journey and variant filters apply to journey-tagged events (``journey.*``,
``message.*``), the channel filter to ``message.*`` events. Events without a journey (purchases,
sign-ups) and opt-outs are kept, under any filter, only for the customers the selection reached:
those with an in-scope journey-tagged event (a message event when a channel is chosen) in the
same window. Conversions are journey events without a channel: the journey and variant filters
apply to them, the channel filter does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np
import pandas as pd

MESSAGE_COUNTS = ("sent", "delivered", "opened", "clicked", "bounced", "spamreport")
COUNT_COLUMNS = ("customers", *MESSAGE_COUNTS, "conversions", "revenue", "optouts")
EVENT_NEEDS: tuple[str, ...] = (
    "seq",
    "customer_id",
    "name",
    "occurred_at",
    "journey_id",
    "variant",
    "channel",
    "intent_id",
    "value",
)
OPTOUT_NEEDS = ("customer_id", "channel", "recorded_at")
RATES: dict[str, tuple[str, str]] = {
    "delivery_rate": ("delivered", "sent"),
    "open_rate": ("opened", "delivered"),
    "click_rate": ("clicked", "delivered"),
    "unsubscribe_rate": ("optouts", "delivered"),
    "bounce_rate": ("bounced", "sent"),
    "spam_rate": ("spamreport", "delivered"),
}
KPI_ORDER = (
    "customers",
    "sent",
    "delivery_rate",
    "open_rate",
    "click_rate",
    "conversions",
    "revenue",
    "unsubscribe_rate",
    "bounce_rate",
    "spam_rate",
)
Kind = Literal["count", "rate", "money"]


@dataclass(frozen=True)
class Kpi:
    """One card: this period's value, the previous period's, and one value per day."""

    key: str
    value: float | None
    previous: float | None
    trend: list[float | None] = field(default_factory=list)

    @property
    def kind(self) -> Kind:
        if self.key in RATES:
            return "rate"
        return "money" if self.key == "revenue" else "count"

    @property
    def delta(self) -> float | None:
        """Change from the previous period (rates: in rate units, i.e. points / 100)."""
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous


def _require(frame: pd.DataFrame, needed: tuple[str, ...], what: str) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} frame lacks column(s): {', '.join(missing)}")


def scope(
    events: pd.DataFrame,
    optouts: pd.DataFrame,
    *,
    journey: str | None = None,
    channel: str | None = None,
    variant: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The events and opt-outs a selection covers (see the module docstring)."""
    tagged = events["journey_id"].notna()
    is_message = events["name"].str.startswith("message.", na=False)
    keep = tagged.copy()
    if journey is not None:
        keep &= events["journey_id"] == journey
    if variant is not None:
        keep &= events["variant"] == variant
    if channel is not None:
        keep &= ~is_message | (events["channel"] == channel)
    if journey is None and variant is None and channel is None:
        return events, optouts
    reach_rows = (keep & is_message if channel is not None else keep).to_numpy()
    # "customer reached?" by factorised customer codes: O(n) arrays, no string hashing per row
    codes, customers = pd.factorize(events["customer_id"])
    reached = np.zeros(len(customers) + 1, dtype=bool)  # the extra slot is code -1 (no id)
    reached[codes[reach_rows]] = True
    reached[-1] = False
    untagged = ~tagged & reached[codes]
    optout_codes = pd.Index(np.asarray(customers, dtype=object)).get_indexer(
        np.asarray(optouts["customer_id"], dtype=object)
    )
    kept_optouts = optouts[reached[optout_codes]]  # code -1 (unknown customer) → not reached
    if channel is not None:
        kept_optouts = kept_optouts[kept_optouts["channel"] == channel]
    return events[keep | untagged], kept_optouts


def daily_counts(
    events: pd.DataFrame, optouts: pd.DataFrame, since: datetime, until: datetime
) -> pd.DataFrame:
    """One row per day of ``[since, until)`` (days with nothing included, as zeros) with the
    counts of :data:`COUNT_COLUMNS`; a message counts on the day of its first event of a kind."""
    _require(events, EVENT_NEEDS, "events")
    _require(optouts, OPTOUT_NEEDS, "opt-outs")
    if until <= since:
        raise ValueError(f"empty window: until ({until}) is not after since ({since})")
    days = pd.date_range(since, until - pd.Timedelta(days=1), freq="D", name="day")
    inside = events[(events["occurred_at"] >= since) & (events["occurred_at"] < until)]
    day = inside["occurred_at"].dt.floor("D")
    out = pd.DataFrame(index=days)
    out["customers"] = (
        inside.assign(day=day).groupby("day")["customer_id"].nunique().reindex(days, fill_value=0)
    )
    messages = inside[inside["name"].str.startswith("message.", na=False)]
    if len(messages):
        key = messages["intent_id"].astype("float64")
        fallback = -messages["seq"].astype("float64") - 1  # never equal to an intent id (>= 1)
        messages = messages.assign(key=key.fillna(fallback), day=day.loc[messages.index])
        messages = messages.drop_duplicates(["name", "key"])
        per_day = messages.groupby(["day", "name"]).size().unstack("name", fill_value=0)
    else:
        per_day = pd.DataFrame(index=days)
    for name in MESSAGE_COUNTS:
        column = f"message.{name}"
        series = per_day[column] if column in per_day else pd.Series(dtype="int64")
        out[name] = series.reindex(days, fill_value=0).astype("int64")
    names = inside["name"]
    out["conversions"] = (
        day[names == "journey.converted"].value_counts().reindex(days, fill_value=0)
    ).astype("int64")
    purchases = inside[names == "purchase"]
    revenue = purchases["value"].astype("float64").groupby(day.loc[purchases.index]).sum()
    out["revenue"] = revenue.reindex(days, fill_value=0.0).astype("float64")
    window = optouts[(optouts["recorded_at"] >= since) & (optouts["recorded_at"] < until)]
    out["optouts"] = (
        window["recorded_at"].dt.floor("D").value_counts().reindex(days, fill_value=0)
    ).astype("int64")
    return out


def totals(
    events: pd.DataFrame,
    optouts: pd.DataFrame,
    since: datetime,
    until: datetime,
    daily: pd.DataFrame | None = None,
) -> dict[str, float]:
    """The counts of :data:`COUNT_COLUMNS` over the whole window (customers distinct);
    ``daily`` is :func:`daily_counts` of the same arguments when already computed."""
    if daily is None:
        daily = daily_counts(events, optouts, since, until)
    sums: dict[str, float] = {c: float(daily[c].sum()) for c in COUNT_COLUMNS if c != "customers"}
    inside = events[(events["occurred_at"] >= since) & (events["occurred_at"] < until)]
    sums["customers"] = float(inside["customer_id"].nunique())
    return sums


def rate(counts: dict[str, float] | pd.DataFrame, key: str) -> float | pd.Series | None:
    """``key`` (a name of :data:`RATES`) from counts: a number, or a per-day series."""
    part, whole = RATES[key]
    if isinstance(counts, pd.DataFrame):
        denominator = counts[whole].astype("float64").replace(0, np.nan)
        return counts[part] / denominator
    return counts[part] / counts[whole] if counts[whole] else None


def _value(counts: dict[str, float], key: str) -> float | None:
    if key in RATES:
        value = rate(counts, key)
        return None if value is None else float(value)  # type: ignore[arg-type]
    return counts[key]


def overview_kpis(
    events: pd.DataFrame,
    optouts: pd.DataFrame,
    since: datetime,
    until: datetime,
    *,
    journey: str | None = None,
    channel: str | None = None,
    variant: str | None = None,
) -> list[Kpi]:
    """The cards in :data:`KPI_ORDER` for ``[since, until)``, with the previous period of the same
    length (``events`` and ``optouts`` should cover both) and a daily trend."""
    _require(events, EVENT_NEEDS, "events")
    _require(optouts, OPTOUT_NEEDS, "opt-outs")
    length = until - since
    previous_since = since - length
    windows = {}
    for name, (start, end) in {"now": (since, until), "before": (previous_since, since)}.items():
        inside = events[(events["occurred_at"] >= start) & (events["occurred_at"] < end)]
        kept, kept_optouts = scope(
            inside,
            optouts[(optouts["recorded_at"] >= start) & (optouts["recorded_at"] < end)],
            journey=journey,
            channel=channel,
            variant=variant,
        )
        windows[name] = (kept, kept_optouts, start, end)
    kept, kept_optouts, _, _ = windows["now"]
    daily = daily_counts(kept, kept_optouts, since, until)
    now = totals(*windows["now"], daily=daily)
    before = totals(*windows["before"])
    cards = []
    for key in KPI_ORDER:
        series = rate(daily, key) if key in RATES else daily[key]
        assert isinstance(series, pd.Series)
        trend = [None if pd.isna(v) else float(v) for v in series.tolist()]
        cards.append(Kpi(key, _value(now, key), _value(before, key), trend))
    return cards


__all__ = [
    "COUNT_COLUMNS",
    "KPI_ORDER",
    "RATES",
    "Kpi",
    "daily_counts",
    "overview_kpis",
    "rate",
    "scope",
    "totals",
]
