"""`benchmarks/sync.py` in its quick mode: it runs end to end, verifies every run and reports
the figures the issue asks for (rows/s, peak RSS, GX seconds per million rows, sync / bare)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_quick_sync_benchmark_runs_verified(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "sync.py"),
            "--customers",
            "20000",
            "--events",
            "100000",
            "--store",
            "sqlite",
            "--source",
            "parquet",
            "--json",
            "--workdir",
            str(tmp_path / "work"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert proc.returncode in (0, 1), proc.stderr[-3000:]  # 1: a target failed, still measured
    report = json.loads(proc.stdout)
    summary = report["summary"]
    assert summary["targets"]["verified"]["pass"], summary["targets"]["verified"]
    (run,) = summary["runs"]
    assert (run["store"], run["source"], run["ok"]) == ("sqlite", "parquet", True)
    assert run["rows_per_s"] > 0 and run["peak_rss_mb"] > 0
    assert run["ratio"] > 1  # the sync does more than DuckDB reading Parquet
    assert set(run["gx_s_per_m"]) == {"customers", "events"}
    assert all(value > 0 for value in run["gx_s_per_m"].values())
    assert set(run["gx_cpu_s_per_m"]) == {"customers", "events"}
    assert all(value > 0 for value in run["gx_cpu_s_per_m"].values())
    assert set(run["entity_ratios"]) == {"customers", "events"}
    sync = report["runs"]["sync parquet → sqlite"]
    assert sync["results"]["customers"]["counts"]["inserted"] == 20_000
    assert sync["results"]["events"]["counts"]["events_inserted"] == 100_000
    assert "sync parquet → sqlite" in proc.stderr  # progress goes to stderr with --json
