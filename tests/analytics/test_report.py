"""journey_report on hand-built rows, with exact expected figures, on SQLite and Postgres."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from prefect_journeys.analytics.report import journey_report
from prefect_journeys.store.models import Enrollment
from prefect_journeys.store.writes import insert_events

T0 = datetime(2026, 1, 5, 9)
J = "welcome_series"

# enrollment id → (variant, converted, state)
ENROLLMENTS: dict[int, tuple[str | None, bool, str]] = {
    1: ("discount_10", True, "exited"),
    2: ("discount_10", False, "active"),
    3: ("discount_20", True, "completed"),
    4: ("holdout", False, "active"),
    5: ("holdout", True, "completed"),
    6: (None, True, "completed"),
    7: ("holdout", False, "completed"),
    8: ("holdout", False, "completed"),
}


def _event(name: str, enrollment: int, n: int, **extra: Any) -> dict[str, Any]:
    return {
        "source_id": f"{name}:{enrollment}:{n}:{extra.get('step_id')}:{extra.get('intent_id')}",
        "customer_id": f"c{enrollment}",
        "name": name,
        "occurred_at": T0 + timedelta(minutes=n),
        "journey_id": extra.pop("journey_id", J),
        "journey_version": 1,
        "enrollment_id": enrollment,
        **extra,
    }


def _rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    n = 0

    def add(name: str, enrollment: int, **extra: Any) -> None:
        nonlocal n
        n += 1
        rows.append(_event(name, enrollment, n, **extra))

    def step(enrollment: int, step_id: str, stage: str | None) -> None:
        add("journey.step", enrollment, step_id=step_id, stage=stage)

    for e in ENROLLMENTS:
        add("journey.entered", e)
        step(e, "intro", "awareness")
    step(1, "intro", "awareness")  # entered intro twice: one more entry, still one enrollment
    for e in ENROLLMENTS:
        step(e, "highlights", "consideration")
    step(6, "join_community", "advocacy")
    for e in (1, 2, 3, 4, 5, 7, 8):
        step(e, "offer", "decision")
    for e in (1, 2):
        step(e, "send_10", "decision")
    step(3, "send_20", "decision")
    step(1, "wait_1d", None)  # no stage: not in the funnel

    def message(kind: str, e: int, step_id: str, intent: int, variant: str | None) -> None:
        add(
            f"message.{kind}",
            e,
            step_id=step_id,
            intent_id=intent,
            variant=variant,
            channel="email",
        )

    for e in ENROLLMENTS:
        message("sent", e, "intro", 100 + e, None)
    message("deferred", 1, "intro", 101, None)
    message("deferred", 1, "intro", 101, None)  # deferred twice: one message
    for e in (1, 2, 3, 4, 5, 6, 7):
        message("delivered", e, "intro", 100 + e, None)
    for e in (1, 2, 3):
        message("opened", e, "intro", 100 + e, None)
    message("opened", 1, "intro", 101, None)  # a second open of the same message
    message("clicked", 1, "intro", 101, None)
    message("sent", 1, "send_10", 201, "discount_10")
    message("sent", 2, "send_10", 202, "discount_10")
    message("suppressed", 2, "send_10", 204, "discount_10")
    message("sent", 3, "send_20", 203, "discount_20")
    message("delivered", 3, "send_20", 203, "discount_20")

    for e in (1, 3, 5, 6):
        add("journey.converted", e)
    add("journey.exited", 1)
    for e in (3, 5):
        add("journey.completed", e)
    # another journey's rows must not count
    add("journey.entered", 99, journey_id="other")
    add("journey.step", 99, journey_id="other", step_id="intro", stage="awareness")
    add("message.sent", 99, journey_id="other", step_id="intro", intent_id=999)
    return rows


@pytest.fixture
def store(engine: Engine) -> Engine:
    with engine.begin() as conn:
        insert_events(conn, _rows())
        conn.execute(
            insert(Enrollment.__table__),  # type: ignore[attr-defined]
            [
                {
                    "id": e,
                    "journey_id": J,
                    "version": 1,
                    "customer_id": f"c{e}",
                    "entry_seq": 1,
                    "triggered_at": T0,
                    "entered_at": T0,
                    "state": state,
                    "variant": variant,
                    "converted_at": T0 + timedelta(days=1) if converted else None,
                    "updated_at": T0,
                }
                for e, (variant, converted, state) in ENROLLMENTS.items()
            ]
            + [
                {
                    "id": 99,
                    "journey_id": "other",
                    "version": 1,
                    "customer_id": "c99",
                    "entry_seq": 1,
                    "triggered_at": T0,
                    "entered_at": T0,
                    "state": "active",
                    "variant": "holdout",
                    "converted_at": T0,
                    "updated_at": T0,
                }
            ],
        )
    return engine


def test_totals(store: Engine) -> None:
    with store.connect() as conn:
        report = journey_report(conn, J)
    assert report["journey"] == J
    assert report["totals"] == {
        "entered": 8,
        "converted": 4,
        "exited": 1,
        "completed": 2,
        "active": 2,
    }


def test_stage_funnel(store: Engine) -> None:
    with store.connect() as conn:
        funnel = journey_report(conn, J)["funnel"]
    assert funnel == [
        {
            "stage": "awareness",
            "enrollments": 8,
            "rate_from_previous": None,
            "rate_from_entered": 1.0,
        },
        {
            "stage": "consideration",
            "enrollments": 8,
            "rate_from_previous": 1.0,
            "rate_from_entered": 1.0,
        },
        {
            "stage": "decision",
            "enrollments": 7,
            "rate_from_previous": 0.875,
            "rate_from_entered": 0.875,
        },
        {
            "stage": "advocacy",
            "enrollments": 1,
            "rate_from_previous": 0.1429,
            "rate_from_entered": 0.125,
        },
    ]


def test_stage_order_given(store: Engine) -> None:
    with store.connect() as conn:
        funnel = journey_report(conn, J, stages=["awareness", "retention", "decision"])["funnel"]
    assert [(f["stage"], f["enrollments"]) for f in funnel] == [
        ("awareness", 8),
        ("retention", 0),
        ("decision", 7),
        ("consideration", 8),  # not in the given order: after it, as first seen
        ("advocacy", 1),
    ]
    assert funnel[2]["rate_from_previous"] is None  # after a stage nobody reached


def test_step_counts(store: Engine) -> None:
    with store.connect() as conn:
        steps = {s["step_id"]: s for s in journey_report(conn, J)["steps"]}
    assert steps["intro"] == {
        "step_id": "intro",
        "stage": "awareness",
        "entered": 9,
        "sent": 8,
        "deferred": 1,
        "suppressed": 0,
        "delivered": 7,
        "opened": 3,
        "clicked": 1,
    }
    assert steps["send_10"] == {
        "step_id": "send_10",
        "stage": "decision",
        "entered": 2,
        "sent": 2,
        "deferred": 0,
        "suppressed": 1,
        "delivered": 0,
        "opened": 0,
        "clicked": 0,
    }
    assert (steps["send_20"]["sent"], steps["send_20"]["delivered"]) == (1, 1)
    assert steps["offer"]["entered"] == 7 and steps["offer"]["sent"] == 0
    assert steps["wait_1d"]["stage"] is None
    assert list(steps) == [
        "intro",
        "highlights",
        "join_community",
        "offer",
        "send_10",
        "send_20",
        "wait_1d",
    ]


def test_step_order_given(store: Engine) -> None:
    with store.connect() as conn:
        steps = journey_report(conn, J, steps=["offer", "nudge", "intro"])["steps"]
    assert [s["step_id"] for s in steps][:3] == ["offer", "nudge", "intro"]
    assert steps[1]["entered"] == 0 and steps[1]["sent"] == 0


def test_variants_with_holdout_and_lift(store: Engine) -> None:
    with store.connect() as conn:
        variants = journey_report(conn, J)["variants"]
    assert variants == [
        {
            "variant": "discount_10",
            "holdout": False,
            "enrollments": 2,
            "converted": 1,
            "rate": 0.5,
            "sent": 2,
            "lift_points": 25.0,
            "lift_vs_holdout": 1.0,
        },
        {
            "variant": "discount_20",
            "holdout": False,
            "enrollments": 1,
            "converted": 1,
            "rate": 1.0,
            "sent": 1,
            "lift_points": 75.0,
            "lift_vs_holdout": 3.0,
        },
        {
            "variant": "holdout",
            "holdout": True,
            "enrollments": 4,
            "converted": 1,
            "rate": 0.25,
            "sent": 0,
            "lift_points": None,
            "lift_vs_holdout": None,
        },
        {
            "variant": None,
            "holdout": False,
            "enrollments": 1,
            "converted": 1,
            "rate": 1.0,
            "sent": 8,
            "lift_points": None,
            "lift_vs_holdout": None,
        },
    ]


def test_unknown_journey_is_all_zero(store: Engine) -> None:
    with store.connect() as conn:
        report = journey_report(conn, "nope")
    assert report["totals"] == dict.fromkeys(
        ("entered", "converted", "exited", "completed", "active"), 0
    )
    assert report["funnel"] == [] and report["steps"] == [] and report["variants"] == []
