"""Maintained rollups: after many incremental runs interleaved with writes (late events, duplicate
opens, several journeys, variants and channels) they equal a full rebuild and an independent
pandas computation, on SQLite and Postgres; concurrent runs and late commits count once; the
report from rollups equals ``journey_report``."""

from __future__ import annotations

import random
import threading
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, select, text

from prefect_journeys.analytics.frames import events_frame
from prefect_journeys.analytics.report import journey_report
from prefect_journeys.analytics.rollup_read import ROLLUP_COLUMNS, daily_frame, rollup_report
from prefect_journeys.analytics.rollups import _advance, rollup_watermark, run_rollup
from prefect_journeys.store import make_engine
from prefect_journeys.store.models import Event, RollupState
from prefect_journeys.store.writes import insert_events

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 1)
JOURNEYS = ("welcome", "winback", None)
STEPS = {"welcome": [("hello", "awareness"), ("offer", "decision")], "winback": [("nudge", None)]}
VARIANTS = ("a", "b", "holdout", None)
CHANNELS = ("email", "sms", None)
MESSAGE_NAMES = ("message.sent", "message.delivered", "message.opened", "message.clicked")
KEY = ["day", "journey_id", "journey_version", "step_id", "stage", "variant", "channel", "name"]


class EventMaker:
    """Random but plausible events: intents opened several times, late events days back."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n = 0
        self.intents: list[dict[str, Any]] = []

    def _base(self, name: str, customer: str, when: datetime, **extra: Any) -> dict[str, Any]:
        self.n += 1
        return {
            "source_id": f"ev{self.n}",
            "customer_id": customer,
            "name": name,
            "occurred_at": when,
            **extra,
        }

    def when(self) -> datetime:
        return T0 + timedelta(minutes=self.rng.randrange(0, 12 * 24 * 60))

    def event(self) -> dict[str, Any]:
        rng = self.rng
        customer = f"c{rng.randrange(40)}"
        journey = rng.choice(JOURNEYS)
        when = self.when()
        if journey is None:
            name = rng.choice(["purchase", "signed_up", "purchase"])
            value = round(rng.uniform(5, 100), 2) if name == "purchase" else None
            return self._base(name, customer, when, value=value)
        step, stage = rng.choice(STEPS[journey])
        enrollment = rng.randrange(1, 30) + (100 if journey == "winback" else 0)
        common = {
            "journey_id": journey,
            "journey_version": rng.choice([1, 2]),
            "step_id": step,
            "stage": stage,
            "variant": rng.choice(VARIANTS),
            "enrollment_id": enrollment,
        }
        roll = rng.random()
        if roll < 0.25:
            return self._base("journey.step", customer, when, **common)
        if roll < 0.3:
            name = rng.choice(["journey.entered", "journey.converted", "journey.exited"])
            value = float(rng.randrange(60, 9000)) if name == "journey.converted" else None
            common = {**common, "step_id": None, "stage": None}
            return self._base(name, customer, when, value=value, **common)
        if self.intents and roll < 0.75:  # a later (or late) event about an existing message
            intent = rng.choice(self.intents)
            name = rng.choice(MESSAGE_NAMES[1:])
            return self._base(name, intent["customer_id"], when, **intent["extra"])
        extra = {**common, "channel": rng.choice(CHANNELS)}
        if rng.random() < 0.1:  # a message event without an intent: counted per event
            return self._base(rng.choice(MESSAGE_NAMES), customer, when, **extra)
        extra["intent_id"] = len(self.intents) + 1
        self.intents.append({"customer_id": customer, "extra": extra})
        return self._base("message.sent", customer, when, **extra)

    def batch(self, size: int) -> list[dict[str, Any]]:
        return [self.event() for _ in range(size)]


def rollup_rows(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = daily_frame(conn)
    return frame.sort_values(KEY).reset_index(drop=True)


def expected_rows(engine: Engine) -> pd.DataFrame:
    """The rollup table computed independently, in pandas, from the event log."""
    with engine.connect() as conn:
        events = events_frame(conn)
    df = events.sort_values(["occurred_at", "seq"]).reset_index(drop=True)
    df["day"] = df["occurred_at"].dt.date
    for column in ("journey_id", "step_id", "stage", "variant", "channel"):
        df[column] = df[column].fillna("").astype(str)
    df["journey_version"] = df["journey_version"].fillna(0).astype("int64")
    df["value"] = df["value"].astype("float64")
    has_intent = df["intent_id"].notna()
    has_enrollment = df["enrollment_id"].notna()
    df["new_customers"] = ~df.duplicated(["journey_id", "name", "customer_id"])
    df["new_stage_enrollments"] = has_enrollment & ~df.duplicated(
        ["journey_id", "enrollment_id", "name", "stage"]
    )
    df["new_step_enrollments"] = has_enrollment & ~df.duplicated(
        ["journey_id", "enrollment_id", "name", "step_id"]
    )
    df["new_messages"] = ~has_intent | ~df.duplicated(
        ["journey_id", "step_id", "intent_id", "name"]
    )
    df["no_intent"] = ~has_intent
    grouped = df.groupby(KEY, dropna=False)
    out = grouped.agg(
        events=("seq", "size"),
        customers=("customer_id", "nunique"),
        enrollments=("enrollment_id", "nunique"),
        intents=("intent_id", "nunique"),
        no_intent=("no_intent", "sum"),
        new_customers=("new_customers", "sum"),
        new_stage_enrollments=("new_stage_enrollments", "sum"),
        new_step_enrollments=("new_step_enrollments", "sum"),
        new_messages=("new_messages", "sum"),
        value_sum=("value", "sum"),
        first_seq=("seq", "min"),
        last_seq=("seq", "max"),
    ).reset_index()
    out["messages"] = out["intents"] + out["no_intent"]
    out = out[list(ROLLUP_COLUMNS)]
    for column in out.columns:
        if column not in (*KEY, "value_sum"):
            out[column] = out[column].astype("int64")
    return out.sort_values(KEY).reset_index(drop=True)


def assert_same(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        actual.drop(columns="value_sum"), expected.drop(columns="value_sum"), check_dtype=False
    )
    assert actual["value_sum"].round(6).tolist() == expected["value_sum"].round(6).tolist()


def write(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        insert_events(conn, rows)


# ----------------------------------------------------------------------------- incremental


def test_many_incremental_runs_equal_a_full_rebuild_and_pandas(engine: Engine) -> None:
    maker = EventMaker(seed=5)
    rng = random.Random(11)
    runs = 0
    for _ in range(25):
        write(engine, maker.batch(rng.randrange(1, 60)))
        ran = rng.random() < 0.8
        if ran:
            result = run_rollup(engine)
            runs += 1
            assert result.events > 0 and result.watermark_to == result.high_seq
        if ran and rng.random() < 0.3:  # a run with nothing new changes nothing
            again = run_rollup(engine)
            assert (again.events, again.rows_deleted, again.rows_inserted) == (0, 0, 0)
    run_rollup(engine)
    incremental = rollup_rows(engine)
    oracle = expected_rows(engine)
    assert len(oracle) > 100 and runs > 10
    assert_same(incremental, oracle)
    full = run_rollup(engine, full=True)
    assert full.full and full.rows_inserted == len(oracle)
    assert_same(rollup_rows(engine), oracle)
    with engine.connect() as conn:
        assert rollup_watermark(conn) == full.high_seq


def test_a_late_open_moves_the_first_open_to_its_day(engine: Engine) -> None:
    base = {"journey_id": "j", "journey_version": 1, "step_id": "s", "intent_id": 7}
    day5 = T0 + timedelta(days=5, hours=9)
    write(
        engine,
        [
            {"source_id": "sent", "customer_id": "c", "name": "message.sent", **base,
             "occurred_at": T0 + timedelta(days=1)},
            {"source_id": "open1", "customer_id": "c", "name": "message.opened", **base,
             "occurred_at": day5},
            {"source_id": "open2", "customer_id": "c", "name": "message.opened", **base,
             "occurred_at": day5 + timedelta(hours=1)},
        ],
    )  # fmt: skip
    run_rollup(engine)
    opened = _opened_by_day(engine)
    assert opened == {date(2026, 3, 6): (2, 1, 1)}  # events, distinct that day, first opens
    late = T0 + timedelta(days=3, hours=8)  # arrives now, happened two days before the others
    write(engine, [{"source_id": "open0", "customer_id": "c", "name": "message.opened", **base,
                    "occurred_at": late}])  # fmt: skip
    result = run_rollup(engine)
    assert result.events == 1 and result.partitions == 2  # day 3 (new) and day 5 (lost first)
    assert _opened_by_day(engine) == {date(2026, 3, 4): (1, 1, 1), date(2026, 3, 6): (2, 1, 0)}
    assert_same(rollup_rows(engine), expected_rows(engine))


def _opened_by_day(engine: Engine) -> dict[date, tuple[int, int, int]]:
    frame = rollup_rows(engine)
    opened = frame[frame["name"] == "message.opened"]
    return {
        r.day: (int(r.events), int(r.messages), int(r.new_messages))
        for r in opened.itertuples(index=False)
    }


def test_empty_store_and_bad_parameters(engine: Engine) -> None:
    result = run_rollup(engine)
    assert (result.events, result.partitions, result.rows_inserted, result.watermark_to) == (
        0,
        0,
        0,
        0,
    )
    assert run_rollup(engine, full=True).rows_inserted == 0
    with engine.connect() as conn:
        assert daily_frame(conn).empty
        assert rollup_report(conn, "welcome") == journey_report(conn, "welcome")
        with pytest.raises(ValueError, match="until"):
            daily_frame(conn, since=date(2026, 3, 2), until=date(2026, 3, 1))
    with pytest.raises(ValueError, match="gap_grace"):
        run_rollup(engine, gap_grace=timedelta(seconds=-1))


# ----------------------------------------------------------------------------- gaps, concurrency


def test_the_watermark_stops_below_a_young_gap() -> None:
    now = datetime(2026, 3, 1, 12)
    grace = timedelta(minutes=10)
    # a gap seen for the first time: the watermark stays below it and remembers it
    mark, gaps = _advance([(5, 6)], [], 20, now, grace)
    assert mark == 4 and gaps == [[5, 6, now.isoformat()]]
    # still young five minutes later: same watermark, first-seen time kept
    later = now + timedelta(minutes=5)
    assert _advance([(5, 6)], gaps, 20, later, grace) == (4, gaps)
    # older than the grace: taken as burnt seqs, passed
    mark, kept = _advance([(5, 6), (15, 15)], gaps, 20, now + timedelta(minutes=11), grace)
    assert mark == 14 and [g[:2] for g in kept] == [[15, 15]]
    # filled in (the transaction committed): no gap any more
    assert _advance([], gaps, 20, later, grace) == (20, [])


def test_a_transaction_that_commits_late_is_not_missed(pg_engine: Engine) -> None:
    """Postgres hands out seqs at insert: a lower seq can become visible after a higher one."""
    engine = pg_engine
    maker = EventMaker(seed=2)
    write(engine, maker.batch(20))
    run_rollup(engine)
    slow = engine.connect()
    tx = slow.begin()
    insert_events(slow, maker.batch(3))  # holds the next seqs, not committed yet
    write(engine, maker.batch(5))  # higher seqs, committed first
    first = run_rollup(engine)
    assert first.open_gaps == 1 and first.watermark_to < first.high_seq
    tx.commit()
    slow.close()
    second = run_rollup(engine)
    assert second.events == 8 and second.watermark_to == second.high_seq
    assert_same(rollup_rows(engine), expected_rows(engine))


def test_burnt_seqs_are_passed_after_the_grace(pg_engine: Engine) -> None:
    engine = pg_engine
    maker = EventMaker(seed=3)
    write(engine, maker.batch(10))
    with engine.connect() as conn, conn.begin() as tx:  # rolled back: its seqs never appear
        insert_events(conn, maker.batch(2))
        tx.rollback()
    write(engine, maker.batch(4))
    now = datetime(2026, 3, 20)
    assert run_rollup(engine, now=now).open_gaps == 1
    done = run_rollup(engine, now=now + timedelta(minutes=11))
    assert done.watermark_to == done.high_seq and done.open_gaps == 0
    assert_same(rollup_rows(engine), expected_rows(engine))


def test_two_runs_at_once_count_once(engine: Engine) -> None:
    maker = EventMaker(seed=9)
    write(engine, maker.batch(150))
    run_rollup(engine)
    write(engine, maker.batch(150))
    errors: list[BaseException] = []
    results = []

    def go() -> None:
        try:
            results.append(run_rollup(engine))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(r.events for r in results) == [0, 150]
    assert_same(rollup_rows(engine), expected_rows(engine))
    with engine.connect() as conn:
        state = conn.execute(select(RollupState.__table__.c.watermark)).scalar_one()  # type: ignore[attr-defined]
        top = conn.execute(select(Event.__table__.c.seq).order_by(text("seq desc"))).first()  # type: ignore[attr-defined]
    assert top is not None and state == top[0]


# ----------------------------------------------------------------------------- reports


def test_report_from_rollups_equals_journey_report(engine: Engine) -> None:
    maker = EventMaker(seed=21)
    rng = random.Random(4)
    for _ in range(8):
        write(engine, maker.batch(rng.randrange(20, 80)))
        run_rollup(engine)
    with engine.connect() as conn:
        for journey in ("welcome", "winback"):
            direct = journey_report(conn, journey)
            assert direct["steps"] and (direct["funnel"] or journey == "winback")
            assert rollup_report(conn, journey) == direct
            ordered = {"stages": ["decision", "awareness"], "steps": ["offer"]}
            assert rollup_report(conn, journey, **ordered) == journey_report(
                conn, journey, **ordered
            )


def test_period_figures_count_each_first_occurrence_once(engine: Engine) -> None:
    """Opens counted on the day of an intent's first open: period sums add up to the total."""
    maker = EventMaker(seed=8)
    write(engine, maker.batch(400))
    run_rollup(engine)
    with engine.connect() as conn:
        whole = rollup_report(conn, "welcome")
        cut = date(2026, 3, 6)
        early = rollup_report(conn, "welcome", until=cut)
        late = rollup_report(conn, "welcome", since=cut)
        events = events_frame(conn, journey_id="welcome", names=["message.opened"])
    for column in ("opened", "clicked", "entered", "sent"):
        assert [s[column] for s in whole["steps"]] == [
            _step(early, s["step_id"], column) + _step(late, s["step_id"], column)
            for s in whole["steps"]
        ]
    first_open = events.sort_values(["occurred_at", "seq"]).drop_duplicates("intent_id")
    opened_early = first_open[first_open["occurred_at"] < pd.Timestamp(cut)]
    expected = opened_early.groupby("step_id")["intent_id"].nunique().to_dict()
    assert {s["step_id"]: s["opened"] for s in early["steps"] if s["opened"]} == expected


