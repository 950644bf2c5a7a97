"""The simulation loop, driven by a fake tick (the engine is not needed here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from prefect_journeys.simulation.runner import SimulationResult, simulate
from prefect_journeys.store.writes import insert_events

START = datetime(2026, 1, 5)


@dataclass(frozen=True)
class FakePlan:
    journey_id: str


class FakeTick:
    """Records calls; for ``greet`` sends one email per new sign-up since the last tick."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, datetime]] = []
        self.last: dict[str, datetime] = {}

    def __call__(self, engine: Engine, plan: Any, as_of: datetime) -> dict[str, Any]:
        self.calls.append((plan.journey_id, as_of))
        since = self.last.get(plan.journey_id, START)
        self.last[plan.journey_id] = as_of
        if plan.journey_id != "greet":
            return {"journey": plan.journey_id, "entered": 0, "sent": 0, "moved": {}}
        with engine.begin() as conn:
            signups = conn.execute(
                text(
                    "select customer_id, seq from events where name = 'signed_up'"
                    " and occurred_at > :since and occurred_at <= :until"
                ),
                {"since": since, "until": as_of},
            ).all()
            insert_events(
                conn,
                [
                    {
                        "source_id": f"fake:{customer}",
                        "customer_id": customer,
                        "name": "message.sent",
                        "occurred_at": as_of,
                        "journey_id": "greet",
                        "journey_version": 1,
                        "step_id": "hello",
                        "stage": "awareness",
                        "channel": "email",
                        "enrollment_id": seq,
                        "intent_id": seq,
                    }
                    for customer, seq in signups
                ],
            )
        return {
            "journey": "greet",
            "entered": len(signups),
            "sent": len(signups),
            "moved": {"hello": len(signups)},
        }


def test_one_tick_per_plan_per_tick_time(sqlite_engine: Engine) -> None:
    fake = FakeTick()
    days: list[int] = []
    result = simulate(
        sqlite_engine,
        [FakePlan("greet"), FakePlan("quiet")],
        customers=200,
        days=2,
        seed=1,
        start=START,
        tick_every=timedelta(hours=6),
        on_day=days.append,
        run_tick=fake,
    )
    expected_times = [START + timedelta(hours=6 * k) for k in range(1, 9)]
    assert [t for j, t in fake.calls if j == "greet"] == expected_times
    assert [t for j, t in fake.calls if j == "quiet"] == expected_times
    assert [j for j, _ in fake.calls[:2]] == ["greet", "quiet"]
    assert days == [0, 1]
    assert isinstance(result, SimulationResult)
    assert result.ticks == 8
    greet = result.journeys["greet"]
    assert greet.ticks == 8
    assert greet.sent == greet.entered == result.activity["signed_up"] > 0
    assert greet.moved == {"hello": greet.sent}
    assert result.journeys["quiet"].sent == 0
    assert result.activity["message.delivered"] > 0
    data = result.to_dict()
    assert data["journeys"]["greet"]["sent"] == greet.sent
    assert data["customers"] == 200 and 0 < data["initial_customers"] < 200


def test_uneven_ticks_still_end_on_the_last_day(sqlite_engine: Engine) -> None:
    fake = FakeTick()
    days: list[int] = []
    result = simulate(
        sqlite_engine,
        [FakePlan("quiet")],
        customers=20,
        days=1,
        seed=2,
        start=START,
        tick_every=timedelta(hours=7),
        on_day=days.append,
        run_tick=fake,
    )
    assert [t for _, t in fake.calls][-1] == START + timedelta(days=1)
    assert result.ticks == 4 and days == [0]


def test_bad_arguments(sqlite_engine: Engine) -> None:
    for kwargs in ({"customers": 0}, {"days": 0}, {"tick_every": timedelta(0)}):
        args: dict[str, Any] = {"customers": 5, "days": 1, **kwargs}
        with pytest.raises(ValueError):
            simulate(sqlite_engine, [], seed=1, start=START, run_tick=FakeTick(), **args)
