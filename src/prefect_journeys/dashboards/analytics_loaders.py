"""Cached loaders of the analytics pages (Experiments, Attribution, Cohorts & CLV, the Journeys
page's step statistics and the Overview's NPS, churn and CLV cards).

Same rules as :mod:`prefect_journeys.dashboards.loaders` (which re-exports them): cached with
``st.cache_data`` for :data:`~prefect_journeys.dashboards.loaders.TTL` seconds keyed by the store
URL and the arguments; each loads the events it needs with
:func:`~prefect_journeys.analytics.frames.events_frame` and returns exactly what the functions of
``prefect_journeys.analytics`` compute (the pages only draw it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, cast

import pandas as pd
import streamlit as st

from prefect_journeys.analytics import churn as churn_m
from prefect_journeys.analytics import clv as clv_m
from prefect_journeys.analytics import cohorts as cohorts_m
from prefect_journeys.analytics.attribution import attribution_table
from prefect_journeys.analytics.attribution_paths import TouchKey, paths_from_store
from prefect_journeys.analytics.experiments import (
    ALLOCATION_EVENT,
    allocation_history,
    journey_experiment,
)
from prefect_journeys.analytics.frames import DEFAULT_COLUMNS, events_frame
from prefect_journeys.analytics.friction import gaps, step_drop_off
from prefect_journeys.analytics.nps import SURVEY_EVENT, nps
from prefect_journeys.analytics.steps import stage_funnel, step_stats, time_to_convert
from prefect_journeys.analytics.verdict import Verdict
from prefect_journeys.dashboards import insights
from prefect_journeys.dashboards.store import read_engine

TTL = 60  # seconds, as the other loaders
KEYS = ("channel", "step", "message")  # what attribution can credit
ORDER_COLUMNS = ("customer_id", "name", "occurred_at", "value", "properties", "journey_id")
SURVEY_COLUMNS = ("customer_id", "name", "occurred_at", "properties", "journey_id")
ALLOCATION_FRAME = ("name", "occurred_at", "properties", "journey_id", "journey_version", "step_id")


def _until(end: date) -> datetime:
    """The exclusive end of the period's last day."""
    return datetime.combine(end + timedelta(days=1), time())


# ----------------------------------------------------------------------------- experiments


@dataclass(frozen=True)
class Experiment:
    table: pd.DataFrame  # analytics.experiments.experiment_table
    verdict: Verdict
    allocation: pd.DataFrame  # analytics.experiments.allocation_history (bandit splits)


@st.cache_data(ttl=TTL, show_spinner=False)
def experiment(
    url: str, journey_id: str, holdouts: tuple[str, ...] = ("holdout",), mde: float = 0.2
) -> Experiment:
    """:func:`~prefect_journeys.analytics.experiments.journey_experiment` for one journey (all
    its history, from the enrollments table) and its bandit allocation over time."""
    with read_engine(url).connect() as conn:
        table, verdict = journey_experiment(conn, journey_id, holdouts=holdouts, mde=mde)
        events = events_frame(
            conn, names=[ALLOCATION_EVENT], journey_id=journey_id, columns=ALLOCATION_FRAME
        )
    return Experiment(table, verdict, allocation_history(events))


# ----------------------------------------------------------------------------- attribution


@dataclass(frozen=True)
class Attribution:
    table: pd.DataFrame  # analytics.attribution.attribution_table (model × key)
    unattributed_conversions: float  # conversions with no touch within the lookback
    unattributed_revenue: float


@st.cache_data(ttl=TTL, show_spinner=False)
def attribution(
    url: str,
    start: date,
    end: date,
    journey: str | None,
    key: str = "channel",
    lookback_days: float = 30.0,
    half_life_days: float = 7.0,
) -> Attribution:
    """Every default model side by side for the conversions of the period (as
    :func:`~prefect_journeys.analytics.attribution.attribution_from_store`)."""
    if key not in KEYS:
        raise ValueError(f"unknown attribution key {key!r}: expected {', '.join(KEYS)}")
    since = datetime.combine(start, time())
    with read_engine(url).connect() as conn:
        paths = paths_from_store(
            conn,
            journey_id=journey,
            since=since,
            until=_until(end),
            key=cast(TouchKey, key),
            lookback=timedelta(days=lookback_days),
        )
    table = attribution_table(paths, half_life=timedelta(days=half_life_days))
    return Attribution(table, paths.unattributed_conversions, paths.unattributed_revenue)


# ----------------------------------------------------------------------------- cohorts, CLV


@dataclass(frozen=True)
class Cohorts:
    retention: cohorts_m.Retention
    repeat_rate: float
    average_order_value: float
    orders: int
    revenue_per_journey: pd.DataFrame
    churn: churn_m.ChurnRate
    survival: pd.DataFrame  # Kaplan–Meier: survival with lower/upper band, by day
    median_survival: float  # days; inf when survival never drops to one half
    clv: pd.DataFrame | None  # analytics.clv.customer_value(...).customers
    clv_params: dict[str, float]  # BG/NBD r, alpha, a, b and Gamma-Gamma p, q, v
    clv_refusal: str | None  # why the fit refused (shown as guidance)


def _orders_frame(conn: Any, until: datetime) -> pd.DataFrame:
    return events_frame(
        conn, names=["purchase", "journey.entered"], until=until, columns=ORDER_COLUMNS
    )


def _fit(events: pd.DataFrame, as_of: datetime) -> tuple[Any, str | None]:
    try:
        return clv_m.customer_value(events, as_of=as_of), None
    except ValueError as error:
        return None, str(error)


