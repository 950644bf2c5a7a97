"""Bandit split: Thompson sampling over the goal, floored per arm, holdout fixed, deterministic.

Simulated time: every hour a new cohort of customers joins the entry segment and reaches the
split at once; customers assigned to arm ``a`` buy within the hour far more often than those in
``b`` or the holdout (decided by a hash of the id, so runs are reproducible). The next tick sees
those purchases as goal conversions and moves traffic.
"""

from __future__ import annotations

import hashlib
import math
import textwrap
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers import T0, customers, enrollments, events, plan_of, run_at
from sqlalchemy import Engine

from prefect_journeys.analytics import experiments as ex
from prefect_journeys.analytics.frames import EVENT_COLUMNS, events_frame
from prefect_journeys.definition.compiler import Plan
from prefect_journeys.definition.project import Project
from prefect_journeys.engine.bandit import ALLOCATION_EVENT, allocation
from prefect_journeys.store import make_engine, metadata
from prefect_journeys.store.database import bucket
from prefect_journeys.store.writes import insert_events

JOURNEY = """
id: bandit_test
entry: {segment: {attribute: email_consent, op: "=", value: true}}
goal: {event: purchase, within: 3d}
steps:
  - id: ab
    mode: bandit
    floor: 0.1
    split:
      - {variant: a, weight: 45, next: thanks}
      - {variant: b, weight: 45}
      - {variant: holdout, weight: 10}
  - id: thanks
    update: {add_tags: [bandit_a]}
"""
RATES = {"a": 0.5, "b": 0.05, "holdout": 0.05}
COHORT = 120
TICKS = 8
FLOOR_BUCKETS = math.ceil(0.1 * 90)  # floor 10% of the 90 non-holdout buckets


def _buys(customer: str, variant: str) -> bool:
    digest = hashlib.sha256(f"buy:{customer}".encode()).hexdigest()
    return int(digest[:8], 16) / 16**8 < RATES[variant]


def _simulate(engine: Engine, plan: Plan) -> dict[str, str]:
    """Hourly cohorts; after each tick the new arrivals buy (or not) half an hour later."""
    for hour in range(TICKS):
        at = T0 + timedelta(hours=hour)
        cohort = [f"h{hour}c{i:03d}" for i in range(COHORT)]
        customers(engine, *cohort)
        run_at(engine, plan, at)
        assigned = {e["customer_id"]: e["variant"] for e in enrollments(engine)}
        bought = []
        for cid in cohort:
            assert cid in assigned and assigned[cid] is not None, cid
            if _buys(cid, assigned[cid]):
                bought.append(
                    {
                        "source_id": f"buy:{cid}",
                        "customer_id": cid,
                        "name": "purchase",
                        "occurred_at": at + timedelta(minutes=30),
                        "properties": {"amount": 10},
                        "value": 10.0,
                    }
                )
        with engine.begin() as conn:
            insert_events(conn, bought)
    run_at(engine, plan, T0 + timedelta(hours=TICKS))
    return {e["customer_id"]: e["variant"] for e in enrollments(engine)}


def _allocations(engine: Engine) -> list[dict[str, Any]]:
    found = events(engine, ALLOCATION_EVENT, journey_id="bandit_test")
    return sorted(found, key=lambda e: e["occurred_at"])


def _props(row: dict[str, Any]) -> dict[str, Any]:
    import json

    value = row["properties"]
    return json.loads(value) if isinstance(value, str) else value


def _expected_variant(customer: str, weights: dict[str, int]) -> str:
    slot, low = bucket(f"bandit_test:ab:{customer}"), 0
    for name in ("a", "b", "holdout"):
        if low <= slot < low + weights[name]:
            return name
        low += weights[name]
    raise AssertionError(weights)


