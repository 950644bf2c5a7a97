"""``journeys serve`` serves every deployment prefect.yaml declares, not only the journeys."""

from __future__ import annotations

import shutil
from pathlib import Path

from prefect_journeys.cli.run_cmds import deployments_from

ROOT = Path(__file__).resolve().parents[2]


def _project(to: Path) -> None:
    for folder in ("journeys", "templates", "segments"):
        shutil.copytree(ROOT / folder, to / folder)


def _by_name(root: Path) -> dict[str, object]:
    return {d.name: d for d in deployments_from(root, interval=300)}


def test_the_repository_project_serves_journeys_syncs_and_reconciliation() -> None:
    found = _by_name(ROOT)
    assert {"welcome_series", "cart_abandonment", "winback"} <= set(found)
    assert {"sync-crm-customers", "sync-orders", "reconcile-sends"} <= set(found)
    crm = found["sync-crm-customers"]
    assert crm.parameters["source"] == "crm_customers"  # type: ignore[attr-defined]
    assert crm.parameters["project_dir"] == str(ROOT)  # type: ignore[attr-defined]
    cron = crm.schedules[0].schedule  # type: ignore[attr-defined]
    assert (cron.cron, cron.timezone) == ("0 2 * * *", "Europe/Berlin")
    orders = found["sync-orders"].schedules[0].schedule  # type: ignore[attr-defined]
    assert orders.interval.total_seconds() == 3600
    assert sum(1 for name in found if name == "reconcile-sends") == 1


def test_a_project_without_prefect_yaml_still_gets_its_journeys_and_reconciliation(
    tmp_path: Path,
) -> None:
    _project(tmp_path)
    found = _by_name(tmp_path)
    assert {"welcome_series", "cart_abandonment", "winback", "reconcile-sends"} == set(found)
    welcome = found["welcome_series"].schedules[0].schedule  # type: ignore[attr-defined]
    assert welcome.interval.total_seconds() == 300


def test_an_entrypoint_that_cannot_load_is_skipped_with_a_message(
    tmp_path: Path, capsys: object
) -> None:
    _project(tmp_path)
    (tmp_path / "prefect.yaml").write_text(
        "deployments:\n"
        "  - name: broken\n"
        "    entrypoint: flows/missing.py:nothing\n"
        "  - name: nightly-sync\n"
        "    entrypoint: src/prefect_journeys/flows/sync.py:sync_source_flow\n"
        "    parameters: {source: crm, project_dir: .}\n"
        "    schedules: [{cron: '0 3 * * *', timezone: UTC}]\n"
    )
    found = _by_name(tmp_path)
    assert "broken" not in found and "nightly-sync" in found
    assert found["nightly-sync"].parameters["project_dir"] == str(tmp_path.resolve())  # type: ignore[attr-defined]