@st.cache_data(ttl=TTL, show_spinner=False)
def cohorts(url: str, end: date, churn_days: float = 90.0) -> Cohorts:
    """Customer-level figures over the whole history up to the end of ``end``: retention
    cohorts, repeat rate, AOV, revenue per journey, churn as of then and its survival curve,
    and the CLV fit calibrated on the orders up to that day."""
    until = _until(end)
    as_of = until - timedelta(microseconds=1)
    threshold = timedelta(days=churn_days)
    with read_engine(url).connect() as conn:
        events = _orders_frame(conn, until)
    survival = churn_m.churn_survival(events, as_of, threshold=threshold)
    value, refusal = _fit(events, datetime.combine(end, time()))
    params: dict[str, float] = {}
    if value is not None:
        params = {**value.bgnbd.params, **value.gamma_gamma.params}
    return Cohorts(
        retention=cohorts_m.retention(events, as_of=as_of),
        repeat_rate=cohorts_m.repeat_rate(events),
        average_order_value=cohorts_m.average_order_value(events),
        orders=len(cohorts_m.purchases(events)),
        revenue_per_journey=cohorts_m.revenue_per_journey(events),
        churn=churn_m.churn_rate(events, as_of, threshold=threshold),
        survival=survival,
        median_survival=churn_m.median_survival(survival),
        clv=None if value is None else value.customers,
        clv_params=params,
        clv_refusal=refusal,
    )


# ----------------------------------------------------------------------------- journeys page


@dataclass(frozen=True)
class JourneyStats:
    steps: pd.DataFrame  # analytics.steps.step_stats for the chosen channel / variant
    funnel: pd.DataFrame  # analytics.steps.stage_funnel
    time_to_convert: pd.DataFrame  # analytics.steps.time_to_convert
    drop_off: pd.DataFrame  # analytics.friction.step_drop_off (largest first)
    gaps: pd.DataFrame | None  # analytics.friction.gaps (None without targets)
    nps: pd.DataFrame  # analytics.nps.nps of the journey's replies in the period


@st.cache_data(ttl=TTL, show_spinner=False)
def journey_stats(
    url: str,
    journey_id: str,
    start: date,
    end: date,
    channel: str | None,
    variant: str | None,
    stages: tuple[str, ...] | None = None,
    targets_json: str | None = None,
) -> JourneyStats:
    """The journey's step statistics, stage funnel, time to convert, friction, gaps and NPS for
    the period; channel and variant select rows of the grouped tables (``by=``), and the
    enrollments of the variant for friction and gaps."""
    since, until = datetime.combine(start, time()), _until(end)
    with read_engine(url).connect() as conn:
        events = events_frame(
            conn, journey_id=journey_id, since=since, until=until, columns=DEFAULT_COLUMNS
        )
        replies = events_frame(
            conn, names=[SURVEY_EVENT], since=since, until=until, columns=SURVEY_COLUMNS
        )
    by = insights.dims(channel, variant)
    pick = {"channel": channel, "variant": variant}
    steps = insights.select_dims(step_stats(events, by=by), **pick)
    funnel = insights.select_dims(stage_funnel(events, stages=stages, by=by), **pick)
    ttc = insights.select_dims(time_to_convert(events, by=by), **pick)
    scoped = insights.keep_variant(events, variant)
    found = None
    if targets_json is not None:
        found = gaps(scoped, json.loads(targets_json), journey_id=journey_id)
    return JourneyStats(
        steps=steps,
        funnel=funnel,
        time_to_convert=ttc,
        drop_off=step_drop_off(scoped),
        gaps=found,
        nps=journey_nps(replies, journey_id),
    )


def journey_nps(replies: pd.DataFrame, journey_id: str | None) -> pd.DataFrame:
    """One NPS row: every reply, or the replies attributed to ``journey_id``."""
    if journey_id is None:
        return nps(replies)
    table = nps(replies, by_journey=True)
    row = table[table["journey_id"] == journey_id].drop(columns="journey_id")
    if row.empty:
        row = nps(replies.iloc[0:0])
    return row.reset_index(drop=True)


# ----------------------------------------------------------------------------- overview cards


@dataclass(frozen=True)
class Health:
    nps: float | None  # NPS of the period's replies (of the journey when one is chosen)
    nps_replies: int
    churn: churn_m.ChurnRate  # as of the period's end, 90-day threshold
    mean_clv: float | None  # mean predicted 12-month CLV of the purchasers (None: fit refused)
    clv_refusal: str | None


@st.cache_data(ttl=TTL, show_spinner=False)
def health(url: str, start: date, end: date, journey: str | None) -> Health:
    """The Overview's NPS, churn-rate and mean-CLV cards."""
    since, until = datetime.combine(start, time()), _until(end)
    with read_engine(url).connect() as conn:
        replies = events_frame(
            conn, names=[SURVEY_EVENT], since=since, until=until, columns=SURVEY_COLUMNS
        )
        orders = _orders_frame(conn, until)
    score = journey_nps(replies, journey)
    value, refusal = _fit(orders, datetime.combine(end, time()))
    return Health(
        nps=insights.first_finite(score["nps"]),
        nps_replies=int(score["replies"].sum()),
        churn=churn_m.churn_rate(orders, until - timedelta(microseconds=1)),
        mean_clv=None if value is None else float(value.customers["clv"].mean()),
        clv_refusal=refusal,
    )


__all__ = [
    "Attribution",
    "Cohorts",
    "Experiment",
    "Health",
    "JourneyStats",
    "attribution",
    "cohorts",
    "experiment",
    "health",
    "journey_nps",
    "journey_stats",
]