def test_bandit_moves_traffic_to_the_better_arm(engine: Engine, tmp_path: Path) -> None:
    plan = plan_of(tmp_path, JOURNEY)
    got = _simulate(engine, plan)
    allocations = _allocations(engine)
    # One allocation per tick that had customers at the split, none for the empty last tick.
    assert len(allocations) == TICKS
    props = [_props(a) for a in allocations]
    first = props[0]
    # No data yet: both arms equally likely best → an even split of the 90 non-holdout buckets.
    assert first["weights"] == {"a": 45, "b": 45, "holdout": 10}
    assert [arm["prob_best"] for arm in first["arms"]] == [0.5, 0.5]
    for p in props:
        # The holdout keeps its share; each arm keeps at least its floor; buckets cover 0..99.
        assert p["weights"]["holdout"] == 10
        assert min(p["weights"]["a"], p["weights"]["b"]) >= FLOOR_BUCKETS
        assert sum(p["weights"].values()) == 100
        assert all(arm["share"] >= 0.1 - 1e-9 for arm in p["arms"])
    last = props[-1]
    assert last["weights"]["a"] >= 75, last
    assert last["weights"]["b"] == FLOOR_BUCKETS  # the floor binds once b is clearly worse
    by_arm = {arm["variant"]: arm for arm in last["arms"]}
    assert by_arm["a"]["prob_best"] > 0.99
    assert by_arm["a"]["enrollments"] > by_arm["b"]["enrollments"]
    # Each tick's cohort was assigned exactly by the md5 buckets with that tick's weights.
    for hour, p in enumerate(props):
        for i in range(COHORT):
            cid = f"h{hour}c{i:03d}"
            assert got[cid] == _expected_variant(cid, p["weights"]), (cid, p["weights"])
    # The recorded figures are what the pure allocation gives for the recorded counts.
    step = plan.journey.step("ab")
    for p in props:
        counts = {arm["variant"]: (arm["enrollments"], arm["conversions"]) for arm in p["arms"]}
        assert allocation(step, counts) == p
    # Later cohorts went mostly to a; the holdout stayed at its bucket range, about 10%.
    late = Counter(v for c, v in got.items() if int(c[1 : c.index("c")]) >= TICKS // 2)
    assert late["a"] > 3 * late["b"], late
    holdout = {c for c, v in got.items() if v == "holdout"}
    assert holdout == {c for c in got if bucket(f"bandit_test:ab:{c}") >= 90}
    # Conversions recorded by the goal check are what the arms' counts were built from.
    converted = Counter(e["variant"] for e in enrollments(engine) if e["converted_at"])
    assert converted["a"] > converted["b"]
    # The analytics read the same experiment from the store and from the events.
    with engine.connect() as conn:
        from_table = ex.load_variant_counts(conn, "bandit_test")
        frame = events_frame(conn, journey_id="bandit_test", columns=EVENT_COLUMNS)
        table, verdict = ex.journey_experiment(conn, "bandit_test")
    # a is clearly best, but the holdout (~10% of ~1,000) has too few conversions to call it.
    rows = table.set_index("variant")
    assert bool(rows.loc["holdout", "control"]) and rows.loc["a", "prob_best"] > 0.99
    assert rows.loc["a", "lift_abs"] > 0.3 and rows.loc["a", "p_adjusted"] < 0.001
    assert verdict.status == "no_winner"
    by_variant = {c.variant: c for c in verdict.comparisons}
    assert "too_few_conversions" in by_variant["a"].reasons
    assigned = Counter(got.values())
    assert dict(zip(from_table["variant"], from_table["enrollments"], strict=True)) == assigned
    assert dict(zip(from_table["variant"], from_table["conversions"], strict=True)) == {
        v: converted[v] for v in assigned
    }
    assert from_table["holdout"].tolist() == [False, False, True]
    pd.testing.assert_frame_equal(ex.counts_from_events(frame), from_table)
    history = ex.allocation_history(frame)
    assert len(history) == 3 * TICKS
    last_rows = history[history["occurred_at"] == history["occurred_at"].max()]
    assert dict(zip(last_rows["variant"], last_rows["weight"], strict=True)) == last["weights"]
    assert history.loc[history["variant"] == "holdout", "weight"].eq(10).all()
    # Replaying the last busy tick changes nothing and logs no second allocation.
    run_at(engine, plan, T0 + timedelta(hours=TICKS - 1))
    assert {e["customer_id"]: e["variant"] for e in enrollments(engine)} == got
    assert len(_allocations(engine)) == TICKS


def test_the_same_run_twice_gives_the_same_assignments(tmp_path: Path) -> None:
    runs = []
    for name in ("one", "two"):
        store = make_engine(f"sqlite:///{tmp_path / f'{name}.db'}")
        metadata.create_all(store)
        try:
            runs.append((_simulate(store, plan_of(tmp_path, JOURNEY)), _weights_by_tick(store)))
        finally:
            store.dispose()
    assert runs[0] == runs[1]
    assert len(set(runs[0][0].values())) == 3


def _weights_by_tick(engine: Engine) -> list[dict[str, int]]:
    return [_props(a)["weights"] for a in _allocations(engine)]


# ----------------------------------------------------------------------------- definition


def _problems(tmp_path: Path, journey: str) -> list[str]:
    root = tmp_path / "p"
    for folder in ("journeys", "templates", "segments"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "journeys" / "j.yaml").write_text(textwrap.dedent(journey))
    return [str(p) for p in Project.load(root).problems]


SPLIT_ONLY = """
id: only_split
entry: {event: signed_up}
{goal}
steps:
  - id: ab
{extra}
    split:
      - {{variant: a, weight: 45}}
      - {{variant: b, weight: 45}}
      - {{variant: holdout, weight: 10}}
"""


def _journey(goal: str, extra: str) -> str:
    return (
        SPLIT_ONLY.replace("{goal}", goal)
        .replace("{extra}", extra)
        .replace("{{", "{")
        .replace("}}", "}")
    )


GOAL = "goal: {event: purchase}"


@pytest.mark.parametrize(
    ("goal", "extra", "expected"),
    [
        ("", "    mode: bandit", "a bandit split needs a journey 'goal'"),
        (GOAL, "    mode: bandit\n    floor: 0.6", "more than 1"),
        (GOAL, "    floor: 0.1", "'floor' only applies to a split with 'mode: bandit'"),
        (GOAL, "    mode: bandit\n    floor: -0.1", "floor"),
        (GOAL, "    mode: greedy", "mode"),
    ],
)
def test_bandit_definition_errors(tmp_path: Path, goal: str, extra: str, expected: str) -> None:
    problems = _problems(tmp_path, _journey(goal, extra))
    assert len(problems) == 1, problems
    assert any(expected in p for p in problems), problems


def test_bandit_definition_valid_and_random_unchanged(tmp_path: Path) -> None:
    assert _problems(tmp_path, _journey(GOAL, "    mode: bandit")) == []
    assert _problems(tmp_path, _journey(GOAL, "    mode: bandit\n    floor: 0.5")) == []  # 0.5 × 2
    assert _problems(tmp_path, _journey("", "    mode: random")) == []
    assert _problems(tmp_path, _journey("", "")) == []


def test_bucket_ranges_keep_holdouts_in_place() -> None:
    from prefect_journeys.definition.model import SplitStep
    from prefect_journeys.engine.bandit import bucket_ranges

    step = SplitStep.model_validate(
        {
            "id": "ab",
            "mode": "bandit",
            "split": [
                {"variant": "a", "weight": 30},
                {"variant": "holdout", "weight": 20},
                {"variant": "b", "weight": 50},
            ],
        }
    )
    # the holdout keeps buckets 30..49 (its random-split range) whatever the arms get
    assert bucket_ranges(step, [70, 20, 10]) == [[(0, 30), (50, 90)], [(30, 50)], [(90, 100)]]
    assert bucket_ranges(step, [10, 20, 70]) == [[(0, 10)], [(30, 50)], [(10, 30), (50, 100)]]
    assert bucket_ranges(step, [0, 20, 80]) == [[], [(30, 50)], [(0, 30), (50, 100)]]
    # every bucket belongs to exactly one variant
    for weights in ([70, 20, 10], [33, 20, 47]):
        covered = sorted(
            b for pieces in bucket_ranges(step, weights) for lo, hi in pieces for b in range(lo, hi)
        )
        assert covered == list(range(100))


def test_random_split_plans_are_unchanged(tmp_path: Path) -> None:
    """A split without ``mode`` dumps exactly as before (same content hash, no new version);
    a bandit split round-trips through the stored plan."""
    random_yaml = JOURNEY.replace("    mode: bandit\n    floor: 0.1\n", "")
    dumped = plan_of(tmp_path, random_yaml).to_json()["journey"]["steps"][0]
    assert "mode" not in dumped and "floor" not in dumped
    plan = plan_of(tmp_path, JOURNEY)
    again = Plan.from_json(plan.to_json())
    step = again.journey.step("ab")
    assert (step.mode, step.floor, step.arm_floor) == ("bandit", 0.1, 0.1)
    assert again.content_hash == plan.content_hash


def test_describe_says_the_split_is_a_bandit(tmp_path: Path) -> None:
    rows = {row["step"]: row for row in plan_of(tmp_path, JOURNEY).describe()}
    does = rows["ab"]["does"]
    assert does.startswith("bandit split (Thompson sampling on the goal, floor 10% per arm")
    assert "a 45%: go to 'thanks'" in does and "holdout 10% (holdout)" in does
