"""``journeys simulate`` and ``journeys demo``: run journeys against simulated customers.

``demo`` starts from a fresh SQLite store, runs every journey of the project over simulated days
and prints, per journey, the stage funnel, per-step counts and per-variant conversion against the
holdout. ``--json`` prints the same figures as JSON on stdout (and nothing else there). Bad
arguments exit 2 with a message; an invalid project exits 1 with its problems listed.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from prefect_journeys.cli.common import fail
from prefect_journeys.definition.durations import parse_duration
from prefect_journeys.definition.errors import JourneyInvalid, Problem
from prefect_journeys.store.database import make_engine, to_utc_naive

DEFAULT_START = datetime(2026, 1, 5)  # a Monday, 00:00 UTC: the weekly win-back fires on day 0
DEFAULT_DEMO_STORE = Path(".journeys") / "demo.db"
DEFAULT_SIMULATION_STORE = Path(".journeys") / "simulation.db"
DEBUG_ENV = "JOURNEYS_DEBUG"

RunTick = Callable[[Any, Any, datetime], Any]


class ProjectInvalid(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s)")


# ----------------------------------------------------------------------------- argument parsing


def parse_start(value: str | None) -> datetime:
    """ISO date or date-time (naive = UTC) → naive UTC; ``None`` → :data:`DEFAULT_START`."""
    if value is None:
        return DEFAULT_START
    try:
        return to_utc_naive(datetime.fromisoformat(value))
    except ValueError:
        raise fail(
            f"--start {value!r} is not an ISO date or date-time;"
            " write e.g. 2026-01-05 or 2026-01-05T08:00:00Z"
        ) from None


def parse_tick(value: str) -> timedelta:
    try:
        tick = parse_duration(value)
    except ValueError as exc:
        raise fail(f"--tick: {exc}") from None
    if tick > timedelta(days=1):
        raise fail(f"--tick {value!r} is longer than a day: use e.g. 15m, 1h or 6h")
    return tick


def store_url(store: str | Path) -> str:
    """A SQLAlchemy URL for ``store``: a URL as given, a file path as a SQLite URL."""
    text = str(store)
    return text if "://" in text else f"sqlite:///{Path(text)}"


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return Path(str(parsed.database))
    return None


def reset_sqlite(path: Path) -> None:
    """Delete a SQLite store file (and its WAL/journal side files)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = path.with_name(path.name + suffix)
        if candidate.exists():
            candidate.unlink()


# ----------------------------------------------------------------------------- running


def load_plans(path: Path) -> tuple[Path, list[Any]]:
    """The project root and the plans to run: every journey of a folder, or one journey file."""
    from prefect_journeys.definition.project import Project

    path = Path(path)
    if not path.exists():
        raise fail(f"{path} does not exist: give a project folder or a journey file")
    root = Project.find_root(path)
    if path.is_file():
        project = Project.load(root, extra_journeys=[path])
        record = project.journey_file(path)
        if record is None or record.journey_id is None:
            problems = project.problems_for_file(record) if record is not None else []
            raise ProjectInvalid(problems or [Problem(str(path), None, None, "no journey id")])
        ids = [record.journey_id]
    else:
        project = Project.load(root)
        if project.problems:
            raise ProjectInvalid(project.problems)
        ids = sorted(project.journeys)
        if not ids:
            raise ProjectInvalid(
                [Problem(str(root / "journeys"), None, None, "no journeys to simulate")]
            )
    plans = []
    for journey_id in ids:
        try:
            plans.append(project.plan(journey_id))
        except JourneyInvalid as invalid:
            raise ProjectInvalid(invalid.problems) from None
    return root, plans


def _report_order(plan: Any) -> dict[str, Any]:
    """Display order for the report: step ids in file order, used stages in stage order."""
    journey = getattr(plan, "journey", None)
    if journey is None:
        return {}
    steps = [step.id for step in journey.steps]
    used = {step.stage for step in journey.steps if step.stage}
    stages = [s for s in journey.settings.stages if s in used]
    stages += sorted(used - set(stages))
    holdouts = {
        variant.variant
        for step in journey.steps
        if getattr(step, "kind", None) == "split"
        for variant in step.split
        if variant.is_holdout
    }
    return {"steps": steps, "stages": stages, "holdouts": sorted(holdouts) or ["holdout"]}


