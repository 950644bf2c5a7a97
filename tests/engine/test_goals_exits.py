"""Goals: conversions within [triggered_at, deadline] with a property filter; goal exit;
holdouts."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import (
    customers,
    enrollments,
    event,
    events,
    intents,
    plan_of,
    run_at,
    sent_to,
    variant_of,
    when,
)
from sqlalchemy import Engine

GOAL_EXIT = """
id: j
entry: {event: signed_up}
goal: {event: purchase, within: 2d, where: {currency: EUR}, exit: true}
steps:
  - id: pause
    wait: 1d
    next: hello
  - id: hello
    send: {channel: email, template: hello}
    next: pause2
  - id: pause2
    wait: 3d
"""


def test_goal_with_exit(engine: Engine, tmp_path: Path) -> None:
    plan = plan_of(tmp_path, GOAL_EXIT)
    people = ("quick", "usd", "early", "too_late", "none")
    customers(engine, *people)
    for c in people:
        event(engine, c, "signed_up", when(2, 9))
    event(engine, "early", "purchase", when(2, 8), currency="EUR")  # before the trigger
    event(engine, "quick", "purchase", when(2, 15), currency="EUR")
    event(engine, "usd", "purchase", when(2, 15), currency="USD")  # filtered out
    event(engine, "too_late", "purchase", when(4, 9, 1), currency="EUR")  # after the 2d window
    run_at(engine, plan, when(2, 9), when(2, 16), when(3, 9), when(4, 10), when(6, 9))
    state = {
        e["customer_id"]: (e["state"], e["exit_reason"], e["converted_at"])
        for e in enrollments(engine)
    }
    assert state == {
        "quick": ("exited", "goal", when(2, 15)),
        "usd": ("completed", None, None),
        "early": ("completed", None, None),
        "too_late": ("completed", None, None),
        "none": ("completed", None, None),
    }
    assert sent_to(engine) == {c: ["hello"] for c in people if c != "quick"}
    (conv,) = events(engine, "journey.converted")
    assert (conv["customer_id"], conv["occurred_at"]) == ("quick", when(2, 15))
    assert conv["value"] == pytest.approx(6 * 3600, abs=0.01)
    assert conv["properties"] == {"goal": "purchase"}


HOLDOUT = """
id: hj
entry: {event: signed_up}
goal: {event: purchase, within: 14d}
steps:
  - id: offer
    split:
      - {variant: treated, weight: 50, next: send_offer}
      - {variant: holdout, weight: 50}
  - id: send_offer
    send: {channel: email, template: discount, data: {percent: 10}}
"""


def test_holdout_receives_nothing_but_converts(engine: Engine, tmp_path: Path) -> None:
    plan = plan_of(tmp_path, HOLDOUT)
    weights = [("treated", 50), ("holdout", 50)]
    names = [f"h{i}" for i in range(40)]
    held = [c for c in names if variant_of("hj", "offer", c, weights) == "holdout"][:2]
    treated = [c for c in names if variant_of("hj", "offer", c, weights) == "treated"][:1]
    cohort = held + treated
    customers(engine, *cohort)
    for c in cohort:
        event(engine, c, "signed_up", when(2, 9))
    run_at(engine, plan, when(2, 9))
    event(engine, held[0], "purchase", when(5, 12), amount=20)  # after her enrollment completed
    event(engine, treated[0], "purchase", when(5, 12), amount=20)
    run_at(engine, plan, when(5, 13), when(6, 13))
    assert sent_to(engine) == {treated[0]: ["send_offer"]}
    assert [i["customer_id"] for i in intents(engine)] == treated
    state = {
        e["customer_id"]: (e["variant"], e["state"], e["converted_at"]) for e in enrollments(engine)
    }
    assert state == {
        held[0]: ("holdout", "completed", when(5, 12)),
        held[1]: ("holdout", "completed", None),
        treated[0]: ("treated", "completed", when(5, 12)),
    }
    converted = {(e["customer_id"], e["variant"]) for e in events(engine, "journey.converted")}
    assert converted == {(held[0], "holdout"), (treated[0], "treated")}
    assert len(events(engine, "journey.converted")) == 2  # once each, not at every tick
