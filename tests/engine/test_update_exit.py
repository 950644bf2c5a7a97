"""Update steps, exit steps and the journey's exit rules (on_event, on_leaving_segment)."""

from __future__ import annotations

from pathlib import Path

from helpers import (
    customer_row,
    customers,
    enrollments,
    event,
    events,
    intents,
    plan_of,
    run_at,
    tag,
    tags_of,
    when,
)
from sqlalchemy import Engine

UPDATE = """
id: j
entry: {event: signed_up}
steps:
  - id: mark
    update:
      set: {plan: gold, score: 5, active: true}
      add_tags: [welcomed, gold]
      remove_tags: [prospect]
    next: leave
  - id: leave
    exit: welcomed_and_done
"""


def test_update_step_then_exit_step(engine: Engine, tmp_path: Path) -> None:
    plan = plan_of(tmp_path, UPDATE)
    customers(engine, "ann", attributes={"plan": "basic", "keep": 1})
    customers(engine, "bob")  # not signed up: untouched
    tag(engine, "ann", "prospect", "other")
    tag(engine, "bob", "prospect")
    event(engine, "ann", "signed_up", when(2, 9))
    run_at(engine, plan, when(2, 9))
    assert customer_row(engine, "ann")["attributes"] == {
        "plan": "gold",
        "score": 5,
        "active": True,
        "keep": 1,
    }
    assert tags_of(engine, "ann") == {"welcomed", "gold", "other"}
    assert customer_row(engine, "bob")["attributes"] == {}
    assert tags_of(engine, "bob") == {"prospect"}
    (ann,) = enrollments(engine)
    assert (ann["state"], ann["exit_reason"], ann["completed_at"]) == (
        "exited",
        "welcomed_and_done",
        when(2, 9),
    )
    (exited,) = events(engine, "journey.exited")
    assert exited["properties"] == {"reason": "welcomed_and_done"}
    assert exited["occurred_at"] == when(2, 9)


ON_EVENT = """
id: j
entry: {event: signed_up}
exit: {on_event: [unsubscribed, account_closed]}
settings:
  quiet_hours: {start: "21:00", end: "08:00"}
steps:
  - id: hello
    send: {channel: email, template: hello}
    next: pause
  - id: pause
    wait: 2d
    next: later
  - id: later
    send: {channel: email, template: discount, data: {percent: 5}}
"""


def test_exit_on_event_cancels_a_planned_send(engine: Engine, tmp_path: Path) -> None:
    """Entered at 22:00 (quiet hours): the hello is deferred to 08:00; unsubscribing at 23:00
    exits her at the next tick and the deferred send is cancelled, never sent."""
    plan = plan_of(tmp_path, ON_EVENT)
    customers(engine, "quits", "stays", "closes")
    for c in ("quits", "stays", "closes"):
        event(engine, c, "signed_up", when(2, 22))
    event(engine, "closes", "account_closed", when(2, 21))  # before entering: does not count
    run_at(engine, plan, when(2, 22))
    assert {i["status"] for i in intents(engine)} == {"planned"}
    event(engine, "quits", "unsubscribed", when(2, 23))
    run_at(engine, plan, when(3, 8))
    state = {e["customer_id"]: (e["state"], e["exit_reason"]) for e in enrollments(engine)}
    assert state == {
        "quits": ("exited", "exit_event"),
        "stays": ("active", None),
        "closes": ("active", None),
    }
    status = {i["customer_id"]: (i["status"], i["sent_at"]) for i in intents(engine)}
    assert status == {
        "quits": ("cancelled", None),
        "stays": ("sent", when(3, 8)),
        "closes": ("sent", when(3, 8)),
    }
    assert [e["customer_id"] for e in events(engine, "message.cancelled")] == ["quits"]
    run_at(engine, plan, when(4, 22), when(5, 8))  # wait ends at 22:00 → deferred to 08:00
    later = {i["customer_id"]: i["sent_at"] for i in intents(engine, step_id="later")}
    assert later == {"stays": when(5, 8), "closes": when(5, 8)}


SEGMENT = """
id: j
entry: {segment: vips}
exit: {on_leaving_segment: true}
steps:
  - id: pause
    wait: 3d
    next: hello
  - id: hello
    send: {channel: email, template: hello}
"""
VIPS = "rule: {attribute: tier, op: '=', value: vip}\n"


def test_segment_entry_and_exit_on_leaving_it(engine: Engine, tmp_path: Path) -> None:
    plan = plan_of(tmp_path, SEGMENT, segments={"vips": VIPS})
    customers(engine, "v1", attributes={"tier": "vip"})
    customers(engine, "v2", attributes={"tier": "vip"})
    customers(engine, "late", attributes={"tier": "basic"})
    run_at(engine, plan, when(2, 9))
    assert [e["customer_id"] for e in enrollments(engine)] == ["v1", "v2"]
    customers(engine, "v2", attributes={"tier": "basic"})  # leaves the segment
    customers(engine, "late", attributes={"tier": "vip"})  # newly matches
    run_at(engine, plan, when(3, 9))
    state = {
        e["customer_id"]: (e["state"], e["exit_reason"], e["triggered_at"], e["due_at"])
        for e in enrollments(engine)
    }
    assert state == {
        "v1": ("active", None, when(2, 9), when(5, 9)),
        "v2": ("exited", "left_segment", when(2, 9), None),
        "late": ("active", None, when(3, 9), when(6, 9)),
    }
    run_at(engine, plan, when(5, 9), when(6, 9))
    sent = {i["customer_id"]: i["sent_at"] for i in intents(engine, status="sent")}
    assert sent == {"v1": when(5, 9), "late": when(6, 9)}
    assert len(enrollments(engine)) == 3  # re_entry never: v2 does not come back
