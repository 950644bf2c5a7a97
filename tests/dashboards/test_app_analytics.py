"""The analytics pages (Experiments, Attribution, Cohorts & CLV) and the analytics additions to
the Journeys and Overview pages, under AppTest: the figures shown must EQUAL what the analytics
functions compute here from the same store (the demo store plus the rows of
``conftest._add_analytics_rows``), every table has its CSV download, no page raises, an empty
store shows guidance, and the labels follow the locale."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Connection
from streamlit.testing.v1 import AppTest

from prefect_journeys.analytics.frames import EVENT_COLUMNS, events_frame
from prefect_journeys.store.database import make_engine

ROOT = Path(__file__).resolve().parents[2]
NEW_PAGES = ("experiments", "attribution", "cohorts")
Open = Callable[..., AppTest]


def _connect(store: Path) -> Iterator[Connection]:
    engine = make_engine(f"sqlite:///{store}")
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def _period(store: Path) -> tuple[date, date]:
    """The sidebar's default period: the 14 days up to the last day with events."""
    for conn in _connect(store):
        last = events_frame(conn, columns=("occurred_at",))["occurred_at"].max().date()
    return last - timedelta(days=13), last


def _bounds(store: Path) -> tuple[datetime, datetime]:
    start, end = _period(store)
    return datetime.combine(start, time()), datetime.combine(end + timedelta(days=1), time())


def _metrics(at: AppTest) -> dict[str, Any]:
    return {m.label: m for m in at.metric}


def _downloads(at: AppTest) -> set[str]:
    return {b.label.rsplit("· ", 1)[-1] for b in at.download_button}


def _table(at: AppTest, *columns: str) -> pd.DataFrame:
    """The first table shown with all these columns."""
    for element in at.dataframe:
        frame = element.value
        if all(c in frame.columns for c in columns):
            return frame
    raise AssertionError(f"no table with columns {columns}")


def _chart(at: AppTest, key_part: str) -> dict[str, Any]:
    for element in at.get("plotly_chart"):
        spec = json.loads(element.proto.spec)
        if key_part in element.proto.id or key_part in json.dumps(spec.get("layout", {})):
            return spec
    raise AssertionError(f"no chart {key_part!r}")


