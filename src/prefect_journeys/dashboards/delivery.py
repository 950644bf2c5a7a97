"""Deliverability and compliance figures (pure, over frames): what went wrong with messages.

* **problems** — per day, channel and kind (bounced, dropped, spam report, failed, undelivered,
  suppressed, cancelled, quarantined, deferred): distinct messages (by ``intent_id``) with a
  ``message.<kind>`` event that day; a message counts once per kind, on its first such event.
* **deferrals by reason** — ``message.deferred`` events by ``properties.reason``
  (``quiet_hours``: held back by the recipient's quiet hours; ``provider_throttled``: the
  provider asked us to slow down). Every deferral counts (a message can be deferred twice).
* **opt-outs** — consent withdrawals (``granted`` false) per day and channel.
* **suppressions** — entries on the suppression list per reason and scope.
"""

from __future__ import annotations

import pandas as pd

PROBLEM_KINDS = (
    "bounced",
    "dropped",
    "spamreport",
    "failed",
    "undelivered",
    "suppressed",
    "cancelled",
    "quarantined",
    "deferred",
)
PROBLEM_EVENTS = tuple(f"message.{k}" for k in PROBLEM_KINDS)
PROBLEM_COLUMNS = ["day", "channel", "kind", "messages"]


def _require(frame: pd.DataFrame, needed: tuple[str, ...], what: str) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} frame lacks column(s): {', '.join(missing)}")


def problems(events: pd.DataFrame) -> pd.DataFrame:
    """``day, channel, kind, messages`` rows (see the module docstring), by day then kind."""
    _require(events, ("seq", "name", "occurred_at", "channel", "intent_id"), "events")
    rows = events[events["name"].isin(PROBLEM_EVENTS)]
    if rows.empty:
        return pd.DataFrame(columns=PROBLEM_COLUMNS).astype({"messages": "int64"})
    rows = rows.sort_values("occurred_at", kind="stable")
    key = rows["intent_id"].astype("float64").fillna(-rows["seq"].astype("float64") - 1)
    rows = rows.assign(key=key).drop_duplicates(["name", "key"])
    grouped = (
        rows.assign(
            day=rows["occurred_at"].dt.floor("D"),
            kind=rows["name"].str.removeprefix("message."),
            channel=rows["channel"].fillna("(none)"),
        )
        .groupby(["day", "channel", "kind"])
        .size()
        .rename("messages")
        .reset_index()
    )
    order = {k: i for i, k in enumerate(PROBLEM_KINDS)}
    grouped["_order"] = grouped["kind"].map(order)
    grouped = grouped.sort_values(["day", "_order", "channel"]).drop(columns="_order")
    return grouped.reset_index(drop=True)[PROBLEM_COLUMNS]


def by_channel(problem_rows: pd.DataFrame) -> pd.DataFrame:
    """:func:`problems` summed over days: one row per channel, one column per kind."""
    if problem_rows.empty:
        return pd.DataFrame(columns=["channel"])
    table = problem_rows.pivot_table(
        index="channel", columns="kind", values="messages", aggfunc="sum", fill_value=0
    )
    kinds = [k for k in PROBLEM_KINDS if k in table.columns]
    return table[kinds].reset_index().rename_axis(columns=None)


def deferral_reasons(deferred: pd.DataFrame) -> pd.DataFrame:
    """``reason, channel, deferrals`` from ``message.deferred`` events with ``properties``."""
    _require(deferred, ("name", "channel", "properties"), "deferred events")
    rows = deferred[deferred["name"] == "message.deferred"]
    if rows.empty:
        return pd.DataFrame(columns=["reason", "channel", "deferrals"])
    reason = rows["properties"].map(lambda p: (p or {}).get("reason") or "(unknown)")
    return (
        pd.DataFrame({"reason": reason, "channel": rows["channel"].fillna("(none)")})
        .groupby(["reason", "channel"])
        .size()
        .rename("deferrals")
        .reset_index()
        .sort_values("deferrals", ascending=False, kind="stable")
        .reset_index(drop=True)
    )


def optouts_by_day(optouts: pd.DataFrame) -> pd.DataFrame:
    """``day, channel, optouts`` from consent withdrawals (``customer_id, channel, recorded_at``)."""
    _require(optouts, ("channel", "recorded_at"), "opt-outs")
    if optouts.empty:
        return pd.DataFrame(columns=["day", "channel", "optouts"])
    return (
        optouts.assign(day=pd.to_datetime(optouts["recorded_at"]).dt.floor("D"))
        .groupby(["day", "channel"])
        .size()
        .rename("optouts")
        .reset_index()
    )


__all__ = [
    "PROBLEM_EVENTS",
    "PROBLEM_KINDS",
    "by_channel",
    "deferral_reasons",
    "optouts_by_day",
    "problems",
]
