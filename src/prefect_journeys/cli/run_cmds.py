"""``journeys run`` (one tick as a Prefect flow run) and ``journeys serve`` (serve deployments)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.table import Table

from prefect_journeys.cli.common import (
    EXIT_PROBLEMS,
    console,
    err,
    fail,
    parse_as_of,
    project_root,
    quiet_prefect,
)


def _check_journey(root: Path, journey: str) -> str:
    """The journey id (``journey`` may be an id or a file), or exit 1 with its problems."""
    from prefect_journeys.definition.project import Project

    project = Project.load(root)
    journey_id = journey
    candidate = Path(journey)
    if candidate.suffix in (".yaml", ".yml") and candidate.exists():
        record = project.journey_file(candidate)
        if record is None or record.journey is None:
            problems = project.problems_in(project.display(candidate))
            for problem in problems:
                err.print(str(problem))
            raise typer.Exit(EXIT_PROBLEMS)
        journey_id = str(record.journey.id)
    if journey_id not in project.journeys:
        broken = [f for f in project.journey_files if f.journey_id == journey_id]
        if broken:
            problems = project.problems_for_file(broken[0])
            for problem in problems:
                err.print(str(problem))
            err.print(
                f"[red]journey {journey_id!r} has {len(problems)} problem(s); nothing was run[/]"
            )
            raise typer.Exit(EXIT_PROBLEMS)
        known = ", ".join(sorted(project.journeys)) or "none"
        raise fail(f"no journey {journey_id!r} in {root / 'journeys'} (journeys: {known})")
    problems = project.problems_for(journey_id)
    if problems:
        for problem in problems:
            err.print(str(problem))
        err.print(f"[red]journey {journey_id!r} has {len(problems)} problem(s); nothing was run[/]")
        raise typer.Exit(EXIT_PROBLEMS)
    return journey_id


def print_tick(counts: dict[str, Any]) -> None:
    title = f"{counts['journey']} v{counts['version']} at {counts['as_of']}"
    if counts.get("dry_run"):
        title += " — DRY RUN: nothing written, nothing sent"
    table = Table(title=title)
    for column in ("entered", "intents", "sent", "deferred", "suppressed", "failed", "converted"):
        table.add_column(column, justify="right")
    table.add_row(
        *(
            str(counts[c])
            for c in ("entered", "intents", "sent", "deferred", "suppressed", "failed", "converted")
        )
    )
    console.print(table)
    if counts.get("moved"):
        moves = Table(title="moved into step")
        moves.add_column("step")
        moves.add_column("customers", justify="right")
        for step, n in counts["moved"].items():
            moves.add_row(step, str(n))
        console.print(moves)
    for item in counts.get("would_send", [])[:50]:
        console.print(
            f"  would send [bold]{item['step']}[/] ({item['channel']}) to customer {item['customer_id']}"
        )
    if len(counts.get("would_send", [])) > 50:
        console.print(f"  … and {len(counts['would_send']) - 50} more")
    for key in ("unknown", "retried"):
        if counts.get(key):
            console.print(f"  {key}: {counts[key]} (see journeys reconcile)")
    for problem in counts.get("problems", []):
        console.print(f"  [yellow]{problem}[/]")


def run_command(
    journey: str,
    as_of: str | None,
    dry_run: bool,
    project: Path | None,
    store: str | None,
    as_json: bool,
) -> int:
    root = project_root(project)
    moment = parse_as_of(as_of)
    journey_id = _check_journey(root, journey)
    quiet_prefect()
    from prefect_journeys.flows.run_journey import run_journey

    state = run_journey(
        journey=journey_id,
        project_dir=str(root),
        as_of=moment,
        dry_run=dry_run,
        database_url=store,
        return_state=True,
    )
    if state.is_failed():
        err.print(f"[bold red]error:[/] {state.message}")
        if "sender '" in (state.message or ""):  # not for a held audience or a segment source
            err.print(
                "hint: save the credentials block the journey names, or set the provider's"
                " environment variables (`journeys emulators` prints them for local emulators)"
            )
        raise typer.Exit(EXIT_PROBLEMS)
    counts = state.result()
    if as_json:
        print(json.dumps(counts, default=str))
    else:
        print_tick(counts)
    return 0


def _declared(root: Path) -> list[dict[str, Any]]:
    spec = root / "prefect.yaml"
    if not spec.exists():
        return []
    items = (yaml.safe_load(spec.read_text()) or {}).get("deployments") or []
    return [item for item in items if isinstance(item, dict)]


def _schedule(schedules: list[dict[str, Any]]) -> dict[str, Any]:
    """``to_deployment`` keywords for the first of prefect.yaml's schedules (cron or interval)."""
    if not schedules:
        return {}
    first = schedules[0]
    if "cron" in first:
        from prefect.client.schemas.schedules import CronSchedule

        return {"schedule": CronSchedule(cron=first["cron"], timezone=first.get("timezone", "UTC"))}
    if "interval" in first:
        return {"interval": int(first["interval"])}
    return {}


