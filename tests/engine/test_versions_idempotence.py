"""Journey versions (enrollments finish on theirs) and replayed ticks (change nothing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers import (
    TEMPLATES,
    customers,
    enrollments,
    event,
    events,
    intents,
    outbox,
    plan_of,
    row_counts,
    rows,
    run_at,
    snapshot,
    steps_visited,
    tick,
    when,
)
from sqlalchemy import Engine, select

from prefect_journeys.engine.sqlbits import VERSIONS

V1 = """
id: j
entry: {event: signed_up, re_entry: always}
steps:
  - id: hello
    send: {channel: email, template: hello}
    next: pause
  - id: pause
    wait: 1d
    next: offer
  - id: offer
    send: {channel: email, template: discount, data: {percent: 10}}
"""
V2 = V1.replace("wait: 1d", "wait: 2d").replace("percent: 10", "percent: 20")


def test_edit_creates_a_version_and_old_enrollments_keep_theirs(
    engine: Engine, tmp_path: Path
) -> None:
    v1 = plan_of(tmp_path, V1)
    customers(engine, "old", "new")
    event(engine, "old", "signed_up", when(2, 9))
    run_at(engine, v1, when(2, 9))

    v2 = plan_of(tmp_path, V2)  # the file is edited and reloaded
    event(engine, "new", "signed_up", when(2, 10))
    run_at(engine, v2, when(2, 10), when(3, 9), when(3, 10), when(4, 9), when(4, 10))
    versions = {e["customer_id"]: e["version"] for e in enrollments(engine)}
    assert versions == {"old": 1, "new": 2}
    got = {(i["customer_id"], i["step_id"]): (i["version"], i["sent_at"]) for i in intents(engine)}
    assert got == {
        ("old", "hello"): (1, when(2, 9)),
        ("old", "offer"): (1, when(3, 9)),  # v1: wait 1d
        ("new", "hello"): (2, when(2, 10)),
        ("new", "offer"): (2, when(4, 10)),  # v2: wait 2d
    }
    subjects = {(m["customer_id"], m["subject"]) for m in outbox(engine) if "off" in m["subject"]}
    assert subjects == {("old", "10% off"), ("new", "20% off")}

    # A template-only change is a version too; re-entry then uses the newest.
    changed = {**TEMPLATES, "hello": TEMPLATES["hello"].replace("Hello", "Welcome back")}
    v3 = plan_of(tmp_path, V2, templates=changed)
    event(engine, "old", "signed_up", when(5, 9))
    run_at(engine, v3, when(5, 9))
    stored = rows(engine, select(VERSIONS.c.version).order_by(VERSIONS.c.version))
    assert [r["version"] for r in stored] == [1, 2, 3]
    assert [(e["entry_seq"], e["version"]) for e in enrollments(engine, "old")] == [(1, 1), (2, 3)]
    hellos = [m["body"] for m in outbox(engine) if m["customer_id"] == "old" and "Old" in m["body"]]
    assert sorted(hellos) == ["Hello Old", "Welcome back Old"]


def test_old_version_steps_missing_from_new_version(engine: Engine, tmp_path: Path) -> None:
    """v2 drops the step an old enrollment waits at: it still follows v1 to the end."""
    v1 = plan_of(tmp_path, V1)
    customers(engine, "old")
    event(engine, "old", "signed_up", when(2, 9))
    run_at(engine, v1, when(2, 9))
    v2 = plan_of(
        tmp_path,
        """
        id: j
        entry: {event: signed_up}
        steps:
          - id: only
            send: {channel: email, template: hello}
        """,
    )
    run_at(engine, v2, when(3, 9))
    assert steps_visited(engine, "old") == ["hello", "pause", "offer"]
    assert [(i["step_id"], i["version"]) for i in intents(engine)] == [("hello", 1), ("offer", 1)]


BUSY = """
id: j
entry: {event: signed_up}
goal: {event: purchase, within: 7d}
exit: {on_event: [unsubscribed]}
settings:
  quiet_hours: {start: "21:00", end: "08:00"}
steps:
  - id: hello
    send: {channel: email, template: hello}
    next: wait_buy
  - id: wait_buy
    wait_for: {event: purchase, timeout: 1d}
    on_timeout: offer
  - id: offer
    split:
      - {variant: a, weight: 50, next: send_a}
      - {variant: b, weight: 50, next: send_b}
  - id: send_a
    send: {channel: email, template: discount, data: {percent: 10}}
  - id: send_b
    send: {channel: sms, template: nudge}
"""


def test_replayed_tick_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    plan = plan_of(tmp_path, BUSY)
    people = [f"r{i}" for i in range(8)]
    customers(engine, *people)
    customers(engine, "nosms", sms_consent=False, email_consent=False)
    for c in [*people, "nosms"]:
        event(engine, c, "signed_up", when(2, 20))  # 20:00 sends; 21:00 ones defer
    event(engine, "r0", "purchase", when(2, 23))
    event(engine, "r1", "unsubscribed", when(3, 1))
    checkpoints = [when(2, 20), when(2, 21), when(3, 8), when(3, 21), when(4, 8)]
    for c in ("r2", "r3"):
        event(engine, c, "signed_up", when(2, 20, 30))  # duplicates of the same trigger, later
    for at in checkpoints:
        first = tick(engine, plan, at)
        counts, state = row_counts(engine), snapshot(engine)
        again = tick(engine, plan, at)
        after = row_counts(engine)
        assert after == {**counts, "tick_runs": counts["tick_runs"] + 1}, at
        assert snapshot(engine) == state, at
        assert (again.entered, again.intents, again.sent, again.deferred, again.converted) == (
            0,
            0,
            0,
            0,
            0,
        ), (at, first)
        assert again.moved == {} and again.exited == 0 and again.completed == 0
    # What happened, exactly: r0 bought (wait_for has no on_event: completed), r1 unsubscribed
    # (exit), r2…r7 got the offer at 08:00 after the 21:00 quiet-hours deferral; nosms was
    # suppressed twice; the repeated sign-ups of r2, r3 enrolled nobody.
    by_status: dict[str, list[tuple[str, str]]] = {}
    for i in intents(engine):
        by_status.setdefault(i["status"], []).append((i["customer_id"], i["step_id"]))
    offers = {
        c: "send_a" if e["variant"] == "a" else "send_b" for c, e in _enrolled(engine).items()
    }
    assert sorted(by_status) == ["sent", "suppressed"]
    assert sorted(by_status["sent"]) == sorted(
        [(c, "hello") for c in people] + [(c, offers[c]) for c in people[2:]]
    )
    assert sorted(by_status["suppressed"]) == sorted(
        [("nosms", "hello"), ("nosms", offers["nosms"])]
    )
    assert len(outbox(engine)) == 14
    assert len(events(engine, "message.deferred")) == 6
    assert {
        c: (e["state"], e["exit_reason"]) for c, e in _enrolled(engine).items() if c in ("r0", "r1")
    } == {
        "r0": ("completed", None),
        "r1": ("exited", "exit_event"),
    }
    assert len(enrollments(engine)) == 9


def _enrolled(engine: Engine) -> dict[str, dict[str, Any]]:
    return {e["customer_id"]: e for e in enrollments(engine)}
