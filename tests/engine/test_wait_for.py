"""wait_for: an event in time takes on_event, a late or filtered-out one does not (on_timeout)."""

from __future__ import annotations

from pathlib import Path

from helpers import customers, enrollments, event, intents, plan_of, run_at, steps_visited, when
from sqlalchemy import Engine

JOURNEY = """
id: j
entry: {event: signed_up}
steps:
  - id: wait_buy
    wait_for: {event: purchase, timeout: 2d, where: {channel: web}}
    on_event: thanks
    on_timeout: nudge
  - id: thanks
    send: {channel: email, template: hello}
  - id: nudge
    send: {channel: email, template: discount, data: {percent: 5}}
"""


def test_wait_for_event_timeout_and_filter(engine: Engine, tmp_path: Path) -> None:
    plan = plan_of(tmp_path, JOURNEY)
    cohort = ("buyer", "late", "store", "silent", "early")
    customers(engine, *cohort)
    for c in cohort:
        event(engine, c, "signed_up", when(2, 9))
    event(engine, "early", "purchase", when(2, 8), channel="web")  # before entering: ignored
    run_at(engine, plan, when(2, 9))  # all enter; the timeout is Wed 4 March 09:00
    assert {e["due_at"] for e in enrollments(engine)} == {when(4, 9)}

    event(engine, "buyer", "purchase", when(3, 9), channel="web")
    event(engine, "store", "purchase", when(3, 9), channel="store")  # property filter: no match
    run_at(engine, plan, when(3, 10))
    assert [i["customer_id"] for i in intents(engine)] == ["buyer"]

    event(engine, "late", "purchase", when(4, 9, 10), channel="web")  # after the timeout
    run_at(engine, plan, when(4, 8), when(4, 10))
    result = {i["customer_id"]: (i["step_id"], i["sent_at"]) for i in intents(engine)}
    assert result == {
        "buyer": ("thanks", when(3, 10)),
        "late": ("nudge", when(4, 10)),
        "store": ("nudge", when(4, 10)),
        "silent": ("nudge", when(4, 10)),
        "early": ("nudge", when(4, 10)),
    }
    assert steps_visited(engine, "buyer") == ["wait_buy", "thanks"]
    assert steps_visited(engine, "late") == ["wait_buy", "nudge"]


def test_wait_for_event_seen_at_the_first_tick_after_it(engine: Engine, tmp_path: Path) -> None:
    """An in-time event counts even when the first tick after it is past the timeout."""
    plan = plan_of(tmp_path, JOURNEY)
    customers(engine, "ann")
    event(engine, "ann", "signed_up", when(2, 9))
    run_at(engine, plan, when(2, 9))
    event(engine, "ann", "purchase", when(4, 8, 59), channel="web")  # one minute before timeout
    run_at(engine, plan, when(4, 12))
    assert [(i["step_id"], i["sent_at"]) for i in intents(engine)] == [("thanks", when(4, 12))]