def _flow_of(root: Path, entrypoint: str) -> Any:
    """The flow an entrypoint names: one of ours imported from the installed package (so a
    project folder without our sources serves it too), any other loaded from the project."""
    path, _, name = entrypoint.partition(":")
    marker = "prefect_journeys/"
    if marker in path and path.endswith(".py"):
        module = "prefect_journeys." + path.split(marker, 1)[1][: -len(".py")].replace("/", ".")
        return getattr(importlib.import_module(module), name)
    from prefect.flows import load_flow_from_entrypoint

    return load_flow_from_entrypoint(f"{root / path}:{name}")


def deployments_from(root: Path, interval: int) -> list[Any]:
    """Runner deployments for ``journeys serve``: one per valid journey (prefect.yaml's schedule
    when it declares one, else the journey's own cron for schedule entries and an interval tick
    for the rest), and every other deployment prefect.yaml declares (syncs, rollups,
    reconciliation) with its schedule and parameters (``project_dir`` made absolute)."""
    from prefect_journeys.definition.project import Project
    from prefect_journeys.flows.run_journey import run_journey

    declared = _declared(root)
    by_journey = {
        str(item["parameters"]["journey"]): item
        for item in declared
        if isinstance(item.get("parameters"), dict) and item["parameters"].get("journey")
    }
    project = Project.load(root)
    out = []
    for journey_id in sorted(project.journeys):
        if project.problems_for(journey_id):
            err.print(f"[yellow]skipping {journey_id}: it has problems (run journeys validate)[/]")
            continue
        params = {"journey": journey_id, "project_dir": str(root)}
        kwargs = _schedule(by_journey.get(journey_id, {}).get("schedules") or [])
        if not kwargs:
            entry = project.journeys[journey_id].journey.entry
            if entry.schedule is not None:
                from prefect.client.schemas.schedules import CronSchedule

                kwargs["schedule"] = CronSchedule(
                    cron=entry.schedule.cron, timezone=entry.schedule.timezone
                )
            else:
                kwargs["interval"] = interval
        out.append(run_journey.to_deployment(name=journey_id, parameters=params, **kwargs))
    names = set()
    for item in declared:
        params = dict(item.get("parameters") or {})
        if params.get("journey") or not item.get("entrypoint") or not item.get("name"):
            continue
        if "project_dir" in params:
            params["project_dir"] = str((root / str(params["project_dir"])).resolve())
        try:
            flow = _flow_of(root, str(item["entrypoint"]))
        except (ImportError, AttributeError, OSError, ValueError) as exc:
            err.print(
                f"[yellow]skipping {item['name']}: cannot load {item['entrypoint']}: {exc}[/]"
            )
            continue
        names.add(str(item["name"]))
        out.append(
            flow.to_deployment(
                name=str(item["name"]), parameters=params, **_schedule(item.get("schedules") or [])
            )
        )
    if out and "reconcile-sends" not in names:
        # settle unknown sends (timeouts, dropped responses) from provider evidence
        from prefect_journeys.flows.reconcile import reconcile_sends

        out.append(
            reconcile_sends.to_deployment(
                name="reconcile-sends", parameters={"project_dir": str(root)}, interval=600
            )
        )
    return out


def serve_command(project: Path | None, interval: int) -> int:
    root = project_root(project)
    quiet_prefect()
    deployments = deployments_from(root, interval)
    if not deployments:
        raise fail("no valid journeys to serve", EXIT_PROBLEMS)
    from prefect import serve

    serve(*deployments)
    return 0


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        journey: str = typer.Argument(..., help="journey id, or the path of its YAML file"),
        as_of: str | None = typer.Option(
            None, "--as-of", help="the tick's clock (ISO time); default now"
        ),
        dry_run: bool = typer.Option(
            False, "--dry-run", help="compute everything, write and send nothing"
        ),
        project: Path | None = typer.Option(
            None, "--project", help="project folder (default: here)"
        ),
        store: str | None = typer.Option(
            None,
            "--store",
            help="database URL (default: $JOURNEYS_DATABASE_URL or .journeys/journeys.db)",
        ),
        as_json: bool = typer.Option(False, "--json", help="print the figures as JSON"),
    ) -> None:
        """Run one tick of a journey as a Prefect flow run."""
        raise typer.Exit(run_command(journey, as_of, dry_run, project, store, as_json))

    @app.command("serve")
    def serve(
        project: Path | None = typer.Option(
            None, "--project", help="project folder (default: here)"
        ),
        interval: int = typer.Option(
            300, "--interval", help="tick interval (s) for journeys without a schedule"
        ),
    ) -> None:
        """Serve every journey as a scheduled Prefect deployment from this process (no work pool)."""
        raise typer.Exit(serve_command(project, interval))
