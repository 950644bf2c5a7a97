"""Step statistics, stage funnel and time to convert: hand-computed cases, DuckDB for the
quantiles, and the existing SQL report on a simulated store."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from prefect_journeys.analytics.steps import (
    journey_step_summary,
    period_start,
    stage_funnel,
    step_stats,
    time_to_convert,
)

T0 = datetime(2026, 3, 2, 9)  # a Monday
J = "welcome"


class Log:
    """Builds an events frame row by row (minutes after T0)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, name: str, enrollment: int, minute: float, **extra: Any) -> None:
        self.rows.append(
            {
                "seq": len(self.rows) + 1,
                "customer_id": f"c{enrollment}",
                "name": name,
                "occurred_at": T0 + timedelta(minutes=minute),
                "journey_id": extra.pop("journey_id", J),
                "journey_version": extra.pop("journey_version", 1),
                "enrollment_id": enrollment,
                "step_id": extra.pop("step_id", None),
                "stage": extra.pop("stage", None),
                "variant": extra.pop("variant", None),
                "channel": extra.pop("channel", None),
                "intent_id": extra.pop("intent_id", None),
                "value": extra.pop("value", None),
            }
        )

    def step(
        self, e: int, minute: float, step_id: str, stage: str | None, variant: str = "a"
    ) -> None:
        self.add("journey.step", e, minute, step_id=step_id, stage=stage, variant=variant)

    def message(
        self, kind: str, e: int, minute: float, step_id: str, intent: int, variant: str = "a"
    ) -> None:
        self.add(
            f"message.{kind}",
            e,
            minute,
            step_id=step_id,
            intent_id=intent,
            channel="email",
            variant=variant,
        )

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)


def sample() -> pd.DataFrame:
    log = Log()
    for e in (1, 2, 3, 4):
        log.add("journey.entered", e, 0, variant="a")
        log.step(e, 0, "hello", "awareness")
        log.message("sent", e, 0, "hello", 100 + e)
        log.message("delivered", e, 1, "hello", 100 + e)
    log.message("opened", 1, 5, "hello", 101)
    log.message("opened", 1, 6, "hello", 101)  # the provider reports the open twice
    log.message("opened", 2, 5, "hello", 102)
    log.message("clicked", 2, 7, "hello", 102)
    log.message("suppressed", 4, 0, "hello", 204)
    log.message("quarantined", 3, 0, "hello", 303)
    for e in (1, 2, 3):
        log.step(e, 60, "offer", "decision")
    log.step(1, 90, "offer", "decision")  # back at the offer: one more entry, same enrollment
    log.add("journey.converted", 2, 30, value=1800.0)  # converted before reaching the offer
    log.add("journey.converted", 1, 120, value=7200.0)
    log.add("journey.exited", 3, 70)  # while at the offer
    log.add("journey.exited", 4, 10)  # while at hello
    return log.frame()


