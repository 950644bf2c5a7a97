"""``sync_runs``: one row per sync, written when it starts and settled when it ends."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, update

from prefect_journeys.store.models import SyncRun

runs_t = SyncRun.__table__  # type: ignore[attr-defined]


def start_run(engine: Engine, source_id: str, watermark_from: str | None, now: datetime) -> int:
    """A ``running`` row, committed at once (so a crash leaves a trace)."""
    with engine.begin() as conn:
        result = conn.execute(
            runs_t.insert()
            .values(
                source_id=source_id,
                status="running",
                started_at=now,
                watermark_from=watermark_from,
                counts={},
            )
            .returning(runs_t.c.id)
        )
        return int(result.scalar_one())


def finish_run(
    conn: Connection,
    run_id: int,
    *,
    status: str,
    finished_at: datetime,
    counts: dict[str, Any],
    watermark_to: str | None,
    error: str | None,
) -> None:
    conn.execute(
        update(runs_t)
        .where(runs_t.c.id == run_id)
        .values(
            status=status,
            finished_at=finished_at,
            counts=counts,
            watermark_to=watermark_to,
            error=error,
        )
    )


__all__ = ["finish_run", "start_run"]
