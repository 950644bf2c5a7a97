"""Benchmark: the rollups on 1,000,000 events (SQLite, and Postgres when given).

Builds a store of N synthetic events over 60 days (not timed): three journeys with steps,
stages, variants and channels; message intents that are sent, delivered, opened (some twice) and
clicked; conversions; journeyless purchases. Then times, on each backend:

- ``full``: ``run_rollup(full=True)``, every partition from the event log;
- ``incremental``: after M new events of the last 2 days (10 % of them late, up to 20 days
  back; half the message events concern existing intents) ``run_rollup()``: only the
  partitions (journey, name, day) they touch;
- ``noop``: a run with nothing new;
- the dashboard's data load: ``rollup_report`` of the largest journey, against ``journey_report``
  straight from the event log;

and checks that the incremental result equals a full rebuild.

    .venv/bin/python benchmarks/rollups.py                      # 1,000,000 + 10,000, SQLite
    .venv/bin/python benchmarks/rollups.py --events 100000      # quicker
    .venv/bin/python benchmarks/rollups.py --postgres postgresql+psycopg://postgres@127.0.0.1/postgres
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.engine import make_url

from prefect_journeys.analytics.report import journey_report
from prefect_journeys.analytics.rollup_read import daily_frame, rollup_report
from prefect_journeys.analytics.rollups import run_rollup
from prefect_journeys.store import make_engine
from prefect_journeys.store.migrate import ensure_schema
from prefect_journeys.store.models import Event

T = TypeVar("T")
START = datetime(2026, 1, 1)
DAYS = 60
JOURNEYS = ("welcome_series", "cart_abandonment", "winback")
STEPS = {
    "welcome_series": [("welcome", "awareness"), ("tips", "consideration"), ("offer", "decision")],
    "cart_abandonment": [("reminder", "decision"), ("discount", "decision")],
    "winback": [("we_miss_you", "retention"), ("last_chance", "retention")],
}
VARIANTS = np.array(["a", "b", "holdout"], dtype=object)
CHANNELS = np.array(["email", "sms", "whatsapp"], dtype=object)
events_t = Event.__table__  # type: ignore[attr-defined]


def synthetic_events(
    n: int, seed: int, first_id: int = 0, late_share: float = 0.0, days: int = DAYS
) -> pd.DataFrame:
    """About ``n`` events over the last ``days`` of the period: ~25 % journey steps, ~65 %
    message events, purchases and conversions; ``late_share`` of them moved up to 20 days back."""
    rng = np.random.default_rng(seed)
    n_intents = int(n * 0.24)
    n_steps = int(n * 0.2)
    n_other = max(n - n_steps - int(n_intents * 2.7), 0)
    customers = max(n // 10, 10)
    seconds = days * 86400
    first = np.datetime64(START) + np.timedelta64((DAYS - days) * 86400, "s")

    def times(k: int) -> np.ndarray:
        return first + rng.integers(0, seconds, k).astype("timedelta64[s]")

    journey_idx = rng.integers(0, len(JOURNEYS), n_intents)
    frames = []
    # intents: sent; delivered 90 %; opened 45 % (a third of those twice); clicked 12 %
    sent_at = times(n_intents)
    intent_ids = np.arange(first_id + 1, first_id + n_intents + 1)
    base = pd.DataFrame(
        {
            "intent_id": intent_ids,
            "customer_id": rng.integers(0, customers, n_intents),
            "journey_id": np.array(JOURNEYS, dtype=object)[journey_idx],
            "variant": VARIANTS[rng.integers(0, 3, n_intents)],
            "channel": CHANNELS[rng.integers(0, 3, n_intents)],
            "enrollment_id": rng.integers(1, n // 4 + 2, n_intents),
            "occurred_at": sent_at,
        }
    )
    picks = rng.integers(0, 3, n_intents)
    chosen_steps = [
        STEPS[j][p % len(STEPS[j])] for j, p in zip(base["journey_id"], picks, strict=True)
    ]
    base["step_id"] = [step for step, _ in chosen_steps]
    base["stage"] = [stage for _, stage in chosen_steps]
    frames.append(base.assign(name="message.sent"))
    for name, share, delay in (
        ("message.delivered", 0.9, 60),
        ("message.opened", 0.45, 3 * 3600),
        ("message.opened", 0.15, 30 * 3600),
        ("message.clicked", 0.12, 4 * 3600),
    ):
        chosen = base[rng.random(n_intents) < share]
        later = chosen["occurred_at"] + pd.to_timedelta(
            rng.integers(1, delay, len(chosen)), unit="s"
        )
        frames.append(chosen.assign(name=name, occurred_at=later))
    steps = base.sample(n=min(n_steps, n_intents), random_state=seed, replace=n_steps > n_intents)
    frames.append(steps.assign(name="journey.step", intent_id=np.nan, channel=None))
    other = pd.DataFrame(
        {
            "customer_id": rng.integers(0, customers, n_other),
            "occurred_at": times(n_other),
            "name": np.where(rng.random(n_other) < 0.8, "purchase", "journey.converted"),
        }
    )
    other["value"] = rng.uniform(5, 200, n_other).round(2)
    converted = other["name"] == "journey.converted"
    other.loc[converted, "journey_id"] = np.array(JOURNEYS, dtype=object)[
        rng.integers(0, 3, int(converted.sum()))
    ]
    other.loc[converted, "enrollment_id"] = rng.integers(1, n // 4 + 2, int(converted.sum()))
    frames.append(other)
    frame = pd.concat(frames, ignore_index=True)
    if late_share:
        late = rng.random(len(frame)) < late_share
        back = pd.to_timedelta(rng.integers(3600, 20 * 86400, int(late.sum())), unit="s")
        frame.loc[late, "occurred_at"] = frame.loc[late, "occurred_at"] - back
    frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    frame["customer_id"] = "c" + frame["customer_id"].astype(str)
    frame["journey_version"] = frame["journey_id"].notna().map({True: 1, False: None})
    frame["source_id"] = f"bench{seed}-" + pd.Series(range(len(frame))).astype(str)
    return frame


def load(engine: Engine, frame: pd.DataFrame, chunk: int = 20000) -> None:
    columns = [
        "source_id",
        "customer_id",
        "name",
        "occurred_at",
        "journey_id",
        "journey_version",
        "step_id",
        "stage",
        "variant",
        "channel",
        "enrollment_id",
        "intent_id",
        "value",
    ]
    data = frame.reindex(columns=columns)
    data["occurred_at"] = pd.to_datetime(data["occurred_at"]).dt.to_pydatetime()
    data = data.astype(object).where(data.notna(), None)
    now = datetime(2026, 3, 2)
    records = [{str(k): v for k, v in row.items()} for row in data.to_dict("records")]
    with engine.begin() as conn:
        for start in range(0, len(records), chunk):
            rows = records[start : start + chunk]
            for row in rows:
                row["received_at"] = now
                row["properties"] = {}
                for column in ("enrollment_id", "intent_id", "journey_version"):
                    value = row[column]
                    row[column] = None if value is None or pd.isna(value) else int(value)
                value = row["value"]
                row["value"] = None if value is None or pd.isna(value) else float(value)
            conn.execute(insert(events_t), rows)


def timed(fn: Callable[[], T], label: str = "") -> tuple[T, float]:
    started = time.perf_counter()
    value = fn()
    elapsed = time.perf_counter() - started
    if label:  # progress, in case a long run is stopped early
        print(f"  {label}: {elapsed:.2f} s", flush=True)
    return value, elapsed


@contextmanager
def store(kind: str, admin_url: str | None, workdir: Path) -> Iterator[Engine]:
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{workdir / 'rollups.db'}")
        try:
            yield engine
        finally:
            engine.dispose()
        return
    assert admin_url is not None
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"pj_bench_rollups_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bench(kind: str, engine: Engine, n: int, new: int) -> dict[str, Any]:
    ensure_schema(engine)
    frame = synthetic_events(n, seed=1)
    _, build = timed(lambda: load(engine, frame), "load")
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
    stored = len(frame)
    full, t_full = timed(lambda: run_rollup(engine, full=True), "full")
    first_intent = int(frame["intent_id"].max())
    extra = synthetic_events(new, seed=2, first_id=first_intent, late_share=0.1, days=2)
    # half of the new message events concern existing intents: late first opens, re-opens
    messages = extra["intent_id"].notna()
    extra.loc[messages, "intent_id"] = extra.loc[messages, "intent_id"] - first_intent // 2
    load(engine, extra)
    inc, t_inc = timed(lambda: run_rollup(engine), "incremental")
    print(f"  incremental: {inc.partitions} partitions, {inc.rows_inserted} rows", flush=True)
    noop, t_noop = timed(lambda: run_rollup(engine))
    with engine.connect() as conn:
        incremental = daily_frame(conn).sort_values(list(daily_frame(conn).columns[:8]))
        report_rollup, t_report = timed(lambda: rollup_report(conn, "welcome_series"))
        report_direct, t_direct = timed(lambda: journey_report(conn, "welcome_series"))
    rebuilt, t_rebuild = timed(lambda: run_rollup(engine, full=True))
    with engine.connect() as conn:
        again = daily_frame(conn).sort_values(list(incremental.columns[:8]))
    same = (
        incremental.reset_index(drop=True)
        .drop(columns="value_sum")
        .equals(again.reset_index(drop=True).drop(columns="value_sum"))
    )
    return {
        "backend": kind,
        "events": stored,
        "new events": len(extra),
        "load s": round(build, 1),
        "full s": round(t_full, 2),
        "rows": full.rows_inserted,
        "incremental s": round(t_inc, 2),
        "partitions": inc.partitions,
        "rows replaced": inc.rows_inserted,
        "noop s": round(t_noop, 3),
        "rebuild s": round(t_rebuild, 2),
        "report from rollups s": round(t_report, 3),
        "report from events s": round(t_direct, 3),
        "same report": report_rollup == report_direct,
        "incremental == full": same and rebuilt.rows_inserted == len(incremental),
        "noop events": noop.events,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--new", type=int, default=10_000)
    parser.add_argument("--postgres", help="admin URL; a scratch database is made next to it")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    kinds = ([] if args.no_sqlite else ["sqlite"]) + (["postgres"] if args.postgres else [])
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            with store(kind, args.postgres, Path(tmp)) as engine:
                result = bench(kind, engine, args.events, args.new)
            for key, value in result.items():
                print(f"{key:>24}: {value}")
            print(flush=True)


if __name__ == "__main__":
    main()
