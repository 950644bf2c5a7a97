"""``journeys rollup``: fold new events into the dashboard's rollups (``--full``: rebuild them)."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from prefect_journeys.cli.common import console, err, quiet_prefect


def rollup_command(store: str | None, full: bool, models: bool, as_json: bool) -> int:
    quiet_prefect()
    from prefect_journeys.flows.rollup import rollup

    state = rollup(database_url=store, full=full, models=models, return_state=True)
    if state.is_failed() or state.is_crashed():
        err.print(f"[bold red]error:[/] {state.message}")
        return 1
    result = state.result()
    daily = result["daily"]
    if as_json:
        console.print_json(json.dumps(result, default=str))
        return 0
    table = Table(title="rollup (full rebuild)" if full else "rollup")
    for column in ("events", "partitions", "rows deleted", "rows inserted", "watermark", "s"):
        table.add_column(column, justify="right")
    table.add_row(
        str(daily["events"]),
        str(daily["partitions"]),
        str(daily["rows_deleted"]),
        str(daily["rows_inserted"]),
        f"{daily['watermark_from']} → {daily['watermark_to']}",
        str(daily["seconds"]),
    )
    console.print(table)
    refreshed = [o for o in result["models"] if o["outcome"] == "refreshed"]
    if refreshed:
        console.print(f"model snapshots refreshed: {len(refreshed)}")
    if daily["open_gaps"]:
        console.print(
            f"[yellow]{daily['open_gaps']} seq gap(s) not committed yet: read again next run[/]"
        )
    return 0


def register(app: typer.Typer) -> None:
    @app.command("rollup")
    def rollup(
        full: bool = typer.Option(
            False, "--full", help="rebuild every rollup row from the event log"
        ),
        models: bool = typer.Option(
            True, "--models/--no-models", help="also refresh the model snapshots"
        ),
        store: str | None = typer.Option(
            None,
            "--store",
            help="database URL (default: $JOURNEYS_DATABASE_URL or .journeys/journeys.db)",
        ),
        as_json: bool = typer.Option(False, "--json", help="print the outcome as JSON"),
    ) -> None:
        """Fold new events into the daily rollups the dashboard reads (a Prefect flow run)."""
        raise typer.Exit(rollup_command(store, full, models, as_json))
