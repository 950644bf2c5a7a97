"""Simulations as a Prefect flow: ``simulate-journeys``, one task run per simulated day.

The ticks inside a day call the engine directly (the same phases ``run_journey`` runs as tasks):
a 14-day demo is 1,000 ticks, far more than a flow should carry as task runs, while 14 day tasks
show progress, timing and failures per day in the Prefect UI.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact


def _run_day(simulation: Any, day: int) -> int:
    name = f"simulate/day-{day + 1:02d}"

    def one_day() -> int:
        return int(simulation.run_day(day))

    return int(task(name=name, task_run_name=name)(one_day)())


@flow(name="simulate-journeys", log_prints=False)
def simulate_flow(
    action: Callable[..., dict[str, Any]], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    figures = action(*args, run_day=_run_day, **kwargs)
    rows = [
        {
            "journey": journey_id,
            "entered": report["totals"]["entered"],
            "converted": report["totals"]["converted"],
            "exited": report["totals"]["exited"],
            "completed": report["totals"]["completed"],
        }
        for journey_id, report in figures["journeys"].items()
    ]
    create_table_artifact(table=rows, key="journeys-simulation", description="Simulated journeys")
    return figures


def simulate_in_flow(
    action: Callable[..., dict[str, Any]], *args: Any, **kwargs: Any
) -> dict[str, Any]:
    return simulate_flow(action, args, kwargs)