def by_step(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {row["step_id"]: row for row in table.to_dict("records")}


def test_step_stats_hand_computed() -> None:
    got = by_step(step_stats(sample()))
    hello, offer = got["hello"], got["offer"]
    assert hello["stage"] == "awareness" and offer["stage"] == "decision"
    assert (hello["entries"], hello["entered"]) == (4, 4)
    assert (offer["entries"], offer["entered"]) == (4, 3)
    assert (hello["sent"], hello["delivered"], hello["opened"], hello["clicked"]) == (4, 4, 2, 1)
    assert (hello["suppressed"], hello["quarantined"]) == (1, 1)
    assert (hello["converted"], offer["converted"]) == (2, 1)  # e2 converted before the offer
    assert (hello["exited"], offer["exited"]) == (1, 1)
    assert hello["open_rate"] == 0.5 and hello["click_rate"] == 0.25
    assert hello["delivery_rate"] == 1.0 and hello["conversion_rate"] == 0.5
    assert np.isnan(offer["open_rate"])  # nothing delivered there
    assert list(got) == ["hello", "offer"]


def test_step_stats_by_variant_channel_and_day() -> None:
    events = sample()
    events.loc[events["enrollment_id"] == 4, "variant"] = "b"
    table = step_stats(events, by=["variant", "channel"], period="day")
    assert set(table.columns[:4]) == {"journey_id", "variant", "channel", "period"}
    rows = {(r["variant"], r["step_id"]): r for r in table.to_dict("records")}
    assert rows[("a", "hello")]["entered"] == 3 and rows[("b", "hello")]["entered"] == 1
    assert rows[("b", "hello")]["suppressed"] == 1 and rows[("b", "hello")]["exited"] == 1
    assert rows[("a", "hello")]["channel"] == "email"  # the step's rows take its messages' channel
    assert (table["period"] == pd.Timestamp(T0.date())).all()
    # The next day's open lands in the next day's row.
    extra = pd.DataFrame(
        [
            {
                **events.iloc[-1].to_dict(),
                "name": "message.opened",
                "step_id": "hello",
                "intent_id": 103,
                "channel": "email",
                "variant": "a",
                "enrollment_id": 3,
                "occurred_at": T0 + timedelta(days=1),
            }
        ]
    )
    daily = step_stats(pd.concat([events, extra]), period="day")
    assert daily.groupby("period")["opened"].sum().tolist() == [2, 1]


def test_summary_bundles_the_three_tables() -> None:
    summary = journey_step_summary(sample(), by=["variant"], stages=["awareness", "decision"])
    assert summary["steps"]["entered"].tolist() == [4, 3]
    assert summary["stages"]["enrollments"].tolist() == [4, 3]
    assert summary["time_to_convert"]["conversions"].tolist() == [2]


def test_time_to_convert_falls_back_on_the_engine_figure_without_the_entry() -> None:
    events = sample()
    events.loc[events["name"] == "journey.converted", "value"] = [100.0, 300.0]
    assert time_to_convert(events)["median_seconds"].tolist() == [4500.0]  # entries present
    no_entry = events[~((events["name"] == "journey.entered") & (events["enrollment_id"] == 1))]
    assert time_to_convert(no_entry)["median_seconds"].tolist() == [(1800 + 300) / 2]


def test_stage_funnel_per_variant_and_day() -> None:
    events = sample()
    events.loc[events["enrollment_id"] == 4, "variant"] = "b"
    table = stage_funnel(events, by=["variant"], period="day")
    rows = {(r["variant"], r["stage"]): r for r in table.to_dict("records")}
    assert rows[("a", "decision")]["enrollments"] == 3
    assert rows[("a", "decision")]["rate_from_previous"] == 1.0
    assert rows[("b", "decision")]["enrollments"] == 0
    assert rows[("b", "awareness")]["entered"] == 1


def test_periods() -> None:
    when = pd.Series(pd.to_datetime(["2026-03-04 10:00", "2026-03-08 23:59", "2026-03-09 00:00"]))
    assert period_start(when, "week").dt.strftime("%m-%d").tolist() == ["03-02", "03-02", "03-09"]
    assert period_start(when, "month").dt.strftime("%m-%d").tolist() == ["03-01"] * 3
    assert period_start(when, "day").dt.strftime("%m-%d").tolist() == ["03-04", "03-08", "03-09"]


def test_stage_funnel_hand_computed() -> None:
    funnel = stage_funnel(sample(), stages=["awareness", "consideration", "decision"])
    assert funnel["stage"].tolist() == ["awareness", "consideration", "decision"]
    assert funnel["enrollments"].tolist() == [4, 0, 3]
    assert funnel["entered"].tolist() == [4, 4, 4]
    assert funnel["rate_from_entered"].tolist() == [1.0, 0.0, 0.75]
    assert np.isnan(funnel["rate_from_previous"][0]) and funnel["rate_from_previous"][1] == 0.0
    assert np.isnan(funnel["rate_from_previous"][2])  # nobody in consideration to convert from
    default = stage_funnel(sample())
    assert default["stage"].tolist() == ["awareness", "decision"]
    assert default["rate_from_previous"].tolist()[1] == 0.75


def test_time_to_convert_median_p90_and_duckdb() -> None:
    got = time_to_convert(sample())
    assert got["conversions"].tolist() == [2]
    assert got["median_seconds"].tolist() == [(1800 + 7200) / 2]
    assert got["p90_seconds"].tolist() == [1800 + 0.9 * 5400]
    # Many conversions: DuckDB's quantile_cont is the second computation.
    duckdb = pytest.importorskip("duckdb")
    rng = np.random.default_rng(5)
    log = Log()
    for e in range(1, 400):
        log.add("journey.entered", e, 0, variant=str(rng.choice(["a", "b"])))
        if rng.random() < 0.6:
            log.add(
                "journey.converted", e, float(rng.exponential(300)), variant=log.rows[-1]["variant"]
            )
    events = log.frame()
    mine = time_to_convert(events, by=["variant"]).set_index("variant")
    sql = """
        with c as (
          select e.variant, epoch(c.occurred_at) - epoch(e.occurred_at) as s
          from events c join events e using (enrollment_id)
          where c.name = 'journey.converted' and e.name = 'journey.entered')
        select variant, count(*) n, quantile_cont(s, 0.5) med, quantile_cont(s, 0.9) p90
        from c group by variant order by variant"""
    con = duckdb.connect()
    con.register("events", events)
    ref = con.sql(sql).df().set_index("variant")
    assert mine["conversions"].tolist() == ref["n"].tolist()
    np.testing.assert_allclose(mine["median_seconds"], ref["med"], rtol=1e-9)
    np.testing.assert_allclose(mine["p90_seconds"], ref["p90"], rtol=1e-9)


def test_empty_and_bad_input() -> None:
    empty = sample().iloc[0:0]
    assert step_stats(empty).empty
    assert stage_funnel(empty).empty
    assert time_to_convert(empty).empty
    with pytest.raises(ValueError, match="dimension"):
        step_stats(sample(), by=["colour"])
    with pytest.raises(ValueError, match="period"):
        step_stats(sample(), period="year")
    with pytest.raises(ValueError, match="missing column"):
        step_stats(sample().drop(columns=["enrollment_id"]))


# --- agreement with analytics/report.py on a simulated store -----------------------------

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from prefect_journeys.cli.simulate_cmds import run_demo

    store = tmp_path_factory.mktemp("demo") / "demo.db"
    run_demo(project=ROOT, customers=300, days=3, seed=11, store=store)
    return store


@pytest.mark.slow
def test_agrees_with_the_sql_report_on_a_simulated_store(demo_store: Path) -> None:
    from sqlalchemy import create_engine

    from prefect_journeys.analytics.frames import events_frame
    from prefect_journeys.analytics.report import journey_report

    engine = create_engine(f"sqlite:///{demo_store}")
    with engine.connect() as conn:
        events = events_frame(conn)
        journeys = sorted(events["journey_id"].dropna().unique())
        assert journeys
        for journey_id in journeys:
            report = journey_report(conn, journey_id)
            mine = step_stats(events[events["journey_id"] == journey_id])
            ours = {r["step_id"]: r for r in mine.to_dict("records")}
            for row in report["steps"]:
                got = ours[row["step_id"]]
                for column in ("sent", "deferred", "suppressed", "delivered", "opened", "clicked"):
                    assert got[column] == row[column], (journey_id, row["step_id"], column)
                assert got["entries"] == row["entered"], (journey_id, row["step_id"])
                assert got["entered"] <= got["entries"]
            funnel = stage_funnel(events[events["journey_id"] == journey_id])
            theirs = {r["stage"]: r["enrollments"] for r in report["funnel"]}
            assert dict(zip(funnel["stage"], funnel["enrollments"], strict=True)) == theirs
            assert funnel["entered"].iloc[0] == report["totals"]["entered"]
            converted = time_to_convert(events[events["journey_id"] == journey_id])
            total = int(converted["conversions"].sum()) if not converted.empty else 0
            assert total == report["totals"]["converted"]
        # The simulation answers NPS and CSAT surveys after purchases, all with valid scores.
        from prefect_journeys.analytics.frames import EVENT_COLUMNS
        from prefect_journeys.analytics.nps import survey_replies

        replies = survey_replies(
            events_frame(conn, names=["survey.answered"], columns=EVENT_COLUMNS)
        )
    assert len(replies) > 0 and replies["valid"].all()
    assert set(replies["survey"]) <= {"nps", "csat"}
    assert set(replies["journey_id"].dropna()) <= set(journeys)
