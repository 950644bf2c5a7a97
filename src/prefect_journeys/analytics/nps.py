"""NPS and CSAT from survey replies in the event log.

A reply is a customer event named ``survey.answered`` whose ``properties`` hold ``survey``
(``"nps"``, ``"csat"`` or another survey id), ``score`` and optionally ``journey_id``. A reply
belongs to the journey in its ``journey_id`` property, else to the journey on the event row,
else to none. Scores must be whole numbers in the survey's range (NPS 0–10, CSAT 1–5; a
numeric string such as ``"9"`` is read as a number); anything else is *invalid*: excluded from
the figures and counted in an ``invalid`` column, never mixed in.

* **NPS** = % promoters (9–10) − % detractors (0–6) of the valid replies, in points from −100
  to +100 (passives, 7–8, count in the denominator only).
* **CSAT** = share of valid replies scoring 4 or 5, from 0 to 1.

Every reply counts (a customer who answers twice counts twice). Figures can be split by
``period`` (day, week, month of the reply's ``occurred_at``) and by journey.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

from prefect_journeys.analytics.steps import PERIODS, period_start

SURVEY_EVENT = "survey.answered"
SCALES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5)}
NPS_COLUMNS = ("replies", "promoters", "passives", "detractors", "invalid", "nps")
CSAT_COLUMNS = ("replies", "satisfied", "invalid", "csat")


def _number(value: Any) -> float:
    """A score as a float (NaN when it is not a number); bools are not scores."""
    if isinstance(value, bool) or value is None:
        return math.nan
    if isinstance(value, Real):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return math.nan
    return math.nan


def survey_replies(events: pd.DataFrame, survey: str | None = None) -> pd.DataFrame:
    """The replies (of one survey, or all): ``customer_id``, ``occurred_at``, ``survey``,
    ``score`` (float, NaN when unreadable), ``journey_id`` (attributed as above) and ``valid``.

    Scores of surveys other than NPS and CSAT are valid when they are numbers.
    """
    missing = [c for c in ("name", "occurred_at", "properties") if c not in events.columns]
    if missing:
        raise ValueError(f"events frame is missing column(s): {', '.join(missing)}")
    rows = events.loc[events["name"] == SURVEY_EVENT]
    props = [p if isinstance(p, dict) else {} for p in rows["properties"]]
    names = [p.get("survey") for p in props]
    row_journey = (
        rows["journey_id"] if "journey_id" in rows.columns else pd.Series(None, rows.index)
    )
    journeys = [p.get("journey_id") or j for p, j in zip(props, row_journey, strict=True)]
    out = pd.DataFrame(
        {
            "customer_id": rows["customer_id"].to_numpy() if "customer_id" in rows else None,
            "occurred_at": pd.to_datetime(rows["occurred_at"]).to_numpy(),
            "survey": pd.array([str(n) if n is not None else None for n in names], dtype=object),
            "score": np.array([_number(p.get("score")) for p in props], dtype="float64"),
            "journey_id": pd.array(
                [j if isinstance(j, str) and j else None for j in journeys], dtype=object
            ),
        }
    )
    if survey is not None:
        out = out[out["survey"] == survey].reset_index(drop=True)
    score = out["score"]
    whole = np.isfinite(score) & (score == np.floor(score))
    # a dict lookup per distinct survey, not a Python call per reply
    low = out["survey"].map({k: v[0] for k, v in SCALES.items()}).astype("float64")
    high = out["survey"].map({k: v[1] for k, v in SCALES.items()}).astype("float64")
    low, high = low.fillna(-math.inf), high.fillna(math.inf)
    known = out["survey"].isin(list(SCALES))
    out["valid"] = np.where(known, whole & (score >= low) & (score <= high), np.isfinite(score))
    return out


def _keys(replies: pd.DataFrame, period: str | None, by_journey: bool) -> list[str]:
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}: expected None, 'day', 'week' or 'month'")
    keys: list[str] = []
    if by_journey:
        keys.append("journey_id")
    if period:
        replies["period"] = period_start(replies["occurred_at"], period)
        keys.append("period")
    return keys


def _grouped(replies: pd.DataFrame, keys: list[str], flags: dict[str, pd.Series]) -> pd.DataFrame:
    frame = replies.assign(**{k: v.astype("int64") for k, v in flags.items()})
    columns = list(flags)
    if not keys:
        return frame[columns].sum().to_frame().T.astype("int64")
    return frame.groupby(keys, dropna=False)[columns].sum().reset_index()


def nps(
    events: pd.DataFrame, *, period: str | None = None, by_journey: bool = False
) -> pd.DataFrame:
    """Net Promoter Score: one row (or one per journey / period) with ``replies`` (valid),
    ``promoters``, ``passives``, ``detractors``, ``invalid`` and ``nps`` (−100..100; NaN
    without valid replies)."""
    replies = survey_replies(events, "nps")
    keys = _keys(replies, period, by_journey)
    valid = replies["valid"].astype(bool)
    score = replies["score"]
    table = _grouped(
        replies,
        keys,
        {
            "replies": valid,
            "promoters": valid & (score >= 9),
            "passives": valid & (score >= 7) & (score <= 8),
            "detractors": valid & (score <= 6),
            "invalid": ~valid,
        },
    )
    share = (table["promoters"] - table["detractors"]) / table["replies"].where(
        table["replies"] > 0
    )
    table["nps"] = 100.0 * share.astype("float64")
    return table[[*keys, *NPS_COLUMNS]]


def csat(
    events: pd.DataFrame, *, period: str | None = None, by_journey: bool = False
) -> pd.DataFrame:
    """Customer satisfaction: ``replies`` (valid), ``satisfied`` (4–5), ``invalid`` and ``csat``
    (satisfied / replies; NaN without valid replies)."""
    replies = survey_replies(events, "csat")
    keys = _keys(replies, period, by_journey)
    valid = replies["valid"].astype(bool)
    table = _grouped(
        replies,
        keys,
        {"replies": valid, "satisfied": valid & (replies["score"] >= 4), "invalid": ~valid},
    )
    table["csat"] = (table["satisfied"] / table["replies"].where(table["replies"] > 0)).astype(
        "float64"
    )
    return table[[*keys, *CSAT_COLUMNS]]


def score_distribution(
    events: pd.DataFrame, survey: str = "nps", *, by_journey: bool = False
) -> pd.DataFrame:
    """Valid replies per score: ``score``, ``replies``, ``share`` (of the group's valid
    replies). For NPS and CSAT every score of the scale is listed, zeros included."""
    replies = survey_replies(events, survey)
    valid = replies[replies["valid"].astype(bool)]
    keys = ["journey_id"] if by_journey else []
    counts = valid.groupby([*keys, "score"], dropna=False).size().rename("replies").reset_index()
    if survey in SCALES and not by_journey:
        low, high = SCALES[survey]
        scale = pd.DataFrame({"score": np.arange(low, high + 1, dtype="float64")})
        counts = scale.merge(counts, on="score", how="left").fillna({"replies": 0})
    counts["replies"] = counts["replies"].astype("int64")
    if keys:
        totals = counts.groupby(keys, dropna=False)["replies"].transform("sum")
    else:
        totals = pd.Series(counts["replies"].sum(), index=counts.index)
    counts["share"] = (counts["replies"] / totals.where(totals > 0)).astype("float64")
    if survey in SCALES:
        counts["score"] = counts["score"].astype("int64")
    return counts[[*keys, "score", "replies", "share"]]


__all__ = [
    "CSAT_COLUMNS",
    "NPS_COLUMNS",
    "SCALES",
    "SURVEY_EVENT",
    "csat",
    "nps",
    "score_distribution",
    "survey_replies",
]
