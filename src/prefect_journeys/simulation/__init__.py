"""Simulated customers for demos and load tests: a synthetic population, behaviour and a runner.

Plain Python over the store (no Prefect import); :func:`simulate` takes the engine's tick as a
parameter so callers can wrap it (e.g. as a Prefect task).
"""

from prefect_journeys.simulation.behaviour import DEFAULT_RATES, BehaviourModel, Rates
from prefect_journeys.simulation.population import Population, generate_population
from prefect_journeys.simulation.runner import SimulationResult, ensure_store, simulate

__all__ = [
    "DEFAULT_RATES",
    "BehaviourModel",
    "Population",
    "Rates",
    "SimulationResult",
    "ensure_store",
    "generate_population",
    "simulate",
]
