"""``journeys validate`` and ``journeys plan``: check journey files and show what a journey will do.

Both print problems grouped per file as ``file:line``, step id, message and hint, end with a summary
line, exit 1 on any problem and 0 otherwise, and never show a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from prefect_journeys.definition.errors import JourneyInvalid, Problem
from prefect_journeys.definition.project import Project, validate_paths


def _console() -> Console:
    return Console(soft_wrap=True, highlight=False)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def print_problems(console: Console, problems: list[Problem]) -> None:
    """Problems grouped per file (in order of first appearance), then by line."""
    by_file: dict[str, list[Problem]] = {}
    for problem in problems:
        by_file.setdefault(problem.file, []).append(problem)
    for file, found in by_file.items():
        console.print(f"[bold]{escape(file)}[/bold]")
        for problem in sorted(found, key=lambda p: p.line if p.line is not None else 0):
            step = f"step '{escape(problem.step)}': " if problem.step else ""
            console.print(
                f"  [red]{escape(problem.location)}[/red]: {step}{escape(problem.message)}"
            )
            if problem.hint:
                console.print(f"    [dim]hint: {escape(problem.hint)}[/dim]")


def _guarded(run: Callable[[Console], int], context: str) -> int:
    console = _console()
    try:
        return run(console)
    except Exception as exc:
        print_problems(console, [Problem(context, None, None, f"internal error: {exc!r}")])
        console.print("[red]failed[/red]: 1 problem")
        return 1


def validate_command(paths: list[Path]) -> int:
    """Check journey files or folders; print every problem; 1 when there are any, else 0."""

    def run(console: Console) -> int:
        checked, problems = validate_paths(paths)
        if problems:
            print_problems(console, problems)
            files = len({p.file for p in problems})
            console.print(
                f"[red]failed[/red]: {_plural(len(problems), 'problem')} in"
                f" {_plural(files, 'file')} ({_plural(checked, 'journey')} checked)"
            )
            return 1
        console.print(f"[green]ok[/green]: {_plural(checked, 'journey')} checked, no problems")
        return 0

    return _guarded(run, " ".join(str(p) for p in paths))


def plan_command(path: Path, as_json: bool) -> int:
    """Compile one journey file and print its plan (a table, or JSON with ``as_json``)."""

    def run(console: Console) -> int:
        if not path.is_file():
            print_problems(
                console,
                [Problem(str(path), None, None, "expected a journey file (journeys/<id>.yaml)")],
            )
            console.print("[red]failed[/red]: 1 problem")
            return 1
        project = Project.load(Project.find_root(path), extra_journeys=[path])
        record = project.journey_file(path)
        problems = project.problems_for_file(record) if record is not None else []
        if record is None or record.journey_id is None:
            problems = problems or [Problem(str(path), None, None, "this file has no journey id")]
        try:
            if problems:
                raise JourneyInvalid(problems)
            assert record is not None and record.journey_id is not None
            plan = project.plan(record.journey_id)
        except JourneyInvalid as invalid:
            print_problems(console, invalid.problems)
            console.print(f"[red]failed[/red]: {_plural(len(invalid.problems), 'problem')}")
            return 1
        if as_json:
            sys.stdout.write(json.dumps(plan.to_json(), indent=2, sort_keys=True) + "\n")
            return 0
        journey = plan.journey
        table = Table(title=f"{journey.id} — {journey.name or ''}".rstrip(" —"))
        for column in ("step", "kind", "stage", "targets", "does"):
            table.add_column(column)
        for row in plan.describe():
            table.add_row(*(escape(row[c]) for c in ("step", "kind", "stage", "targets", "does")))
        console.print(table)
        console.print(f"entry: {journey.entry.kind}; version {plan.content_hash[:12]}")
        return 0

    return _guarded(run, str(path))


def register(app: typer.Typer) -> None:
    """Add ``validate`` and ``plan`` to the ``journeys`` command."""

    @app.command("validate")
    def validate(
        paths: Annotated[
            list[Path], typer.Argument(help="Journey files or project folders to check.")
        ],
    ) -> None:
        """Check journeys (and the templates and segments they use); list every problem."""
        raise typer.Exit(validate_command(paths))

    @app.command("plan")
    def plan(
        path: Annotated[Path, typer.Argument(help="A journey file, e.g. journeys/welcome.yaml.")],
        as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
    ) -> None:
        """Show what a journey will do, step by step, in processing order."""
        raise typer.Exit(plan_command(path, as_json))
