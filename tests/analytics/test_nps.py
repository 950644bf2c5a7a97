"""NPS and CSAT: hand-computed figures, invalid scores, attribution, and DuckDB SQL as a second
computation over the same replies."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
import pytest

from prefect_journeys.analytics.nps import csat, nps, score_distribution, survey_replies

T0 = datetime(2026, 3, 2, 9)  # a Monday


def reply(
    score: Any,
    survey: str = "nps",
    day: int = 0,
    journey: str | None = None,
    row_journey: Any = None,
) -> dict[str, Any]:
    props: dict[str, Any] = {"survey": survey, "score": score}
    if journey:
        props["journey_id"] = journey
    return {
        "customer_id": "c",
        "name": "survey.answered",
        "occurred_at": T0 + timedelta(days=day),
        "properties": props,
        "journey_id": row_journey,
    }


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    noise = {"customer_id": "c", "name": "purchase", "occurred_at": T0, "properties": {"score": 1},
             "journey_id": None}  # fmt: skip
    return pd.DataFrame([*rows, noise])


def test_nps_hand_computed_with_invalid_scores_counted_not_mixed_in() -> None:
    scores: list[Any] = [10, 9, "9", 8, 7, 6, 0, 3, 11, -1, 7.5, None, "great", True]
    got = nps(frame([reply(s) for s in scores])).iloc[0]
    # valid: 10, 9, "9" (promoters) · 8, 7 (passives) · 6, 0, 3 (detractors); 6 invalid
    assert got[["replies", "promoters", "passives", "detractors", "invalid"]].tolist() == [
        8, 3, 2, 3, 6
    ]  # fmt: skip
    assert got["nps"] == 0.0
    got = nps(frame([reply(s) for s in (10, 10, 10, 2)])).iloc[0]
    assert got["nps"] == 50.0


def test_csat_hand_computed() -> None:
    rows = [reply(s, "csat") for s in (5, 4, 4, 3, 1, 0, 6, 4.5)] + [reply(10)]  # last one is NPS
    got = csat(frame(rows)).iloc[0]
    assert got[["replies", "satisfied", "invalid"]].tolist() == [5, 3, 3]
    assert got["csat"] == pytest.approx(0.6)


def test_journey_attribution_and_periods() -> None:
    rows = [
        reply(10, journey="welcome", row_journey="winback"),  # the property wins
        reply(0, row_journey="winback"),
        reply(9, day=7),
        reply(9, day=8, journey="welcome"),
    ]
    replies = survey_replies(frame(rows))
    assert replies["journey_id"].fillna("-").tolist() == ["welcome", "winback", "-", "welcome"]
    per_journey = nps(frame(rows), by_journey=True)
    figures = dict(zip(per_journey["journey_id"].fillna("-"), per_journey["nps"], strict=True))
    assert figures == {"welcome": 100.0, "winback": -100.0, "-": 100.0}
    weekly = nps(frame(rows), period="week")
    assert weekly["period"].dt.strftime("%m-%d").tolist() == ["03-02", "03-09"]
    assert weekly["nps"].tolist() == [0.0, 100.0]


def test_score_distribution_lists_the_whole_scale() -> None:
    dist = score_distribution(frame([reply(s) for s in (10, 10, 0, 99)]))
    assert dist["score"].tolist() == list(range(11))
    assert dist["replies"].tolist() == [1] + [0] * 9 + [2]
    assert dist["share"].iloc[10] == pytest.approx(2 / 3)
    other = score_distribution(frame([reply(3.5, "ces"), reply(2, "ces")]), "ces")
    assert other["score"].tolist() == [2.0, 3.5]


def test_empty_and_bad_input() -> None:
    empty = frame([])
    got = nps(empty).iloc[0]
    assert got["replies"] == 0 and np.isnan(got["nps"])
    assert csat(empty)["replies"].tolist() == [0]
    assert nps(empty, by_journey=True).empty
    with pytest.raises(ValueError, match="missing column"):
        nps(empty.drop(columns=["properties"]))
    with pytest.raises(ValueError, match="period"):
        nps(empty, period="hour")


def test_nps_and_csat_equal_duckdb_sql() -> None:
    duckdb = pytest.importorskip("duckdb")
    rng = np.random.default_rng(3)
    rows = []
    for _ in range(3000):
        survey = str(rng.choice(["nps", "csat"]))
        score: Any = int(rng.integers(-1, 12)) if survey == "nps" else int(rng.integers(0, 7))
        if rng.random() < 0.03:
            score = "n/a"
        rows.append(
            reply(
                score,
                survey,
                day=int(rng.integers(0, 60)),
                journey=str(rng.choice(["a", "b", ""])) or None,
            )
        )
    events = frame(rows)
    flat = survey_replies(events)[["survey", "journey_id", "occurred_at"]]
    flat["raw"] = [str(p["score"]) for p in events["properties"].iloc[:-1]]
    con = duckdb.connect()
    con.register("r", flat)
    sql = """
      with s as (select *, try_cast(raw as integer) as v, date_trunc('week', occurred_at) as period
                 from r where survey = '{survey}'),
           k as (select *, v is not null and v between {lo} and {hi} as ok from s)
      select journey_id, period, count(*) filter (where ok) as replies,
             count(*) filter (where not ok) as invalid, {figure} as figure
      from k group by all order by all"""
    nps_sql = "100.0 * (count(*) filter (where ok and v >= 9) - count(*) filter (where ok and v <= 6)) / count(*) filter (where ok)"  # noqa: E501
    ref = con.sql(sql.format(survey="nps", lo=0, hi=10, figure=nps_sql)).df()
    mine = nps(events, period="week", by_journey=True)
    mine = mine.sort_values(["journey_id", "period"], na_position="last").reset_index(drop=True)
    assert mine["replies"].tolist() == ref["replies"].tolist()
    assert mine["invalid"].tolist() == ref["invalid"].tolist()
    np.testing.assert_allclose(mine["nps"], ref["figure"], rtol=1e-12)
    csat_sql = "1.0 * count(*) filter (where ok and v >= 4) / count(*) filter (where ok)"
    ref = con.sql(sql.format(survey="csat", lo=1, hi=5, figure=csat_sql)).df()
    mine = csat(events, period="week", by_journey=True)
    mine = mine.sort_values(["journey_id", "period"], na_position="last").reset_index(drop=True)
    assert mine["replies"].tolist() == ref["replies"].tolist()
    np.testing.assert_allclose(mine["csat"], ref["figure"], rtol=1e-12)


def test_the_simulation_answers_surveys_after_purchases(sqlite_engine: Any) -> None:
    from sqlalchemy import text

    from prefect_journeys.analytics.frames import EVENT_COLUMNS, events_frame
    from prefect_journeys.simulation.behaviour import BehaviourModel
    from prefect_journeys.store.writes import insert_events

    rows = []
    for i in range(300):
        when = T0 + timedelta(minutes=7 * i)
        rows.append(
            {
                "source_id": f"buy:{i}",
                "customer_id": f"c{i}",
                "name": "purchase",
                "occurred_at": when,
                "properties": {"amount": 10},
                "value": 10,
            }
        )
        if i % 3 == 0:  # a journey converted this purchase
            rows.append(
                {
                    "source_id": f"conv:{i}",
                    "customer_id": f"c{i}",
                    "name": "journey.converted",
                    "occurred_at": when,
                    "journey_id": "welcome",
                    "variant": "a",
                    "enrollment_id": i,
                }
            )
    with sqlite_engine.begin() as conn:
        insert_events(conn, rows)
    model = BehaviourModel(5)
    hours = [T0 + timedelta(hours=h) for h in range(0, 24 * 6, 5)]
    with sqlite_engine.begin() as conn:
        written = sum(model.surveys(conn, a, b)["survey.answered"] for a, b in pairwise(hours))
        again = model.surveys(conn, hours[0], hours[-1])["survey.answered"]  # deduplicated
        events = events_frame(conn, names=["survey.answered"], columns=EVENT_COLUMNS)
        late = conn.execute(
            text(
                "select count(*) from events r join events p on p.name = 'purchase'"
                " and r.source_id = 'sim:survey:' || p.source_id"
                " where r.name = 'survey.answered' and (r.occurred_at <= p.occurred_at)"
            )
        ).scalar_one()
    replies = survey_replies(events)
    assert 60 < written == len(replies) < 150 and again == 0 and late == 0  # ~35% answer
    assert replies["valid"].all() and set(replies["survey"]) == {"nps", "csat"}
    converted = {f"c{i}" for i in range(0, 300, 3)}
    attributed = replies["journey_id"].notna()
    assert set(replies.loc[attributed, "customer_id"]) <= converted
    assert set(replies.loc[~attributed, "customer_id"]).isdisjoint(converted)
    assert attributed.any() and (~attributed).any()
