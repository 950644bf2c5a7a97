"""Run journeys over simulated days: population, background activity, ticks and reactions.

For each tick time ``t`` (``start + Δ`` … ``start + days``): write the background activity of
``(t-Δ, t]`` (sign-ups, carts, organic purchases), run one engine tick per plan at ``t``, then write
the customers' reactions of ``(t-Δ, t]`` to the messages sent so far.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from prefect_journeys.simulation.behaviour import BehaviourModel
from prefect_journeys.simulation.population import DEFAULT_NEW_SHARE, Population, seed_population
from prefect_journeys.store.database import to_utc_naive

RunTick = Callable[[Any, Any, datetime], Any]
SUMMED = ("entered", "sent", "deferred", "suppressed", "converted", "exited", "completed")


def default_run_tick(engine: Engine, plan: Any, as_of: datetime) -> Any:
    """The engine's tick (imported lazily so the simulation can run without it in tests)."""
    from prefect_journeys.engine.tick import run_tick  # type: ignore[import-not-found,unused-ignore]

    return run_tick(engine, plan, as_of)


def ensure_store(engine: Engine) -> None:
    """Create the store's schema (migrations when available, else ``create_all``)."""
    try:
        from prefect_journeys.store.migrate import ensure_schema
    except ImportError:  # pragma: no cover - the migrate module ships with the store
        from prefect_journeys.store.models import metadata

        metadata.create_all(engine)
        return
    ensure_schema(engine)


def plan_journey_id(plan: Any) -> str:
    for attribute in ("journey_id", "id"):
        value = getattr(plan, attribute, None)
        if isinstance(value, str):
            return value
    journey = getattr(plan, "journey", None)
    if journey is not None and isinstance(getattr(journey, "id", None), str):
        return str(journey.id)
    return str(plan)


def _report_dict(report: Any) -> dict[str, Any]:
    if report is None:
        return {}
    if isinstance(report, Mapping):
        return dict(report)
    to_dict = getattr(report, "to_dict", None)
    if callable(to_dict):
        result = to_dict()
        return dict(result) if isinstance(result, Mapping) else {}
    return {}


@dataclass
class JourneyTotals:
    """Sums of one journey's tick reports."""

    ticks: int = 0
    entered: int = 0
    sent: int = 0
    deferred: int = 0
    suppressed: int = 0
    converted: int = 0
    exited: int = 0
    completed: int = 0
    moved: dict[str, int] = field(default_factory=dict)

    def add(self, report: Mapping[str, Any]) -> None:
        self.ticks += 1
        for name in SUMMED:
            value = report.get(name)
            if isinstance(value, int | float):
                setattr(self, name, getattr(self, name) + int(value))
        moved = report.get("moved")
        if isinstance(moved, Mapping):
            for step, count in moved.items():
                self.moved[str(step)] = self.moved.get(str(step), 0) + int(count)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ticks": self.ticks,
            **{name: getattr(self, name) for name in SUMMED},
            "moved": dict(sorted(self.moved.items())),
        }


@dataclass
class SimulationResult:
    """What a simulation did: population, simulated activity and per-journey tick sums."""

    seed: int
    start: datetime
    end: datetime
    days: int
    tick_every: timedelta
    customers: int  # population size, including those who sign up during the run
    initial_customers: int
    ticks: int = 0
    activity: dict[str, int] = field(default_factory=dict)  # events written by the simulation
    journeys: dict[str, JourneyTotals] = field(default_factory=dict)
    elapsed_seconds: float = 0.0

    def count(self, name: str, value: int) -> None:
        self.activity[name] = self.activity.get(name, 0) + value

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "days": self.days,
            "tick_every_seconds": int(self.tick_every.total_seconds()),
            "customers": self.customers,
            "initial_customers": self.initial_customers,
            "ticks": self.ticks,
            "activity": dict(sorted(self.activity.items())),
            "journeys": {k: v.to_dict() for k, v in self.journeys.items()},
            "elapsed_seconds": round(self.elapsed_seconds, 3),
        }


