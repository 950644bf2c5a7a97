"""`benchmarks/analytics.py` at a tiny size: it runs end to end, every analytic is timed on both
sides and verified equal to DuckDB's result, and the report carries every figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

EXPECTED = {
    "repeat rate",
    "AOV",
    "retention matrix",
    "churn rate",
    "KM survival",
    "RFM summary",
    "BG/NBD fit + predictions",
    "revenue per journey",
    "experiment counts",
    "attribution paths",
    "attribution first touch",
    "attribution last touch",
    "attribution linear",
    "attribution position based",
    "attribution time decay",
    "attribution markov",
}


def test_tiny_analytics_benchmark_runs_verified(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "analytics.py"),
            "--customers",
            "3000",
            "--events",
            "40000",
            "--json",
            "--workdir",
            str(tmp_path / "work"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert proc.returncode in (0, 1), proc.stderr[
        -3000:
    ]  # 1: a speed target failed, still measured
    report = json.loads(proc.stdout)
    assert report["rows"] == 40_000
    rows = {r["analytic"]: r for r in report["cases"]}
    assert set(rows) >= EXPECTED
    for name, row in rows.items():
        assert row["verified"], (name, row["detail"])
        assert row["ours_s"] > 0, name
        if name.startswith("BG/NBD"):
            assert row["duckdb_s"] is None  # DuckDB cannot fit it: timed alone
            continue
        assert row["duckdb_s"] > 0 and row["ratio"] == pytest.approx(
            row["ours_s"] / row["duckdb_s"]
        ), name
    # the frames read from the store are timed, and end-to-end figures are there
    assert rows["repeat rate"]["load_s"] > 0 and rows["attribution paths"]["load_s"] > 0
    assert rows["revenue per journey"]["e2e_duckdb_s"] > 0
    assert rows["revenue per journey"]["e2e_ours_s"] > rows["revenue per journey"]["ours_s"]
    assert report["targets"]["verified"]["pass"]
    assert "compute ≤ 2x DuckDB" in report["targets"]
    assert "PASS  verified" in proc.stderr
