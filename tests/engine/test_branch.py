"""Branch: cases in order (attribute ops, performed within a window, engagement, all/any/not),
then else."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from helpers import customers, enrollments, event, plan_of, run_at, sent_to, tag, when
from sqlalchemy import Engine

JOURNEY = """
id: j
entry: {event: signed_up}
steps:
  - id: intro
    send: {channel: email, template: hello}
    next: pause
  - id: pause
    wait: 1h
    next: route
  - id: route
    branch:
      - when: {clicked: intro}
        next: r_clicked
      - when: {opened: [intro]}
        next: r_opened
      - when: {all: [{attribute: plan, op: "=", value: pro}, {performed: purchase, within: 7d}]}
        next: r_pro_buyer
      - when:
          any:
            - {attribute: age, op: ">=", value: 30}
            - {attribute: tags, op: contains, value: vip}
        next: r_older_or_vip
      - when: {not: {attribute: country, op: in, value: [de, fr]}}
        next: r_abroad
      - else: r_rest
  - {id: r_clicked, exit: clicked}
  - {id: r_opened, exit: opened}
  - {id: r_pro_buyer, exit: pro_buyer}
  - {id: r_older_or_vip, exit: older_or_vip}
  - {id: r_abroad, exit: abroad}
  - {id: r_rest, exit: rest}
"""


def test_branch_routes_each_customer_to_her_first_matching_case(
    engine: Engine, tmp_path: Path
) -> None:
    plan = plan_of(tmp_path, JOURNEY)
    base = {"plan": "pro", "age": 20, "country": "de"}
    people = {
        "clicker": base,  # also a pro buyer, but the first case wins
        "opener": base,
        "pro_buyer": base,
        "pro_old_purchase": base,  # purchase 10 days ago: outside the 7d window → …
        "older": {**base, "plan": "free", "age": 35},
        "vip": {**base, "plan": "free", "country": "fr"},
        "abroad": {**base, "plan": "free", "country": "us"},
        "rest": {**base, "plan": "free"},
        "other_click": base,  # clicked a message of another enrollment: does not count
    }
    for name, attributes in people.items():
        customers(engine, name, attributes=attributes)
        event(engine, name, "signed_up", when(2, 9))
    tag(engine, "vip", "vip")
    for name in ("clicker", "pro_buyer"):
        event(engine, name, "purchase", when(1, 12))
    event(engine, "pro_old_purchase", "purchase", when(2, 9) - timedelta(days=10))
    event(engine, "other_click", "purchase", when(1, 12))
    run_at(engine, plan, when(2, 9))
    ids = {e["customer_id"]: e["id"] for e in enrollments(engine)}
    event(
        engine,
        "clicker",
        "message.opened",
        when(2, 9, 10),
        columns={"enrollment_id": ids["clicker"], "step_id": "intro"},
    )
    event(
        engine,
        "clicker",
        "message.clicked",
        when(2, 9, 11),
        columns={"enrollment_id": ids["clicker"], "step_id": "intro"},
    )
    event(
        engine,
        "opener",
        "message.opened",
        when(2, 9, 20),
        columns={"enrollment_id": ids["opener"], "step_id": "intro"},
    )
    event(
        engine,
        "other_click",
        "message.clicked",
        when(2, 9, 30),
        columns={"enrollment_id": ids["other_click"] + 1000, "step_id": "intro"},
    )
    run_at(engine, plan, when(2, 9, 59))
    assert {e["state"] for e in enrollments(engine)} == {"active"}
    run_at(engine, plan, when(2, 10))
    routed = {e["customer_id"]: (e["state"], e["exit_reason"]) for e in enrollments(engine)}
    assert routed == {
        "clicker": ("exited", "clicked"),
        "opener": ("exited", "opened"),
        "pro_buyer": ("exited", "pro_buyer"),
        "pro_old_purchase": ("exited", "rest"),
        "older": ("exited", "older_or_vip"),
        "vip": ("exited", "older_or_vip"),
        "abroad": ("exited", "abroad"),
        "rest": ("exited", "rest"),
        "other_click": ("exited", "pro_buyer"),
    }


ELSE_LESS = """
id: j
entry: {event: signed_up}
steps:
  - id: route
    branch:
      - when: {attribute: plan, op: "!=", value: free}
        next: paid
  - id: paid
    send: {channel: email, template: hello}
"""


def test_branch_without_else_completes_the_rest(engine: Engine, tmp_path: Path) -> None:
    plan = plan_of(tmp_path, ELSE_LESS)
    customers(engine, "paid", attributes={"plan": "pro"})
    customers(engine, "free", attributes={"plan": "free"})
    for c in ("paid", "free"):
        event(engine, c, "signed_up", when(2, 9))
    run_at(engine, plan, when(2, 9))
    result = {e["customer_id"]: (e["state"], e["completed_at"]) for e in enrollments(engine)}
    assert result == {"paid": ("completed", when(2, 9)), "free": ("completed", when(2, 9))}
    assert sent_to(engine) == {"paid": ["paid"]}
