"""All the dashboard's data loading, cached: the one seam between pages and the store.

Pages call only these functions (no SQL in pages). Each is cached with ``st.cache_data`` for
:data:`TTL` seconds, keyed by the store URL and the filters it applies, so moving between pages
or widgets does not query again. Today they compute from the event log (and a few store tables)
through :func:`prefect_journeys.analytics.frames.events_frame` and the pure functions of this
package; they are where the dashboard will switch to reading maintained rollups.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy import func, select

from prefect_journeys.analytics.frames import events_frame
from prefect_journeys.dashboards import delivery, kpis, quality
from prefect_journeys.dashboards.analytics_loaders import (
    Attribution,
    Cohorts,
    Experiment,
    Health,
    JourneyStats,
    attribution,
    cohorts,
    experiment,
    health,
    journey_stats,
)
from prefect_journeys.dashboards.filters import Filters
from prefect_journeys.dashboards.store import StoreState, read_engine, store_state
from prefect_journeys.store.models import Consent, Event, Quarantine, Suppression, Validation

TTL = 60  # seconds: figures are at most a minute old
EVENTS = Event.__table__  # type: ignore[attr-defined]
CONSENTS = Consent.__table__  # type: ignore[attr-defined]
QUARANTINE = Quarantine.__table__  # type: ignore[attr-defined]
SUPPRESSIONS = Suppression.__table__  # type: ignore[attr-defined]
VALIDATIONS = Validation.__table__  # type: ignore[attr-defined]


def _filters(
    start: date, end: date, journey: str | None, channel: str | None, variant: str | None
) -> Filters:
    return Filters(start, end, journey, channel, variant)


@st.cache_data(ttl=5, show_spinner=False)
def state(url: str) -> StoreState:
    """Missing, empty or ready (re-checked every few seconds: a demo may be filling it)."""
    return store_state(url)


@st.cache_data(ttl=TTL, show_spinner=False)
def bounds(url: str) -> tuple[date | None, date | None]:
    """First and last day with events."""
    with read_engine(url).connect() as conn:
        low, high = conn.execute(
            select(func.min(EVENTS.c.occurred_at), func.max(EVENTS.c.occurred_at))
        ).one()
    as_day = lambda v: pd.Timestamp(v).date() if v is not None else None  # noqa: E731
    return as_day(low), as_day(high)


@st.cache_data(ttl=TTL, show_spinner=False)
def choices(url: str) -> dict[str, list[str]]:
    """The journeys, channels and variants present in the event log (filter options)."""
    out: dict[str, list[str]] = {}
    with read_engine(url).connect() as conn:
        for column in ("journey_id", "channel", "variant"):
            values = conn.execute(
                select(EVENTS.c[column]).where(EVENTS.c[column].is_not(None)).distinct()
            ).scalars()
            out[column] = sorted(str(v) for v in values)
    return out


def _optouts(conn: Any, since: datetime, until: datetime) -> pd.DataFrame:
    rows = conn.execute(
        select(CONSENTS.c.customer_id, CONSENTS.c.channel, CONSENTS.c.recorded_at).where(
            CONSENTS.c.granted.is_(False),
            CONSENTS.c.recorded_at >= since,
            CONSENTS.c.recorded_at < until,
        )
    ).all()
    frame = pd.DataFrame.from_records(
        [tuple(r) for r in rows], columns=["customer_id", "channel", "recorded_at"]
    )
    frame["recorded_at"] = pd.to_datetime(frame["recorded_at"])
    return frame


@dataclass(frozen=True)
class Overview:
    kpis: list[kpis.Kpi]
    daily: pd.DataFrame  # kpis.daily_counts of the period (in scope), indexed by day
    sent_by_channel: pd.DataFrame  # day, channel, sent


@st.cache_data(ttl=TTL, show_spinner=False)
def overview(
    url: str, start: date, end: date, journey: str | None, channel: str | None, variant: str | None
) -> Overview:
    """KPI cards with deltas and trends, plus messages sent per day and channel."""
    f = _filters(start, end, journey, channel, variant)
    with read_engine(url).connect() as conn:
        # No journey push-down: purchases (no journey) of the reached customers count too.
        events = events_frame(conn, since=f.previous_since, until=f.until, columns=kpis.EVENT_NEEDS)
        optouts = _optouts(conn, f.previous_since, f.until)
    cards = kpis.overview_kpis(
        events, optouts, f.since, f.until, journey=journey, channel=channel, variant=variant
    )
    now = events[events["occurred_at"] >= f.since]
    scoped, scoped_optouts = kpis.scope(
        now, optouts, journey=journey, channel=channel, variant=variant
    )
    daily = kpis.daily_counts(scoped, scoped_optouts, f.since, f.until)
    sent = scoped[scoped["name"] == "message.sent"]
    sent = sent.drop_duplicates("intent_id") if sent["intent_id"].notna().all() else sent
    by_channel = (
        sent.assign(day=sent["occurred_at"].dt.floor("D"), channel=sent["channel"].fillna("(none)"))
        .groupby(["day", "channel"])
        .size()
        .rename("sent")
        .reset_index()
    )
    return Overview(cards, daily, by_channel)


@st.cache_resource(ttl=TTL, show_spinner=False)
def project_journeys(root: str) -> dict[str, Any]:
    """The valid journeys of the project at ``root`` (id → definition), via the project loader."""
    from prefect_journeys.definition.project import Project

    project = Project.load(Path(root))
    return {journey_id: loaded.journey for journey_id, loaded in project.journeys.items()}


@st.cache_data(ttl=TTL, show_spinner=False)
def journey_figures(
    url: str,
    journey_id: str,
    steps: tuple[str, ...] | None,
    stages: tuple[str, ...] | None,
    holdouts: tuple[str, ...] = ("holdout",),
) -> dict[str, Any]:
    """:func:`prefect_journeys.analytics.report.journey_report` for one journey."""
    from prefect_journeys.analytics.report import journey_report

    with read_engine(url).connect() as conn:
        return journey_report(conn, journey_id, stages=stages, steps=steps, holdouts=holdouts)


@dataclass(frozen=True)
class Deliverability:
    problems: pd.DataFrame  # day, channel, kind, messages
    by_channel: pd.DataFrame  # channel × kind
    deferrals: pd.DataFrame  # reason, channel, deferrals
    optouts: pd.DataFrame  # day, channel, optouts
    suppressions: pd.DataFrame  # reason, kind, scope, entries


@st.cache_data(ttl=TTL, show_spinner=False)
def deliverability(
    url: str, start: date, end: date, journey: str | None, channel: str | None, variant: str | None
) -> Deliverability:
    """Problems with messages, deferrals, opt-outs and suppressions in the period."""
    f = _filters(start, end, journey, channel, variant)
    columns = ("seq", "name", "occurred_at", "channel", "variant", "intent_id", "properties")
    with read_engine(url).connect() as conn:
        events = events_frame(
            conn,
            names=delivery.PROBLEM_EVENTS,
            journey_id=journey,
            since=f.since,
            until=f.until,
            columns=columns,
        )
        optouts = _optouts(conn, f.since, f.until)
        suppression_rows = conn.execute(
            select(SUPPRESSIONS.c.reason, SUPPRESSIONS.c.kind, SUPPRESSIONS.c.scope, func.count())
            .where(SUPPRESSIONS.c.created_at >= f.since, SUPPRESSIONS.c.created_at < f.until)
            .group_by(SUPPRESSIONS.c.reason, SUPPRESSIONS.c.kind, SUPPRESSIONS.c.scope)
        ).all()
    if channel is not None:
        events = events[events["channel"] == channel]
        optouts = optouts[optouts["channel"] == channel]
    if variant is not None:
        events = events[events["variant"] == variant]
    problem_rows = delivery.problems(events)
    suppressions = pd.DataFrame.from_records(
        [tuple(r) for r in suppression_rows], columns=["reason", "kind", "scope", "entries"]
    )
    return Deliverability(
        problems=problem_rows,
        by_channel=delivery.by_channel(problem_rows),
        deferrals=delivery.deferral_reasons(events),
        optouts=delivery.optouts_by_day(optouts),
        suppressions=suppressions.sort_values("entries", ascending=False).reset_index(drop=True),
    )


@dataclass(frozen=True)
class DataQuality:
    runs: pd.DataFrame  # one row per validation run (newest first)
    by_day: pd.DataFrame  # quality.validations_by_day
    quarantine: pd.DataFrame  # one row per quarantined row (newest first)
    reasons: pd.DataFrame  # quality.quarantine_reasons
    start: date  # the window shown (whole days)
    end: date


@st.cache_data(ttl=TTL, show_spinner=False)
def data_quality(url: str, days: int = 30) -> DataQuality:
    """Validation runs and quarantined rows of the last ``days`` days up to the latest one.

    Runs are stamped with the wall-clock time they ran (not the time of the events they
    checked), so the event-time period filter does not apply here.
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    run_columns = ["id", "suite", "target", "batch", "checked_at", "rows", "failed_rows"]
    run_columns += ["threshold", "passed"]
    q_columns = ["id", "created_at", "kind", "target", "step_id", "customer_id", "row_ref"]
    q_columns += ["reasons"]
    with read_engine(url).connect() as conn:
        latest = [
            conn.execute(select(func.max(VALIDATIONS.c.checked_at))).scalar(),
            conn.execute(select(func.max(QUARANTINE.c.created_at))).scalar(),
        ]
        found = [pd.Timestamp(v) for v in latest if v is not None]
        last = max(found) if found else pd.Timestamp.now()
        until = (last.floor("D") + pd.Timedelta(days=1)).to_pydatetime()
        f = _filters(
            (until - pd.Timedelta(days=days)).date(),
            (until - pd.Timedelta(days=1)).date(),
            None,
            None,
            None,
        )
        runs = conn.execute(
            select(*(VALIDATIONS.c[c] for c in run_columns))
            .where(VALIDATIONS.c.checked_at >= f.since, VALIDATIONS.c.checked_at < f.until)
            .order_by(VALIDATIONS.c.id.desc())
        ).all()
        held = conn.execute(
            select(*(QUARANTINE.c[c] for c in q_columns))
            .where(QUARANTINE.c.created_at >= f.since, QUARANTINE.c.created_at < f.until)
            .order_by(QUARANTINE.c.id.desc())
        ).all()
    run_frame = pd.DataFrame.from_records([tuple(r) for r in runs], columns=run_columns)
    held_frame = pd.DataFrame.from_records([tuple(r) for r in held], columns=q_columns)
    held_frame["reasons"] = held_frame["reasons"].map(_as_list)
    return DataQuality(
        runs=run_frame,
        by_day=quality.validations_by_day(run_frame),
        quarantine=held_frame,
        reasons=quality.quarantine_reasons(held_frame),
        start=f.start,
        end=f.end,
    )


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, str) and value:
        import json

        loaded = json.loads(value)
        return loaded if isinstance(loaded, list) else [loaded]
    return []


@st.cache_data(ttl=TTL, show_spinner=False)
def customer(url: str, key: str, limit: int = 50) -> Any:
    """:func:`prefect_journeys.identity.profile.customer_view` (``None`` when nobody matches)."""
    from prefect_journeys.identity.profile import customer_view

    with read_engine(url).connect() as conn:
        return customer_view(conn, key, limit=limit)


def clear() -> None:
    """Forget every cached figure (the sidebar's refresh button)."""
    st.cache_data.clear()


__all__ = [
    "TTL",
    "Attribution",
    "Cohorts",
    "DataQuality",
    "Deliverability",
    "Experiment",
    "Health",
    "JourneyStats",
    "Overview",
    "attribution",
    "bounds",
    "choices",
    "clear",
    "cohorts",
    "customer",
    "data_quality",
    "deliverability",
    "experiment",
    "health",
    "journey_figures",
    "journey_stats",
    "overview",
    "project_journeys",
    "state",
]
