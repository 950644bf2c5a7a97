"""The ``sync-source`` flow: one incremental sync of one source as one Prefect task.

However many batches the source has, a run is one flow run with one task run (``sync-<source>``):
Prefect sees the progress through a progress artifact updated as batches complete (at most about
once a second) and the outcome through a table artifact of counts. No customer data reaches
Prefect: parameters are ids and paths, results and artifacts are counts, row references
(``file:line``, ``key=<id>``) and reasons. A rejected or failed sync ends as a Failed state whose
message says why (source, batch, fraction, first rows).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.states import Failed

from prefect_journeys.definition.project import Project
from prefect_journeys.sources.errors import SourceError
from prefect_journeys.sources.sync import SyncResult, sync_source
from prefect_journeys.store.database import cached_engine
from prefect_journeys.store.migrate import ensure_schema

ARTIFACT_COUNTS = (
    "read",
    "inserted",
    "updated",
    "unchanged",
    "merged",
    "rejected",
    "skipped",
    "profiles_created",
    "events_inserted",
    "events_duplicate",
    "batches",
)
_listeners: list[Callable[[str, int, int | None], None]] = []


@contextmanager
def listening(callback: Callable[[str, int, int | None], None]) -> Iterator[None]:
    """Call ``callback(source, rows_read, rows_expected)`` after every batch of syncs run in this
    process while the block runs (the CLI's progress bar)."""
    _listeners.append(callback)
    try:
        yield
    finally:
        _listeners.remove(callback)


def artifact_key(source: str, suffix: str = "") -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes."""
    slug = "".join(c if c.isalnum() else "-" for c in source.lower()).strip("-")
    return f"sync-{slug}{suffix}"


class _ProgressArtifact:
    """A progress artifact updated at most every ``interval`` seconds, and once at the end."""

    def __init__(self, source: str, interval: float = 1.0) -> None:
        self.source = source
        self.interval = interval
        self.last = 0.0
        self.id: Any = create_progress_artifact(
            0.0, key=artifact_key(source, "-progress"), description=f"sync {source}: starting"
        )

    def __call__(self, done: int, total: int | None) -> None:
        for listener in list(_listeners):
            listener(self.source, done, total)
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self._update(done, total)

    def _update(self, done: int, total: int | None, final: bool = False) -> None:
        share = 100.0 if final or not total else min(100.0, 100.0 * done / total)
        expected = f" of about {total:,}" if total and not final else ""
        update_progress_artifact(
            self.id, share, description=f"sync {self.source}: {done:,}{expected} rows read"
        )

    def finish(self, done: int) -> None:
        self._update(done, None, final=True)


def counts_table(result: SyncResult) -> list[dict[str, Any]]:
    """The artifact's one row: status and counts (no customer data)."""
    row: dict[str, Any] = {"source": result.source, "status": result.status}
    row |= {name: result.counts.get(name, 0) for name in ARTIFACT_COUNTS}
    row["seconds"] = round(result.seconds, 2)
    return [row]


@flow(name="sync-source", flow_run_name="sync-{source}", log_prints=False)
def sync_source_flow(
    source: str,
    project_dir: str = ".",
    database_url: str | None = None,
    full: bool = False,
) -> dict[str, Any]:
    """Sync ``source`` (``sources/<source>.yaml`` in ``project_dir``) into the store; ``full``
    reads everything again instead of the rows at or above the stored watermark."""
    logger = get_run_logger()
    project = Project.load(Path(project_dir))
    engine = cached_engine(database_url)
    ensure_schema(engine)

    @task(name=f"sync-{source}", task_run_name=f"sync-{source}")
    def run_sync() -> dict[str, Any]:
        progress = _ProgressArtifact(source)
        result = sync_source(engine, project, source, full=full, progress=progress)
        progress.finish(result.counts.get("read", 0))
        return result.to_dict()

    try:
        outcome = run_sync()
    except SourceError as exc:  # no such source, or its file has problems: nothing ran
        logger.error(str(exc))
        return Failed(message=str(exc))  # type: ignore[return-value]
    result = SyncResult(**{k: v for k, v in outcome.items()})
    counts = result.counts
    logger.info(
        "sync %s %s: read %s, inserted %s, updated %s, unchanged %s, merged %s, rejected %s,"
        " events %s (+%s duplicates) in %.1f s",
        source,
        result.status,
        counts.get("read", 0),
        counts.get("inserted", 0),
        counts.get("updated", 0),
        counts.get("unchanged", 0),
        counts.get("merged", 0),
        counts.get("rejected", 0),
        counts.get("events_inserted", 0),
        counts.get("events_duplicate", 0),
        result.seconds,
    )
    create_table_artifact(
        table=counts_table(result),
        key=artifact_key(source),
        description=(
            f"sync {source} {result.status}: watermark {result.watermark_from or '(none)'}"
            f" → {result.watermark_to or '(unchanged)'}"
        ),
    )
    if result.validations:
        from prefect.artifacts import create_markdown_artifact

        from prefect_journeys.expectations.records import validation_markdown

        create_markdown_artifact(
            markdown=validation_markdown(
                result.validations, title=f"sync {source}: batches with refused rows"
            ),
            key=artifact_key(source, "-validation"),
            description=f"sync {source}: failed expectations per batch (counts, no data)",
        )
    if not result.ok:
        logger.error(result.error or f"sync {source} {result.status}")
        return Failed(message=result.error, data=outcome)  # type: ignore[return-value]
    return outcome


__all__ = ["artifact_key", "counts_table", "listening", "sync_source_flow"]
