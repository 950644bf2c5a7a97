"""The ``rollup`` flow: fold new events into the daily rollups, then refresh model snapshots.

Two task runs whatever the number of events (``rollup/daily``, ``rollup/models``), and a table
artifact with what changed. It runs after every journey tick (as a subflow of ``run-journey``)
and on a schedule (the ``rollup`` deployment in prefect.yaml). Only counts reach Prefect.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

from prefect_journeys.analytics.rollup_models import load_models, refresh_models
from prefect_journeys.analytics.rollups import run_rollup
from prefect_journeys.store.database import cached_engine
from prefect_journeys.store.migrate import ensure_schema


class ModelRefreshError(RuntimeError):
    """One or more model snapshots failed to refresh (the others were stored)."""


@task(name="rollup/daily", task_run_name="rollup/daily")
def daily_task(database_url: str | None, full: bool) -> dict[str, Any]:
    return run_rollup(cached_engine(database_url), full=full).to_dict()


@task(name="rollup/models", task_run_name="rollup/models")
def models_task(
    database_url: str | None, as_of: datetime | None, force: bool
) -> list[dict[str, Any]]:
    load_models()
    outcomes = refresh_models(cached_engine(database_url), as_of=as_of, force=force)
    failed = [o for o in outcomes if o["outcome"] == "failed"]
    if failed:
        raise ModelRefreshError(
            "; ".join(f"{o['model']}[{o['journey_id']}]: {o['error']}" for o in failed)
        )
    return outcomes


@flow(name="rollup", log_prints=False)
def rollup(
    database_url: str | None = None,
    full: bool = False,
    models: bool = True,
    as_of: datetime | None = None,
    force_models: bool = False,
) -> dict[str, Any]:
    """Update ``rollup_daily`` (everything again when ``full``) and the model snapshots."""
    logger = get_run_logger()
    engine = cached_engine(database_url)
    ensure_schema(engine)
    daily = daily_task(database_url, full)
    outcomes = models_task(database_url, as_of, force_models) if models else []
    refreshed = sum(1 for o in outcomes if o["outcome"] == "refreshed")
    logger.info(
        "rollup%s: %s events, %s partitions, %s rows replaced by %s; watermark %s -> %s;"
        " %s model snapshots refreshed",
        " (full)" if full else "",
        daily["events"],
        daily["partitions"],
        daily["rows_deleted"],
        daily["rows_inserted"],
        daily["watermark_from"],
        daily["watermark_to"],
        refreshed,
    )
    create_table_artifact(
        table=[
            {"figure": key, "value": daily[key]}
            for key in (
                "events",
                "partitions",
                "rows_deleted",
                "rows_inserted",
                "watermark_from",
                "watermark_to",
                "open_gaps",
                "seconds",
            )
        ]
        + [{"figure": "models refreshed", "value": refreshed}],
        key="journeys-rollup",
        description=(
            f"rollup{' (full)' if full else ''}: {daily['partitions']} partitions recomputed,"
            f" {daily['rows_deleted']} rows deleted, {daily['rows_inserted']} inserted"
        ),
    )
    return {"daily": daily, "models": outcomes}


__all__ = ["ModelRefreshError", "rollup"]
