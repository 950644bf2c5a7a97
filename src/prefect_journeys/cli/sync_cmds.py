"""``journeys sync SOURCE|--all``: run the ``sync-source`` flow with a progress bar and a summary.

Exit 0 when every sync succeeded; 1 when one was rejected or failed (one clear line each, the
first refused rows, never a traceback); 2 for a wrong command line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from prefect_journeys.cli.common import (
    EXIT_PROBLEMS,
    console,
    err,
    fail,
    project_root,
    quiet_prefect,
)

STORE_HELP = "database URL (default: $JOURNEYS_DATABASE_URL or .journeys/journeys.db)"
SUMMARY = (
    ("read", "read"),
    ("skipped", "below watermark"),
    ("inserted", "inserted"),
    ("updated", "updated"),
    ("unchanged", "unchanged"),
    ("merged", "merged"),
    ("rejected", "rejected"),
    ("profiles_created", "new profiles"),
    ("events_inserted", "events"),
    ("events_duplicate", "duplicates"),
)
SHOWN_PROBLEMS = 10


def _sources(root: Path, source: str | None, every: bool) -> list[str]:
    """The source ids to sync (customers before events), or exit 1 with the problems found."""
    from prefect_journeys.definition.project import Project

    project = Project.load(root)
    if every:
        broken = [f for name, f in project.source_files.items() if name not in project.sources]
        for record in broken:
            for problem in project.problems_in(record.file):
                err.print(escape(str(problem)))
        if broken:
            raise typer.Exit(EXIT_PROBLEMS)
        if not project.sources:
            raise fail(f"no sources in {root / 'sources'}", EXIT_PROBLEMS)
        return sorted(project.sources, key=lambda s: (project.sources[s].entity != "customers", s))
    assert source is not None
    if source not in project.sources:
        found = project.source_files.get(source)
        if found is not None:
            for problem in project.problems_in(found.file):
                err.print(escape(str(problem)))
            err.print(f"[red]source {source!r} has problems; nothing was synced[/]")
            raise typer.Exit(EXIT_PROBLEMS)
        known = ", ".join(sorted(project.sources)) or "none"
        raise fail(f"no source {source!r} in {root / 'sources'} (sources: {known})")
    return [source]


def _run(root: Path, source: str, store: str | None, full: bool, show_bar: bool) -> dict[str, Any]:
    from prefect_journeys.flows.sync import listening, sync_source_flow

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=not show_bar,
        transient=False,
    ) as bar:
        task_id = bar.add_task(f"sync {source}", total=None)

        def advance(name: str, done: int, total: int | None) -> None:
            bar.update(task_id, completed=done, total=total)

        with listening(advance):
            state = sync_source_flow(
                source=source,
                project_dir=str(root),
                database_url=store,
                full=full,
                return_state=True,
            )
        bar.update(
            task_id, total=bar.tasks[0].completed or 1, completed=bar.tasks[0].completed or 1
        )
    if state.is_failed():
        data = state.result(raise_on_failure=False)
        outcome = data if isinstance(data, dict) else {"source": source, "status": "failed"}
        outcome["error"] = outcome.get("error") or state.message or f"sync {source} failed"
        return outcome
    result = state.result()
    assert isinstance(result, dict)
    return result


def _summary(outcomes: list[dict[str, Any]]) -> None:
    """One column per source (narrow terminals stay readable), then problems and errors."""
    table = Table(title="journeys sync")
    table.add_column("")
    for outcome in outcomes:
        table.add_column(escape(str(outcome["source"])), justify="right")
    statuses = []
    for outcome in outcomes:
        status = str(outcome.get("status", "failed"))
        statuses.append(f"[{'green' if status == 'succeeded' else 'red'}]{status}[/]")
    table.add_row("status", *statuses)
    for key, title in SUMMARY:
        table.add_row(title, *(str((o.get("counts") or {}).get(key, 0)) for o in outcomes))
    table.add_row("watermark", *(escape(str(o.get("watermark_to") or "-")) for o in outcomes))
    console.print(table)
    for outcome in outcomes:
        problems = outcome.get("problems") or []
        if problems:
            console.print(
                f"[yellow]{outcome['source']}: first refused rows (see the quarantine)[/]"
            )
            for line in problems[:SHOWN_PROBLEMS]:
                console.print(f"  {escape(line)}")
        if outcome.get("error"):
            err.print(f"[bold red]error:[/] {escape(str(outcome['error']))}")


def sync_command(
    source: str | None,
    every: bool,
    project: Path | None,
    store: str | None,
    full: bool,
    as_json: bool,
) -> int:
    if (source is None) == (not every):
        raise fail("name one source, or --all (not both)")
    root = project_root(project)
    names = _sources(root, source, every)
    quiet_prefect()
    outcomes = [_run(root, name, store, full, show_bar=not as_json) for name in names]
    if as_json:
        print(json.dumps(outcomes, default=str))
    else:
        _summary(outcomes)
    return 0 if all(o.get("status") == "succeeded" for o in outcomes) else EXIT_PROBLEMS


def register(app: typer.Typer) -> None:
    @app.command("sync")
    def sync(
        source: str | None = typer.Argument(None, help="source id (sources/<id>.yaml)"),
        every: bool = typer.Option(False, "--all", help="sync every source (customers first)"),
        project: Path | None = typer.Option(
            None, "--project", help="project folder (default: here)"
        ),
        store: str | None = typer.Option(None, "--database-url", "--store", help=STORE_HELP),
        full: bool = typer.Option(
            False, "--full", help="read everything again, ignoring the stored watermark"
        ),
        as_json: bool = typer.Option(False, "--json", help="print the outcomes as JSON"),
    ) -> None:
        """Import a source's new and changed rows into the store (a Prefect flow run)."""
        raise typer.Exit(sync_command(source, every, project, store, full, as_json))
