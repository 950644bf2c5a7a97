"""The reconciler as a Prefect flow: settle unknown sends from provider evidence (one task)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact

from prefect_journeys.compliance.tokens import signing_key
from prefect_journeys.definition.durations import parse_duration
from prefect_journeys.engine.reconcile import reconcile
from prefect_journeys.store.database import cached_engine
from prefect_journeys.store.migrate import ensure_schema


@flow(name="reconcile-sends", log_prints=False)
def reconcile_sends(
    project_dir: str = ".",
    settle: str = "10m",
    abandon_after: str = "24h",
    journey: str | None = None,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Settle every send whose outcome is unknown; counts only (no ids, no addresses)."""
    engine = cached_engine(database_url)
    ensure_schema(engine)
    key = signing_key(Path(project_dir))

    @task(name="reconcile")
    def settle_all() -> dict[str, Any]:
        return reconcile(
            engine,
            settle=parse_duration(settle),
            abandon_after=parse_duration(abandon_after),
            signing_key=key,
            journey_id=journey,
        ).to_dict()

    counts = settle_all()
    get_run_logger().info(
        "reconciled %s unknown sends: %s sent, %s requeued, %s abandoned, %s waiting",
        counts["checked"],
        counts["sent"],
        counts["requeued"],
        counts["abandoned"],
        counts["waiting"],
    )
    create_table_artifact(
        key="reconcile-sends",
        table=[{k: v for k, v in counts.items() if k != "problems"}],
        description="unknown sends settled from provider evidence",
    )
    return counts
