"""Friction (drop-off per step and per stage) and gaps against the journey's KPI targets."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from prefect_journeys.analytics.friction import gaps, stage_drop_off, step_drop_off
from prefect_journeys.definition.model import Targets

T0 = datetime(2026, 3, 2, 9)
STAGE = {"hello": "awareness", "tips": "consideration", "offer": "decision"}


def journey_log() -> pd.DataFrame:
    """10 enrollments: 10 at hello, 6 at tips, 3 at offer.

    Lost at hello: e7, e8 (exited), e9 completed; e10 still waiting there (not lost).
    Lost at tips: e4, e5 exited; e6 converted then exited (not lost). At offer: e1 converts,
    e2 completed without converting (lost), e3 active.
    """
    rows: list[dict[str, Any]] = []

    def add(name: str, e: int, minute: int, **extra: Any) -> None:
        rows.append(
            {
                "seq": len(rows) + 1,
                "customer_id": f"c{e}",
                "name": name,
                "occurred_at": T0 + timedelta(minutes=minute),
                "journey_id": "welcome",
                "enrollment_id": e,
                "step_id": extra.get("step_id"),
                "stage": STAGE.get(extra.get("step_id", "")),
                "intent_id": extra.get("intent_id"),
                "channel": extra.get("channel"),
                "variant": None,
            }
        )

    for e in range(1, 11):
        add("journey.entered", e, 0)
        add("journey.step", e, 0, step_id="hello")
        add("message.sent", e, 0, step_id="hello", intent_id=e, channel="email")
        add("message.delivered", e, 1, step_id="hello", intent_id=e, channel="email")
        if e <= 4:
            add("message.opened", e, 2, step_id="hello", intent_id=e, channel="email")
    for e in range(1, 7):
        add("journey.step", e, 60, step_id="tips")
    for e in (1, 2, 3):
        add("journey.step", e, 120, step_id="offer")
    add("journey.converted", 1, 130)
    add("journey.converted", 6, 70)
    for e in (7, 8, 4, 5, 6):
        add("journey.exited", e, 200)
    for e in (9, 2, 1):
        add("journey.completed", e, 300)
    return pd.DataFrame(rows)


def test_step_drop_off_ranks_steps_by_customers_lost() -> None:
    table = step_drop_off(journey_log())
    assert table["step_id"].tolist() == ["hello", "tips", "offer"]
    assert table["entered"].tolist() == [10, 6, 3]
    assert table["lost"].tolist() == [3, 2, 1]
    assert table["lost_rate"].tolist() == pytest.approx([0.3, 1 / 3, 1 / 3])
    assert table["rank_lost"].tolist() == [1, 2, 3]
    assert table["rank_rate"].tolist() == [3, 1, 1]
    assert table["stage"].tolist() == ["awareness", "consideration", "decision"]
    assert step_drop_off(journey_log(), top=1)["step_id"].tolist() == ["hello"]


def test_stage_drop_off() -> None:
    table = stage_drop_off(journey_log())
    assert table["from_stage"].tolist() == ["awareness", "consideration"]
    assert table["dropped"].tolist() == [4, 3]
    assert table["drop_rate"].tolist() == pytest.approx([0.4, 0.5])


def test_gaps_against_targets() -> None:
    targets = {
        "conversion": 0.25,
        "stages": {"consideration": 0.6, "decision": 0.5, "retention": 0.1},
        "steps": {"hello": {"open_rate": 0.35, "click_rate": 0.05}, "offer": {"open_rate": 0.2}},
    }
    table = gaps(journey_log(), targets, journey_id="welcome")
    rows = {(r["key"], r["metric"]): r for r in table.to_dict("records")}
    goal = rows[("goal", "conversion")]
    assert (goal["actual"], goal["base"]) == (0.2, 10)
    assert goal["gap"] == pytest.approx(-0.05) and goal["met"] is False
    assert rows[("consideration", "share_of_entered")]["met"] is True  # 0.6 ≥ 0.6
    assert rows[("decision", "share_of_entered")]["actual"] == pytest.approx(0.3)
    assert rows[("retention", "share_of_entered")]["actual"] == 0.0
    hello_open = rows[("hello", "open_rate")]
    assert (hello_open["actual"], hello_open["met"], hello_open["base"]) == (0.4, True, 10)
    assert rows[("hello", "click_rate")]["met"] is False
    offer = rows[("offer", "open_rate")]  # nothing delivered at the offer: unknown, not failed
    assert np.isnan(offer["actual"]) and pd.isna(offer["met"])
    assert len(table) == 7
    # The model object works the same as the mapping.
    same = gaps(journey_log(), Targets.model_validate(targets))
    pd.testing.assert_frame_equal(same, table)


def test_empty_and_bad_input() -> None:
    empty = journey_log().iloc[0:0]
    assert step_drop_off(empty).empty
    assert stage_drop_off(empty).empty
    out = gaps(empty, {"conversion": 0.1, "stages": {"decision": 0.2}})
    assert out["actual"].isna().all() and out["met"].isna().all()
    assert gaps(empty, None).empty
    with pytest.raises(ValueError, match="conversion"):
        gaps(empty, {"conversion": 1.5})
    with pytest.raises(ValueError, match="top"):
        step_drop_off(empty, top=-1)
    with pytest.raises(ValueError, match="missing column"):
        step_drop_off(pd.DataFrame({"name": []}))
