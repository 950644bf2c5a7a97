"""The demo end to end with the real engine: 300 customers over 3 days, every example journey."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefect_journeys.cli.simulate_cmds import run_demo

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    figures = run_demo(project=ROOT, customers=300, days=3, seed=7, store=tmp_path / "demo.db")
    journeys = figures["journeys"]
    assert set(journeys) == {"cart_abandonment", "welcome_series", "winback"}
    for journey_id, report in journeys.items():
        sent = sum(step["sent"] for step in report["steps"])
        assert sent > 0, f"{journey_id}: nothing sent"
        assert figures["simulation"]["journeys"][journey_id]["sent"] >= 0
        for variant in report["variants"]:
            assert variant["converted"] >= 0
            assert 0 <= variant["converted"] <= variant["enrollments"]
            if variant["holdout"]:
                assert variant["sent"] == 0, f"{journey_id}: a holdout got messages"
        totals = report["totals"]
        assert totals["entered"] > 0
        assert 0 <= totals["converted"] <= totals["entered"]
    winback = {v["variant"]: v for v in journeys["winback"]["variants"]}
    assert "holdout" in winback and winback["holdout"]["enrollments"] > 0
    assert figures["simulation"]["activity"]["message.delivered"] > 0
    assert Path(figures["store"]).exists()