def reports(engine: Engine, plans: Sequence[Any]) -> dict[str, dict[str, Any]]:
    from prefect_journeys.analytics.report import journey_report
    from prefect_journeys.simulation.runner import plan_journey_id

    out: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for plan in plans:
            journey_id = plan_journey_id(plan)
            out[journey_id] = journey_report(conn, journey_id, **_report_order(plan))
            journey = getattr(plan, "journey", None)
            out[journey_id]["name"] = getattr(journey, "name", None)
    return out


def _progress(
    days: int, enabled: bool
) -> tuple[AbstractContextManager[Any], Callable[[int], None]]:
    if not enabled:
        return nullcontext(), lambda _day: None
    progress = Progress(
        TextColumn("simulating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("days"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    task = progress.add_task("days", total=days)
    return progress, lambda _day: progress.advance(task)


def run_simulation(
    path: Path,
    *,
    store: str | Path,
    customers: int,
    days: int,
    seed: int,
    start: datetime = DEFAULT_START,
    tick: timedelta = timedelta(hours=1),
    reset: bool = False,
    progress: bool = False,
    run_tick: RunTick | None = None,
    run_day: Callable[[Any, int], int] | None = None,
) -> dict[str, Any]:
    """Load the journeys at ``path``, simulate, and return the figures (JSON-ready)."""
    from prefect_journeys.simulation.runner import ensure_store, simulate

    began = time.perf_counter()
    root, plans = load_plans(path)
    url = store_url(store)
    file = sqlite_path(url)
    if reset and file is not None:
        reset_sqlite(file)
    engine = make_engine(url)
    from functools import partial

    from prefect_journeys.engine.tick import run_tick as real_tick
    from prefect_journeys.simulation.providers import emulated_providers, traffic

    try:
        ensure_store(engine)
        context, on_day = _progress(days, progress)
        with context, emulated_providers() as (emu, senders):
            # the project's expectations/ suites gate every send step, as in a real run
            run_tick = run_tick or partial(real_tick, senders=senders, project_root=root)
            result = simulate(
                engine,
                plans,
                customers=customers,
                days=days,
                seed=seed,
                start=start,
                tick_every=tick,
                on_day=on_day,
                run_tick=run_tick,
                run_day=run_day,
            )
            providers = traffic(emu)
        figures = reports(engine, plans)
    finally:
        engine.dispose()
    return {
        "store": str(file.resolve()) if file is not None else make_url(url).render_as_string(),
        "elapsed_seconds": round(time.perf_counter() - began, 3),
        "simulation": result.to_dict(),
        "providers": providers,
        "journeys": figures,
    }


def _require_journeys_folder(project: Path) -> None:
    if not (project / "journeys").is_dir():
        raise fail(
            f"{project} has no journeys/ folder: run the demo in a project folder or pass --project"
        )


def run_demo(
    *,
    project: Path = Path("."),
    customers: int = 5000,
    days: int = 14,
    seed: int = 7,
    store: Path = DEFAULT_DEMO_STORE,
    start: datetime = DEFAULT_START,
    tick: timedelta = timedelta(hours=1),
    progress: bool = False,
    run_tick: RunTick | None = None,
    run_day: Callable[[Any, int], int] | None = None,
) -> dict[str, Any]:
    """A fresh SQLite store, every journey of ``project``, simulated; the figures as data."""
    _require_journeys_folder(Path(project))
    return run_simulation(
        Path(project),
        store=Path(store),
        customers=customers,
        days=days,
        seed=seed,
        start=start,
        tick=tick,
        reset=True,
        progress=progress,
        run_tick=run_tick,
        run_day=run_day,
    )


# ----------------------------------------------------------------------------- printing


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def print_figures(console: Console, figures: dict[str, Any]) -> None:
    for journey_id, report in figures["journeys"].items():
        name = report.get("name")
        title = f"{journey_id} — {name}" if name else journey_id
        totals = report["totals"]
        console.rule(f"[bold]{escape(title)}")
        console.print(
            "entered {entered} · converted {converted} · exited {exited} · completed {completed}"
            " · active {active}".format(**totals)
        )
        funnel = Table(title="Stage funnel", title_justify="left")
        for column in ("stage", "enrollments", "from previous", "from entered"):
            funnel.add_column(column, justify="left" if column == "stage" else "right")
        for row in report["funnel"]:
            funnel.add_row(
                escape(row["stage"]),
                str(row["enrollments"]),
                _pct(row["rate_from_previous"]),
                _pct(row["rate_from_entered"]),
            )
        console.print(funnel)
        steps = Table(title="Steps", title_justify="left")
        columns = ("entered", "sent", "deferred", "suppressed", "delivered", "opened", "clicked")
        steps.add_column("step")
        steps.add_column("stage")
        for column in columns:
            steps.add_column(column, justify="right")
        for row in report["steps"]:
            steps.add_row(
                escape(row["step_id"]),
                escape(row["stage"] or ""),
                *(str(row[c]) for c in columns),
            )
        console.print(steps)
        if any(v["variant"] is not None for v in report["variants"]):
            variants = Table(
                title="Variants (conversion within the goal window)", title_justify="left"
            )
            for column in (
                "variant",
                "enrollments",
                "converted",
                "rate",
                "sent",
                "lift vs holdout",
            ):
                variants.add_column(column, justify="left" if column == "variant" else "right")
            for row in report["variants"]:
                label = row["variant"] or "(no split)"
                if row["holdout"] and row["variant"] != "holdout":
                    label += " (holdout)"
                lift = row["lift_points"]
                variants.add_row(
                    escape(label),
                    str(row["enrollments"]),
                    str(row["converted"]),
                    _pct(row["rate"]),
                    str(row["sent"]),
                    "—" if lift is None else f"{lift:+.1f} pts",
                )
            console.print(variants)
    sim = figures["simulation"]
    activity = sim["activity"]
    console.rule()
    console.print(
        f"Simulated {sim['customers']} customers ({sim['initial_customers']} at the start) over"
        f" {sim['days']} days from {sim['start']} in {sim['ticks']} ticks:"
        f" {activity.get('signed_up', 0)} sign-ups, {activity.get('cart_abandoned', 0)} abandoned"
        f" carts, {activity.get('purchase', 0)} purchases."
    )
    providers = figures.get("providers")
    if providers:
        console.print(
            f"Provider traffic (local emulators at {providers['url']}, real SendGrid and Twilio"
            f" SDKs over HTTP): {providers['emails']} emails in {providers['sendgrid_requests']}"
            f" SendGrid requests, {providers['texts']} texts in {providers['twilio_requests']}"
            " Twilio requests."
        )
    console.print(f"Store: {escape(figures['store'])}")
    console.print(f"Elapsed: {figures['elapsed_seconds']:.1f} s")


def _emit(figures: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(figures, indent=2, sort_keys=True, default=str) + "\n")
    else:
        # Tables of nine columns need more than the 80 columns Rich assumes when piped.
        width = None if sys.stdout.isatty() else 120
        print_figures(Console(highlight=False, width=width), figures)


def _run(action: Callable[[], dict[str, Any]], as_json: bool) -> int:
    err = Console(stderr=True, highlight=False)
    try:
        figures = action()
    except typer.Exit:
        raise
    except ProjectInvalid as invalid:
        from prefect_journeys.cli.definition_cmds import print_problems

        print_problems(err, invalid.problems)
        err.print(f"[red]failed[/red]: {len(invalid.problems)} problem(s) in the project")
        return 1
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        err.print(f"[red]error[/red]: {escape(str(exc) or repr(exc))}")
        err.print(f"[dim]set {DEBUG_ENV}=1 to see the traceback[/dim]")
        return 1
    _emit(figures, as_json)
    return 0


def _with_prefect(enabled: bool, action: Callable[..., dict[str, Any]]) -> Callable[..., Any]:
    """Run ``action`` inside the ``simulate-journeys`` Prefect flow (a task per simulated day)."""
    if not enabled:
        return action

    def run(*args: Any, **kwargs: Any) -> dict[str, Any]:
        from prefect_journeys.cli.common import quiet_prefect

        # Check the project before Prefect starts: problems are reported plainly, not as a
        # failed flow run with a traceback in its logs.
        project = Path(args[0]) if args else Path(kwargs.get("project", "."))
        if action is run_demo:
            _require_journeys_folder(project)
        load_plans(project)
        quiet_prefect()
        from prefect_journeys.flows.simulate import simulate_in_flow

        return simulate_in_flow(action, *args, **kwargs)

    return run


def simulate_command(
    path: Path,
    *,
    customers: int,
    days: int,
    seed: int,
    start: str | None = None,
    tick: str = "1h",
    store: str | None = None,
    reset: bool = False,
    as_json: bool = False,
    prefect: bool = True,
) -> int:
    start_at = parse_start(start)
    tick_every = parse_tick(tick)
    return _run(
        lambda: _with_prefect(prefect, run_simulation)(
            path,
            store=store or DEFAULT_SIMULATION_STORE,
            customers=customers,
            days=days,
            seed=seed,
            start=start_at,
            tick=tick_every,
            reset=reset,
            progress=not as_json,
        ),
        as_json,
    )


def demo_command(
    *,
    project: Path = Path("."),
    customers: int = 5000,
    days: int = 14,
    seed: int = 7,
    store: Path = DEFAULT_DEMO_STORE,
    start: str | None = None,
    tick: str = "1h",
    as_json: bool = False,
    prefect: bool = True,
) -> int:
    start_at = parse_start(start)
    tick_every = parse_tick(tick)
    return _run(
        lambda: _with_prefect(prefect, run_demo)(
            project=project,
            customers=customers,
            days=days,
            seed=seed,
            store=store,
            start=start_at,
            tick=tick_every,
            progress=not as_json,
        ),
        as_json,
    )


# ----------------------------------------------------------------------------- typer


def register(app: typer.Typer) -> None:
    """Add ``simulate`` and ``demo`` to the ``journeys`` command."""

    @app.command("simulate")
    def simulate(
        path: Annotated[
            Path, typer.Argument(help="A project folder (all its journeys) or one journey file.")
        ],
        customers: Annotated[
            int, typer.Option("--customers", min=1, help="Population size.")
        ] = 1000,
        days: Annotated[int, typer.Option("--days", min=1, help="Simulated days.")] = 7,
        seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same run).")] = 7,
        start: Annotated[
            str | None,
            typer.Option("--start", help="Simulated start, ISO (UTC unless an offset is given)."),
        ] = None,
        tick: Annotated[str, typer.Option("--tick", help="Time between ticks, e.g. 1h.")] = "1h",
        store: Annotated[
            str | None,
            typer.Option("--store", help=f"Store URL or SQLite path [{DEFAULT_SIMULATION_STORE}]."),
        ] = None,
        reset: Annotated[
            bool, typer.Option("--reset", help="Delete the SQLite store file first.")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
        prefect: Annotated[
            bool,
            typer.Option(
                "--prefect/--no-prefect",
                help="Run as a Prefect flow, a task per simulated day (default), or directly.",
            ),
        ] = True,
    ) -> None:
        """Run journeys against simulated customers and print their figures."""
        raise typer.Exit(
            simulate_command(
                path,
                customers=customers,
                days=days,
                seed=seed,
                start=start,
                tick=tick,
                store=store,
                reset=reset,
                as_json=as_json,
                prefect=prefect,
            )
        )

    @app.command("demo")
    def demo(
        customers: Annotated[
            int, typer.Option("--customers", min=1, help="Population size.")
        ] = 5000,
        days: Annotated[int, typer.Option("--days", min=1, help="Simulated days.")] = 14,
        seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same run).")] = 7,
        store: Annotated[
            Path, typer.Option("--store", help="SQLite file (deleted and recreated).")
        ] = DEFAULT_DEMO_STORE,
        project: Annotated[
            Path, typer.Option("--project", help="Project folder holding journeys/.")
        ] = Path("."),
        start: Annotated[
            str | None, typer.Option("--start", help="Simulated start, ISO (UTC).")
        ] = None,
        tick: Annotated[str, typer.Option("--tick", help="Time between ticks, e.g. 1h.")] = "1h",
        as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
        prefect: Annotated[
            bool,
            typer.Option(
                "--prefect/--no-prefect",
                help="Run as a Prefect flow, a task per simulated day (default), or directly.",
            ),
        ] = True,
    ) -> None:
        """Simulate every journey of the project on a fresh store and show the results."""
        raise typer.Exit(
            demo_command(
                project=project,
                customers=customers,
                days=days,
                seed=seed,
                store=store,
                start=start,
                tick=tick,
                as_json=as_json,
                prefect=prefect,
            )
        )


__all__ = [
    "demo_command",
    "load_plans",
    "parse_start",
    "parse_tick",
    "register",
    "run_demo",
    "run_simulation",
    "simulate_command",
]