def _step(report: dict[str, Any], step_id: str, column: str) -> int:
    return next((int(s[column]) for s in report["steps"] if s["step_id"] == step_id), 0)


@pytest.mark.slow
def test_rollups_after_every_simulated_day_reproduce_the_demo_report(tmp_path: Path) -> None:
    """The real engine on a simulated store (300 customers, 3 days), rolled up after each day."""
    from prefect_journeys.cli.simulate_cmds import run_demo

    store = tmp_path / "demo.db"
    engine = make_engine(f"sqlite:///{store}")
    runs: list[int] = []

    def day_then_rollup(simulation: Any, day: int) -> int:
        written = int(simulation.run_day(day))
        runs.append(run_rollup(engine).events)
        return written

    figures = run_demo(
        project=ROOT, customers=300, days=3, seed=7, store=store, run_day=day_then_rollup
    )
    run_rollup(engine)
    assert len(runs) == 3 and all(n > 0 for n in runs)
    with engine.connect() as conn:
        for journey_id, shown in figures["journeys"].items():
            direct = journey_report(conn, journey_id)
            assert rollup_report(conn, journey_id) == direct
            assert direct["totals"] == shown["totals"]
            assert sum(s["sent"] for s in direct["steps"]) > 0
    assert_same(rollup_rows(engine), expected_rows(engine))
    engine.dispose()
