"""The one generic Prefect flow: a run is one tick of one journey at ``as_of``.

Each phase of the tick is a Prefect task named ``<journey>/<phase or step>``, so a tick runs
``steps + len(ENGINE_TASKS)`` task runs whatever the audience size. Tasks take no parameters and
return counts: no email, phone or customer data ever reaches Prefect's parameters, results or
logs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.events import emit_event
from prefect.states import Failed

from prefect_journeys.compliance.tokens import signing_key
from prefect_journeys.definition.project import Project
from prefect_journeys.engine.tick import Tick
from prefect_journeys.expectations.records import validation_markdown
from prefect_journeys.segments.refresh import SegmentSourceError, SourceEngines
from prefect_journeys.store.database import cached_engine
from prefect_journeys.store.migrate import ensure_schema

T = TypeVar("T")
TICK_EVENT = "journey.tick.completed"


def task_runner() -> tuple[Callable[[str, Callable[[], T]], T], list[str]]:
    """A runner that runs each tick phase as a Prefect task; also returns the names it ran."""
    names: list[str] = []

    def run(name: str, fn: Callable[[], T]) -> T:
        names.append(name)
        return task(name=name, task_run_name=name)(fn)()

    return run, names


def _rollup_after_tick(database_url: str | None, logger: Any) -> None:
    """Run the ``rollup`` subflow; a failure is logged (and visible as a failed subflow run)."""
    from prefect_journeys.flows.rollup import rollup as rollup_flow

    try:
        state = rollup_flow(database_url=database_url, return_state=True)
        failed = state.is_failed() or state.is_crashed()
        message = state.message
    except Exception as exc:  # the rollup must never fail the tick
        failed, message = True, f"{type(exc).__name__}: {exc}"
    if failed:
        logger.error("rollup after the tick failed (the tick's sends are done): %s", message)


@flow(name="run-journey", flow_run_name="{journey}", log_prints=False)
def run_journey(
    journey: str,
    project_dir: str = ".",
    as_of: datetime | None = None,
    dry_run: bool = False,
    database_url: str | None = None,
    outbox_path: str | None = None,
    rollup: bool = True,
) -> dict[str, Any]:
    """Run one tick of ``journey`` (an id in ``project_dir/journeys``) at ``as_of`` (default now).

    ``rollup`` (default on) folds the tick's events into the dashboard's rollups afterwards, as
    a ``rollup`` subflow; its failure is logged and shown as a failed subflow run, never fails
    the tick (its sends are done)."""
    logger = get_run_logger()
    project = Project.load(Path(project_dir))
    plan = project.plan(journey)
    engine = cached_engine(database_url)
    ensure_schema(engine)
    outbox = Path(outbox_path) if outbox_path else Path(project_dir) / ".journeys" / "outbox.jsonl"
    key = signing_key(Path(project_dir))
    sources = SourceEngines(project.sources)  # for segments backed by a SQL query
    tick = Tick(
        engine,
        plan,
        as_of,
        dry_run=dry_run,
        outbox_path=outbox,
        signing_key=key,
        sources=sources,
        project_root=Path(project_dir),  # its expectations/ suites gate every send step
    )
    runner, names = task_runner()
    try:
        report = tick.run(runner)
    except SegmentSourceError as exc:  # a source that is down: one line, nothing written
        logger.error(str(exc))
        return Failed(message=str(exc))  # type: ignore[return-value]
    finally:
        sources.close()
    report.task_runs = len(names)
    counts = report.to_dict()
    if rollup and not dry_run:
        _rollup_after_tick(database_url, logger)
    logger.info(
        "journey %s v%s at %s: entered %s, sent %s, deferred %s, converted %s%s",
        journey,
        report.version,
        report.as_of.isoformat(),
        report.entered,
        report.sent,
        report.deferred,
        report.converted,
        " (dry run: nothing written or sent)" if dry_run else "",
    )
    create_table_artifact(
        table=report.per_step([s.id for s in plan.journey.steps]),
        key=f"journey-{journey.replace('_', '-')}-tick",
        description=(
            f"{journey} v{report.version} tick at {report.as_of.isoformat()}: entered "
            f"{report.entered}, sent {report.sent}, converted {report.converted}"
        ),
    )
    if report.validations:  # the audience gate's results: counts and expectation labels only
        create_markdown_artifact(
            markdown=validation_markdown(
                report.validations,
                title=f"{journey} audience validation at {report.as_of.isoformat()}",
            ),
            key=f"journey-{journey.replace('_', '-')}-validation",
            description=f"{journey}: {report.quarantined} quarantined, {len(report.held)} held",
        )
    if not dry_run:
        emit_event(
            event=TICK_EVENT,
            resource={
                "prefect.resource.id": f"prefect-journeys.journey.{journey}",
                "prefect.resource.name": journey,
            },
            payload={k: v for k, v in counts.items() if k != "would_send"},
        )
    if report.blocked:  # a failed run without a traceback: the message says what to fix
        for line in report.blocked:
            logger.error(line)
        return Failed(message="; ".join(report.blocked))  # type: ignore[return-value]
    if report.held:  # the audience gate held a send step: nothing of it was sent
        for line in report.held:
            logger.error(line)
        return Failed(message="; ".join(report.held))  # type: ignore[return-value]
    return counts
