"""A merge while both profiles are inside journeys, driven by real ticks of the engine."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, text
from tests.engine.helpers import customers, enrollments, event, events, intents, plans_of, when

from prefect_journeys.engine.tick import run_tick
from prefect_journeys.identity.resolve import merge_profiles

WELCOME = """
id: welcome
entry: {event: signed_up}
settings:
  quiet_hours: {start: "21:00", end: "08:00"}
steps:
  - id: hello
    send: {channel: email, template: hello}
    next: pause
  - id: pause
    wait: 1d
    next: offer
  - id: offer
    send: {channel: email, template: discount, data: {percent: 10}}
    next: pause2
  - id: pause2
    wait: 1d
    next: nudge
  - id: nudge
    send: {channel: sms, template: nudge}
"""
TIPS = """
id: tips
entry: {event: app_installed}
steps:
  - id: tip1
    send: {channel: email, template: hello}
    next: wait
  - id: wait
    wait: 1d
    next: tip2
  - id: tip2
    send: {channel: email, template: hello}
"""


def _run(engine: Engine, plans: dict[str, object], start: datetime, end: datetime) -> None:
    at = start
    while at <= end:
        for plan in plans.values():
            run_tick(engine, plan, at)  # type: ignore[arg-type]
        at += timedelta(hours=1)


def test_merge_mid_journey_sends_each_step_once_to_the_survivor(
    engine: Engine, tmp_path: Path
) -> None:
    plans = plans_of(tmp_path, {"welcome": WELCOME, "tips": TIPS})
    customers(engine, "ann", created_at=when(1, 9) - timedelta(days=30))
    customers(engine, "bob", created_at=when(1, 9) - timedelta(days=3))
    event(engine, "ann", "signed_up", when(2, 9))
    event(engine, "bob", "app_installed", when(2, 12))
    event(engine, "bob", "signed_up", when(2, 22))  # quiet hours: his hello waits, planned
    _run(engine, plans, when(2, 9), when(2, 22))
    (bob_hello,) = intents(engine, customer_id="bob", journey_id="welcome")
    assert bob_hello["status"] == "planned"

    with engine.begin() as conn:
        survivor = merge_profiles(
            conn,
            ["bob", "ann"],
            reason="verified_email",
            evidence={},
            source="t",
            now=when(2, 22, 30),
        )
    assert survivor == "ann"
    _run(engine, plans, when(2, 23), when(5, 10))

    with engine.connect() as conn:
        for name in ("events", "enrollments", "send_intents", "outbox_messages", "consents"):
            left = conn.execute(text(f"select count(*) from {name} where customer_id = 'bob'"))
            assert left.scalar_one() == 0, name
    sent = Counter((i["journey_id"], i["step_id"]) for i in intents(engine, status="sent"))
    assert sent == {
        ("welcome", "hello"): 1,
        ("welcome", "offer"): 1,
        ("welcome", "nudge"): 1,
        ("tips", "tip1"): 1,  # sent to bob before the merge
        ("tips", "tip2"): 1,  # sent to ann after it
    }
    assert {i["customer_id"] for i in intents(engine)} == {"ann"}
    (cancelled,) = intents(engine, status="cancelled")
    assert (cancelled["id"], cancelled["error"]) == (bob_hello["id"], "merged")
    (exited,) = [e for e in enrollments(engine, "ann") if e["state"] == "exited"]
    assert (exited["journey_id"], exited["exit_reason"], exited["entry_seq"]) == (
        "welcome",
        "merged",
        2,
    )
    states = {(e["journey_id"], e["entry_seq"]): e["state"] for e in enrollments(engine, "ann")}
    assert states == {
        ("welcome", 1): "completed",
        ("welcome", 2): "exited",
        ("tips", 1): "completed",
    }
    (exit_event,) = events(engine, "journey.exited")
    assert (exit_event["customer_id"], exit_event["properties"]) == ("ann", {"reason": "merged"})
    assert exit_event["enrollment_id"] == exited["id"]
    (cancel_event,) = events(engine, "message.cancelled")
    assert (cancel_event["intent_id"], cancel_event["customer_id"]) == (bob_hello["id"], "ann")
    # Every send of the survivor went out once and only once through the outbox.
    with engine.connect() as conn:
        per_intent = conn.execute(
            text("select intent_id, count(*) from outbox_messages group by intent_id")
        ).all()
    assert len(per_intent) == 5 and all(n == 1 for _, n in per_intent)
