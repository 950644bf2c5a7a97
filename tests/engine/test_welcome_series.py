"""The welcome series of DESIGN.md §3 end to end, on a hand-built cohort in simulated time."""

from __future__ import annotations

from datetime import timedelta
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

WELCOME = """
id: welcome_series
entry: {event: signed_up, re_entry: never}
goal: {event: purchase, within: 14d}
settings:
  quiet_hours: {start: "21:00", end: "08:00"}
  frequency_cap: {email: 2/day, sms: 1/day}
steps:
  - id: intro
    stage: awareness
    send: {channel: email, template: welcome_intro}
    next: wait_1d
  - id: wait_1d
    wait: 1d
    next: highlights
  - id: highlights
    stage: consideration
    send: {channel: email, template: brand_highlights}
    next: wait_purchase
  - id: wait_purchase
    wait_for: {event: purchase, timeout: 3d}
    on_event: join_community
    on_timeout: offer
  - id: join_community
    stage: advocacy
    send: {channel: email, template: follow_us_and_install_app}
  - id: offer
    stage: decision
    split:
      - {variant: discount_10, weight: 45, next: send_10}
      - {variant: discount_20, weight: 45, next: send_20}
      - {variant: holdout, weight: 10}
  - id: send_10
    send: {channel: email, template: discount, data: {percent: 10}}
    next: nudge
  - id: send_20
    send: {channel: email, template: discount, data: {percent: 20}}
    next: nudge
  - id: nudge
    wait: 2d
    next: clicked_offer
  - id: clicked_offer
    branch:
      - when: {clicked: [send_10, send_20]}
        next: exit
      - else: sms_reminder
  - id: sms_reminder
    send: {channel: sms, template: offer_reminder}
"""

TEMPLATES = {
    "welcome_intro": "channel: email\nsubject: 'Welcome, {{ customer.first_name }}'\nbody: 'Hi'\n",
    "brand_highlights": "channel: email\nsubject: 'Our story'\nbody: 'Highlights'\n",
    "follow_us_and_install_app": "channel: email\nsubject: 'Join us'\nbody: 'Get the app'\n",
    "discount": (
        "channel: email\nsubject: '{{ data.percent }}% off'\nbody: 'Code {{ data.percent }}'\n"
    ),
    "offer_reminder": "channel: sms\nbody: 'Your offer ends soon, {{ customer.first_name }}'\n",
}
WEIGHTS = [("discount_10", 45), ("discount_20", 45), ("holdout", 10)]


def _pick(variant: str, taken: set[str]) -> str:
    for i in range(500):
        name = f"w{i}"
        if name not in taken and variant_of("welcome_series", "offer", name, WEIGHTS) == variant:
            taken.add(name)
            return name
    raise AssertionError(variant)


def test_welcome_series(engine: Engine, tmp_path: Path) -> None:
    taken: set[str] = set()
    ten, twenty, clicker, holdout = (
        _pick("discount_10", taken),
        _pick("discount_20", taken),
        _pick("discount_10", taken),
        _pick("holdout", taken),
    )
    buyer = next(f"b{i}" for i in range(100))  # buys before the split: variant irrelevant
    cohort = [buyer, ten, twenty, clicker, holdout]
    plan = plan_of(tmp_path, WELCOME, templates=TEMPLATES)
    customers(engine, *cohort)
    for c in cohort:
        event(engine, c, "signed_up", when(2, 9, 5))  # Monday 2 March, 09:05 UTC

    # Mon 10:00 intro; Tue 10:00 highlights; the buyer buys one day after highlights.
    # Ticks only where something is due, plus one just before each due time.
    run_at(engine, plan, when(2, 10), when(3, 9), when(3, 10))
    event(engine, buyer, "purchase", when(4, 10, 30), amount=30)
    run_at(engine, plan, when(4, 11), when(6, 9), when(6, 10))  # Fri 10:00: timeout → split
    (enrolment,) = enrollments(engine, clicker)
    event(
        engine,
        clicker,
        "message.clicked",
        when(6, 12, 30),
        columns={"enrollment_id": enrolment["id"], "step_id": "send_10"},
    )
    event(engine, holdout, "purchase", when(7, 12, 0), amount=15)  # two days after the split
    run_at(engine, plan, when(6, 13), when(7, 13))  # the holdout converts
    run_at(engine, plan, when(8, 9), when(8, 10))  # Sun 10:00: branch → exit / SMS

    assert sent_to(engine) == {
        buyer: ["intro", "highlights", "join_community"],
        ten: ["intro", "highlights", "send_10", "sms_reminder"],
        twenty: ["intro", "highlights", "send_20", "sms_reminder"],
        clicker: ["intro", "highlights", "send_10"],
        holdout: ["intro", "highlights"],
    }
    times = {(i["customer_id"], i["step_id"]): i["sent_at"] for i in intents(engine)}
    for c in cohort:
        assert times[(c, "intro")] == when(2, 10)
        assert times[(c, "highlights")] == when(3, 10)
    assert times[(buyer, "join_community")] == when(4, 11)
    for c, step in ((ten, "send_10"), (twenty, "send_20"), (clicker, "send_10")):
        assert times[(c, step)] == when(6, 10)
    assert times[(ten, "sms_reminder")] == times[(twenty, "sms_reminder")] == when(8, 10)
    assert all(i["status"] == "sent" for i in intents(engine))
    assert {(i["customer_id"], i["variant"]) for i in intents(engine, step_id="sms_reminder")} == {
        (ten, "discount_10"),
        (twenty, "discount_20"),
    }

    state = {c: enrollments(engine, c)[0] for c in cohort}
    assert state[buyer]["state"] == "completed"
    assert state[buyer]["converted_at"] == when(4, 10, 30)
    assert state[buyer]["variant"] is None
    assert state[clicker]["state"] == "exited"
    assert state[clicker]["completed_at"] == when(8, 10)
    assert state[ten]["converted_at"] is None and state[ten]["state"] == "completed"
    assert state[holdout]["variant"] == "holdout"
    assert state[holdout]["state"] == "completed"
    assert state[holdout]["completed_at"] == when(6, 10)
    assert state[holdout]["converted_at"] == when(7, 12)

    converted = events(engine, "journey.converted")
    assert sorted((e["customer_id"], e["variant"], e["occurred_at"]) for e in converted) == sorted(
        [(buyer, None, when(4, 10, 30)), (holdout, "holdout", when(7, 12))]
    )
    holdout_event = next(e for e in converted if e["customer_id"] == holdout)
    seconds = (when(7, 12) - when(2, 9, 5)) / timedelta(seconds=1)
    assert holdout_event["value"] == pytest.approx(seconds, abs=0.01)
