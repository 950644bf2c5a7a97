"""Deliverability, data-quality and journey-map figures on hand-built frames."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from prefect_journeys.dashboards.delivery import (
    by_channel,
    deferral_reasons,
    optouts_by_day,
    problems,
)
from prefect_journeys.dashboards.journey_map import journey_dot
from prefect_journeys.dashboards.quality import quarantine_reasons, validations_by_day
from prefect_journeys.definition.project import Project

ROOT = Path(__file__).resolve().parents[2]


def _frame(rows: list[tuple[object, ...]], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("occurred_at", "recorded_at", "checked_at"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column])
    return frame


EVENT_COLUMNS = ["seq", "name", "occurred_at", "channel", "intent_id", "properties"]


def test_problems_count_each_message_once_per_kind_on_its_first_day() -> None:
    events = _frame(
        [
            (1, "message.bounced", "2026-01-02 10:00", "email", 7, {}),
            (2, "message.bounced", "2026-01-03 10:00", "email", 7, {}),  # the same bounce again
            (3, "message.bounced", "2026-01-03 11:00", "email", 8, {}),
            (4, "message.deferred", "2026-01-03 22:00", "sms", 9, {"reason": "quiet_hours"}),
            (5, "message.deferred", "2026-01-03 23:00", "sms", 9, {"reason": "quiet_hours"}),
            (
                6,
                "message.deferred",
                "2026-01-03 23:30",
                "email",
                10,
                {"reason": "provider_throttled"},
            ),
            (7, "message.sent", "2026-01-03 09:00", "email", 11, {}),  # not a problem
            (8, "message.spamreport", "2026-01-03 12:00", "email", None, {}),  # no intent
        ],
        EVENT_COLUMNS,
    )
    rows = problems(events)
    assert rows.assign(day=rows["day"].dt.strftime("%m-%d")).values.tolist() == [
        ["01-02", "email", "bounced", 1],
        ["01-03", "email", "bounced", 1],
        ["01-03", "email", "spamreport", 1],
        ["01-03", "email", "deferred", 1],
        ["01-03", "sms", "deferred", 1],
    ]
    table = by_channel(rows).set_index("channel")
    assert table.loc["email", "bounced"] == 2 and table.loc["sms", "deferred"] == 1
    assert list(table.columns) == ["bounced", "spamreport", "deferred"]  # in severity order
    reasons = deferral_reasons(events)
    assert reasons.values.tolist() == [
        ["quiet_hours", "sms", 2],  # every deferral counts
        ["provider_throttled", "email", 1],
    ]


def test_empty_frames_give_empty_tables() -> None:
    events = _frame([], EVENT_COLUMNS)
    assert problems(events).empty and by_channel(problems(events)).empty
    assert deferral_reasons(events).empty
    optouts = _frame([], ["customer_id", "channel", "recorded_at"])
    assert optouts_by_day(optouts).empty
    with pytest.raises(ValueError, match="intent_id"):
        problems(events.drop(columns="intent_id"))


def test_optouts_by_day() -> None:
    optouts = _frame(
        [
            ("a", "email", "2026-01-02 10:00"),
            ("b", "email", "2026-01-02 18:00"),
            ("c", "sms", "2026-01-03 09:00"),
        ],
        ["customer_id", "channel", "recorded_at"],
    )
    assert optouts_by_day(optouts)["optouts"].tolist() == [2, 1]


def test_validations_by_day_and_quarantine_reasons() -> None:
    runs = _frame(
        [
            ("s", "t", "2026-01-02 10:00", 10, 1, True),
            ("s", "t", "2026-01-02 12:00", 10, 5, False),
            ("s", "t", "2026-01-03 12:00", 0, 0, True),
        ],
        ["suite", "target", "checked_at", "rows", "failed_rows", "passed"],
    )
    out = validations_by_day(runs)
    assert out[["runs", "passed", "rows", "failed_rows"]].values.tolist() == [
        [2, 1, 20, 6],
        [1, 1, 0, 0],
    ]
    assert out["failed_share"].iloc[0] == pytest.approx(0.3)
    assert pd.isna(out["failed_share"].iloc[1])  # nothing checked: no share, not 0
    held = pd.DataFrame({"kind": ["sync", "sync", "audience"], "reasons": [["a", "b"], ["a"], []]})
    assert quarantine_reasons(held).values.tolist() == [["a", "sync", 2], ["b", "sync", 1]]
    with pytest.raises(ValueError, match="passed"):
        validations_by_day(runs.drop(columns="passed"))


def test_journey_map_of_the_welcome_series() -> None:
    journey = Project.load(ROOT).journeys["welcome_series"].journey
    dot = journey_dot(journey, {"intro": {"entered": 12, "sent": 11}})
    assert dot.startswith("digraph journey {") and dot.endswith("}")
    assert (
        '"intro" [label="intro\\nsend · email\\nentered 12 · sent 11", fillcolor="#4C78A8"' in dot
    )
    assert '"highlights" [label="highlights\\nsend · email\\nentered 0 · sent 0"' in dot
    assert '"intro" -> "wait_1d";' in dot
    assert '"wait_purchase" -> "join_community" [label="event"];' in dot
    assert '"wait_purchase" -> "offer" [label="timeout"];' in dot
    assert '"offer" -> "__end__" [label="holdout 10%"];' in dot  # the holdout goes nowhere
    assert '"__end__" [label="end"' in dot
    every_step = {step.id for step in journey.steps}
    assert all(f'"{step}" [label=' in dot for step in every_step)
    plain = journey_dot(journey)  # no counts: no figures line
    assert "entered" not in plain