class Simulation:
    """A simulation that advances in steps (a day at a time), so a caller can wrap each step,
    e.g. as a Prefect task. :func:`simulate` runs it to the end."""

    def __init__(
        self,
        engine: Engine,
        plans: Sequence[Any],
        *,
        customers: int,
        days: int,
        seed: int,
        start: datetime,
        tick_every: timedelta = timedelta(hours=1),
        run_tick: RunTick | None = None,
        rates: Mapping[str, Mapping[str, float]] | None = None,
        new_share: float = DEFAULT_NEW_SHARE,
    ) -> None:
        if customers < 1:
            raise ValueError("customers must be at least 1")
        if days < 1:
            raise ValueError("days must be at least 1")
        if tick_every <= timedelta(0) or tick_every > timedelta(days=1):
            raise ValueError("tick_every must be longer than zero and at most one day")
        self.engine = engine
        self.tick = run_tick or default_run_tick
        self.began = time.perf_counter()
        self.start = to_utc_naive(start)
        self.end = self.start + timedelta(days=days)
        self.days = days
        self.tick_every = tick_every
        population = Population(
            customers, seed, self.start, new_share=new_share, signup_span=self.end - self.start
        )
        self.behaviour = BehaviourModel(seed, rates, population=population)
        with engine.begin() as conn:
            initial = seed_population(conn, population)
        self.result = SimulationResult(
            seed=seed,
            start=self.start,
            end=self.end,
            days=days,
            tick_every=tick_every,
            customers=customers,
            initial_customers=len(initial),
        )
        self.journeys = [(plan_journey_id(plan), plan) for plan in plans]
        for journey_id, _ in self.journeys:
            self.result.journeys.setdefault(journey_id, JourneyTotals())
        self.clock = self.start

    def run_day(self, day: int) -> int:
        """Advance through simulated day ``day`` (0-based); returns the ticks run."""
        until = min(self.start + timedelta(days=day + 1), self.end)
        ticks = 0
        while self.clock < until:
            now = min(self.clock + self.tick_every, until)
            with self.engine.begin() as conn:
                for name, count in self.behaviour.background(conn, self.clock, now).items():
                    self.result.count(name, count)
            for journey_id, plan in self.journeys:
                report = _report_dict(self.tick(self.engine, plan, now))
                self.result.journeys[journey_id].add(report)
            with self.engine.begin() as conn:
                for name, count in self.behaviour.react(conn, self.clock, now).items():
                    self.result.count(name, count)
            self.result.ticks += 1
            ticks += 1
            self.clock = now
        return ticks

    def finish(self) -> SimulationResult:
        self.result.elapsed_seconds = time.perf_counter() - self.began
        return self.result


def simulate(
    engine: Engine,
    plans: Sequence[Any],
    *,
    customers: int,
    days: int,
    seed: int,
    start: datetime,
    tick_every: timedelta = timedelta(hours=1),
    on_day: Callable[[int], None] | None = None,
    run_tick: RunTick | None = None,
    rates: Mapping[str, Mapping[str, float]] | None = None,
    new_share: float = DEFAULT_NEW_SHARE,
    run_day: Callable[[Simulation, int], int] | None = None,
) -> SimulationResult:
    """Simulate ``days`` days of ``customers`` customers going through ``plans``.

    The store must have its schema (see :func:`ensure_store`). ``run_tick(engine, plan, as_of)``
    defaults to the engine's tick; pass a fake in tests. ``on_day(day_index)`` is called after
    each simulated day (0-based); ``run_day(simulation, day)`` lets a caller wrap each day (the
    Prefect flow runs each as a task).
    """
    simulation = Simulation(
        engine,
        plans,
        customers=customers,
        days=days,
        seed=seed,
        start=start,
        tick_every=tick_every,
        run_tick=run_tick,
        rates=rates,
        new_share=new_share,
    )
    for day in range(days):
        if run_day is not None:
            run_day(simulation, day)
        else:
            simulation.run_day(day)
        if on_day is not None:
            on_day(day)
    return simulation.finish()


__all__ = [
    "JourneyTotals",
    "Simulation",
    "SimulationResult",
    "default_run_tick",
    "ensure_store",
    "simulate",
]