def _same(shown: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Same rows and values (floats to 1e-12; NaN equals NaN), ignoring dtypes and the index."""
    shown = shown.reset_index(drop=True)
    expected = expected.reset_index(drop=True)
    assert list(shown.columns) == list(expected.columns)
    assert len(shown) == len(expected)
    for column in expected.columns:
        a, b = shown[column], expected[column]
        if pd.api.types.is_numeric_dtype(b) and not pd.api.types.is_bool_dtype(b):
            np.testing.assert_allclose(
                a.to_numpy(dtype=float), b.to_numpy(dtype=float), rtol=1e-12, equal_nan=True
            )
        else:
            assert a.astype(str).tolist() == b.astype(str).tolist(), column


# ----------------------------------------------------------------------------- experiments


def test_experiments_page_shows_the_experiment_of_the_journey(
    open_app: Open, analytics_store: Path
) -> None:
    from prefect_journeys.analytics.experiments import journey_experiment

    at = open_app(analytics_store, "experiments")
    assert at.selectbox(key="exp-journey").value == "welcome_series"
    for conn in _connect(analytics_store):
        expected, verdict = journey_experiment(conn, "welcome_series", holdouts=("holdout",))
    assert verdict.status == "no_winner"  # the holdout has too few conversions
    assert verdict.text("en").replace("\n", "\n\n") in [i.value for i in at.info]
    shown = _table(at, "variant", "rate", "prob_best")
    _same(shown.drop(columns=["holdout", "control"]), expected.drop(columns=["holdout", "control"]))
    row = shown.set_index("variant").loc["discount_20"]
    assert row["rate"] == pytest.approx(80 / 400)
    assert row["rate_low"] < 0.2 < row["rate_high"]
    spec = _chart(at, "experiment-rates")
    bar = spec["data"][0]
    assert list(bar["x"]) == list(expected["variant"])
    np.testing.assert_allclose(_values(bar["y"]), expected["rate"], rtol=1e-12)
    np.testing.assert_allclose(
        _values(bar["error_y"]["array"]), expected["rate_high"] - expected["rate"], rtol=1e-9
    )
    assert "experiment-welcome_series.csv" in _downloads(at)

    at.selectbox(key="exp-journey").set_value("winback").run()
    assert not at.exception
    for conn in _connect(analytics_store):
        expected, verdict = journey_experiment(conn, "winback", holdouts=("holdout",))
    assert verdict.text("en").replace("\n", "\n\n") in [i.value for i in [*at.info, *at.success]]
    _same(
        _table(at, "variant", "rate", "prob_best")[["variant", "enrollments"]],
        expected[["variant", "enrollments"]],
    )


def _values(data: Any) -> np.ndarray:
    """A Plotly JSON array (a list, or the typed-array dict newer Plotly writes)."""
    if isinstance(data, dict) and "bdata" in data:
        import base64

        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=np.dtype(data["dtype"]))
    return np.asarray(data, dtype=float)


def test_experiment_verdict_follows_the_locale(open_app: Open, analytics_store: Path) -> None:
    from prefect_journeys.analytics.experiments import journey_experiment

    at = open_app(analytics_store, "experiments", locale="zh-CN")
    for conn in _connect(analytics_store):
        _, verdict = journey_experiment(conn, "welcome_series", holdouts=("holdout",))
    assert verdict.text("zh-CN").replace("\n", "\n\n") in [i.value for i in at.info]
    assert "实验" in [t.value for t in at.title]


BANDIT = """
id: bandit_test
entry: {event: signed_up}
goal: {event: purchase, within: 3d}
steps:
  - id: ab
    mode: bandit
    split:
      - {variant: a, weight: 45}
      - {variant: b, weight: 45}
      - {variant: holdout, weight: 10}
"""


def _allocation(tick: int, a: tuple[int, int, int], b: tuple[int, int, int]) -> dict[str, Any]:
    arms = [
        {
            "variant": name,
            "enrollments": n,
            "conversions": x,
            "prob_best": w / 90,
            "share": w / 90,
            "weight": w,
        }
        for name, (n, x, w) in (("a", a), ("b", b))
    ]
    return {
        "source_id": f"test-allocation-{tick}",
        "customer_id": "",  # as the engine writes it: no customer
        "name": "experiment.allocation",
        "occurred_at": datetime(2026, 1, 6, tick),
        "received_at": datetime(2026, 1, 6, tick),
        "properties": {
            "step_id": "ab",
            "mode": "bandit",
            "arms": arms,
            "holdouts": [{"variant": "holdout", "weight": 10}],
        },
        "journey_id": "bandit_test",
        "journey_version": 1,
        "step_id": "ab",
    }


def test_experiments_page_draws_a_bandit_allocation(
    open_app: Open, demo_store: Path, tmp_path: Path
) -> None:
    import sqlite3

    from sqlalchemy import insert

    from prefect_journeys.analytics.experiments import allocation_history
    from prefect_journeys.store.models import Event

    project = tmp_path / "project"
    (project / "journeys").mkdir(parents=True)
    (project / "journeys" / "bandit_test.yaml").write_text(BANDIT)
    store = tmp_path / "bandit.db"
    with sqlite3.connect(demo_store) as source, sqlite3.connect(store) as target:
        source.backup(target)
    rows = [_allocation(9, (0, 0, 45), (0, 0, 45)), _allocation(10, (40, 12, 70), (40, 3, 20))]
    engine = make_engine(f"sqlite:///{store}")
    try:
        with engine.begin() as conn:
            conn.execute(insert(Event.__table__), rows)  # type: ignore[attr-defined]
        with engine.connect() as conn:
            events = events_frame(conn, journey_id="bandit_test", columns=EVENT_COLUMNS)
    finally:
        engine.dispose()
    expected = allocation_history(events)
    assert len(expected) == 6

    at = open_app(store, "experiments", project=project)
    assert at.selectbox(key="exp-journey").value == "bandit_test"
    assert any("no enrollment" in i.value.lower() for i in at.info)  # nobody split yet

    # the allocation shows once the split has enrollments: add them and clear the cache
    engine = make_engine(f"sqlite:///{store}")
    try:
        from prefect_journeys.store.models import Enrollment

        with engine.begin() as conn:
            conn.execute(
                insert(Enrollment.__table__),  # type: ignore[attr-defined]
                [
                    {
                        "journey_id": "bandit_test",
                        "version": 1,
                        "customer_id": f"bandit-{i}",
                        "entry_seq": 1,
                        "triggered_at": datetime(2026, 1, 6, 9),
                        "entered_at": datetime(2026, 1, 6, 9),
                        "state": "completed",
                        "variant": "a" if i % 2 else "b",
                        "converted_at": datetime(2026, 1, 6, 12) if i % 3 == 0 else None,
                        "updated_at": datetime(2026, 1, 6, 12),
                    }
                    for i in range(80)
                ],
            )
    finally:
        engine.dispose()
    at.sidebar.button(key="f_refresh").click().run()  # the refresh button clears the cached figures
    assert not at.exception, [e.message for e in at.exception]
    spec = _chart(at, "experiment-allocation")
    for trace in spec["data"]:
        rows_of = expected[expected["variant"] == trace["name"]]
        np.testing.assert_allclose(_values(trace["y"]), rows_of["weight"].astype(float))
    assert {t["name"] for t in spec["data"]} == {"a", "b", "holdout"}
    assert "allocation-bandit_test.csv" in _downloads(at)


# ----------------------------------------------------------------------------- attribution


def test_attribution_page_equals_attribution_from_store(
    open_app: Open, analytics_store: Path
) -> None:
    from prefect_journeys.analytics.attribution import attribution_from_store
    from prefect_journeys.analytics.attribution_paths import paths_from_store

    at = open_app(analytics_store, "attribution")
    since, until = _bounds(analytics_store)
    for conn in _connect(analytics_store):
        expected = attribution_from_store(conn, since=since, until=until, key="channel")
    assert not expected.empty
    _same(_table(at, "model", "revenue_share"), expected)
    spec = _chart(at, "attribution-models")
    email = next(trace for trace in spec["data"] if trace["name"] == "email")
    assert email["marker"]["color"] == "#1F77B4"  # the channel's colour
    np.testing.assert_allclose(
        _values(email["y"]), expected.loc[expected["key"] == "email", "conversions"], rtol=1e-12
    )

    at.selectbox(key="attr-key").set_value("step").run()
    at.number_input(key="attr-lookback").set_value(2).run()
    at.number_input(key="attr-half-life").set_value(1.0).run()
    assert not at.exception
    for conn in _connect(analytics_store):
        expected = attribution_from_store(
            conn,
            since=since,
            until=until,
            key="step",
            lookback=timedelta(days=2),
            half_life=timedelta(days=1),
        )
        paths = paths_from_store(
            conn, since=since, until=until, key="step", lookback=timedelta(days=2)
        )
    _same(_table(at, "model", "revenue_share"), expected)
    if paths.unattributed_conversions:
        assert any(
            f"{paths.unattributed_conversions:g} conversion(s)" in w.value for w in at.warning
        )
    else:
        assert not at.warning


# ----------------------------------------------------------------------------- cohorts, CLV


def _orders(conn: Connection, until: datetime) -> pd.DataFrame:
    return events_frame(
        conn, names=["purchase", "journey.entered"], until=until, columns=EVENT_COLUMNS
    )


def test_cohorts_page_equals_the_cohort_churn_and_clv_functions(
    open_app: Open, analytics_store: Path
) -> None:
    from prefect_journeys.analytics import churn, clv, cohorts

    at = open_app(analytics_store, "cohorts")
    _, until = _bounds(analytics_store)
    as_of = until - timedelta(microseconds=1)
    for conn in _connect(analytics_store):
        events = _orders(conn, until)
    cards = _metrics(at)
    assert cards["Orders"].value == f"{len(cohorts.purchases(events)):,}"
    assert cards["Repeat rate"].value == f"{cohorts.repeat_rate(events) * 100:.1f}%"
    assert cards["Average order value"].value == f"{cohorts.average_order_value(events):,.2f}"
    rate = churn.churn_rate(events, as_of)
    assert 0 < rate.churned < rate.customers
    assert cards["Churn rate"].value == f"{rate.rate * 100:.1f}%"
    km = churn.churn_survival(events, as_of)
    median = churn.median_survival(km)
    shown_median = cards["Median time to churn (days)"].value
    assert shown_median == ("—" if math.isinf(median) else f"{median:,.1f}")

    retention = cohorts.retention(events, as_of=as_of)
    grid = _table(at, "cohort").set_index("cohort")
    assert list(grid.index) == [str(c) for c in retention.rates.index]
    np.testing.assert_allclose(
        grid.to_numpy(dtype=float), retention.rates.to_numpy(dtype=float), equal_nan=True
    )
    _same(
        _table(at, "journey_id", "revenue_per_entered"),
        cohorts.revenue_per_journey(events).reset_index(),
    )
    survival = _chart(at, "churn-survival")["data"][2]
    np.testing.assert_allclose(_values(survival["y"]), km["survival"], rtol=1e-12)

    value = clv.customer_value(
        events, as_of=datetime.combine(until.date() - timedelta(days=1), time())
    )
    params = {**value.bgnbd.params, **value.gamma_gamma.params}
    text = " ".join(m.value for m in at.markdown)
    for name, number in params.items():
        assert f"{name} = {number:.4g}" in text
    top = _table(at, "customer_id", "clv")
    best = value.customers.sort_values("clv", ascending=False, kind="stable").head(20)
    assert top["customer_id"].tolist() == best.index.tolist()
    np.testing.assert_allclose(top["clv"], best["clv"], rtol=1e-12)
    assert {"retention.csv", "revenue-per-journey.csv", "top-clv.csv"} <= _downloads(at)

    at.number_input(key="coh-churn-days").set_value(30).run()
    assert not at.exception
    rate = churn.churn_rate(events, as_of, threshold=timedelta(days=30))
    assert _metrics(at)["Churn rate"].value == f"{rate.rate * 100:.1f}%"


def test_cohorts_page_shows_why_clv_cannot_be_fitted(open_app: Open, demo_store: Path) -> None:
    from prefect_journeys.analytics import clv

    at = open_app(demo_store, "cohorts")
    _, until = _bounds(demo_store)
    for conn in _connect(demo_store):
        events = _orders(conn, until)
    with pytest.raises(ValueError) as refused:
        clv.customer_value(events, as_of=datetime.combine(until.date() - timedelta(days=1), time()))
    assert any(str(refused.value) in i.value for i in at.info)
    assert "top-clv.csv" not in _downloads(at)

    overview = open_app(demo_store)
    card = _metrics(overview)["Mean predicted CLV"]
    assert card.value == "—"
    assert str(refused.value) in card.proto.help


# ----------------------------------------------------------------------------- overview, journeys


def test_overview_health_cards_equal_nps_churn_and_clv(
    open_app: Open, analytics_store: Path
) -> None:
    from prefect_journeys.analytics import churn, clv
    from prefect_journeys.analytics.nps import nps

    at = open_app(analytics_store)
    since, until = _bounds(analytics_store)
    for conn in _connect(analytics_store):
        replies = events_frame(
            conn, names=["survey.answered"], since=since, until=until, columns=EVENT_COLUMNS
        )
        events = _orders(conn, until)
    score = float(nps(replies)["nps"].iloc[0])
    assert score == pytest.approx(25.0)  # 4 promoters, 2 detractors of 8 replies
    cards = _metrics(at)
    assert cards["NPS"].value == f"{score:+.1f}"
    rate = churn.churn_rate(events, until - timedelta(microseconds=1))
    assert cards["Churn rate (90 days)"].value == f"{rate.rate * 100:.1f}%"
    value = clv.customer_value(
        events, as_of=datetime.combine(until.date() - timedelta(days=1), time())
    )
    assert cards["Mean predicted CLV"].value == f"{value.customers['clv'].mean():,.2f}"


def test_journeys_page_adds_the_periods_step_statistics(
    open_app: Open, analytics_store: Path
) -> None:
    from prefect_journeys.analytics.friction import gaps, step_drop_off
    from prefect_journeys.analytics.nps import nps
    from prefect_journeys.analytics.steps import step_stats, time_to_convert
    from prefect_journeys.definition.project import Project

    at = open_app(analytics_store, "journeys")
    at.sidebar.selectbox(key="f_journey").set_value("welcome_series").run()
    assert not at.exception
    since, until = _bounds(analytics_store)
    for conn in _connect(analytics_store):
        events = events_frame(conn, journey_id="welcome_series", since=since, until=until)
        replies = events_frame(
            conn, names=["survey.answered"], since=since, until=until, columns=EVENT_COLUMNS
        )
    _same(_table(at, "step_id", "entries", "delivery_rate"), step_stats(events))
    _same(_table(at, "step_id", "lost_rate"), step_drop_off(events).head(5))
    targets = Project.load(ROOT).journeys["welcome_series"].journey.targets
    assert targets is not None
    _same(
        _table(at, "kind", "metric", "target"), gaps(events, targets, journey_id="welcome_series")
    )
    ttc = time_to_convert(events)
    cards = _metrics(at)
    assert cards["Conversions"].value == str(int(ttc["conversions"].iloc[0]) if len(ttc) else 0)
    by_journey = nps(replies, by_journey=True).set_index("journey_id")
    assert cards["NPS"].value == f"{float(by_journey['nps'].to_dict()['welcome_series']):+.1f}"

    at.sidebar.selectbox(key="f_channel").set_value("email").run()
    assert not at.exception
    expected = step_stats(events, by=["channel"])
    expected = expected[expected["channel"] == "email"].drop(columns="channel")
    _same(_table(at, "step_id", "entries", "delivery_rate"), expected)


# ----------------------------------------------------------------------------- empty store, locale


@pytest.mark.parametrize("page", NEW_PAGES)
def test_new_pages_show_guidance_on_an_empty_store(
    open_app: Open, empty_store: Path, page: str
) -> None:
    at = open_app(empty_store, page)
    assert any("no events yet" in w.value for w in at.warning)
    assert not at.metric and not at.dataframe and not at.get("plotly_chart")


def test_new_pages_have_chinese_labels(open_app: Open, analytics_store: Path) -> None:
    titles = {"experiments": "实验", "attribution": "归因", "cohorts": "同期群与客户终身价值"}
    for page, title in titles.items():
        at = open_app(analytics_store, page, locale="zh-CN")
        assert title in [t.value for t in at.title], page
    assert "流失率" in _metrics(at)
