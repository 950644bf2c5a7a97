"""Send and wait steps: exact due and sent times, waits by duration and until a local time."""

from __future__ import annotations

from pathlib import Path

from helpers import customers, enrollments, event, intents, outbox, plan_of, run_at, sent_to, when
from sqlalchemy import Engine

DURATION = """
id: j
entry: {event: signed_up}
steps:
  - id: hello
    send: {channel: email, template: hello}
    next: pause
  - id: pause
    wait: 2h
    next: offer
  - id: offer
    send: {channel: email, template: discount, data: {percent: 15}}
"""


def test_wait_duration_then_send(engine: Engine, tmp_path: Path) -> None:
    plan = plan_of(tmp_path, DURATION)
    customers(engine, "ann", "bob")
    event(engine, "ann", "signed_up", when(2, 9))
    event(engine, "bob", "signed_up", when(2, 9, 40))
    run_at(engine, plan, when(2, 9))  # Ann enters; Bob's sign-up is still in the future
    (ann,) = enrollments(engine)
    assert (ann["step_id"], ann["due_at"], ann["entered_at"]) == ("pause", when(2, 11), when(2, 9))
    run_at(engine, plan, when(2, 10), when(2, 10, 59))
    assert sent_to(engine) == {"ann": ["hello"], "bob": ["hello"]}
    assert enrollments(engine, "bob")[0]["due_at"] == when(2, 12)
    run_at(engine, plan, when(2, 11), when(2, 11, 59), when(2, 12))
    got = {(i["customer_id"], i["step_id"]): i["sent_at"] for i in intents(engine)}
    assert got == {
        ("ann", "hello"): when(2, 9),
        ("ann", "offer"): when(2, 11),
        ("bob", "hello"): when(2, 10),
        ("bob", "offer"): when(2, 12),
    }
    assert [e["state"] for e in enrollments(engine)] == ["completed", "completed"]
    bodies = {(m["customer_id"], m["subject"]) for m in outbox(engine)}
    assert bodies == {("ann", "Hi Ann"), ("ann", "15% off"), ("bob", "Hi Bob"), ("bob", "15% off")}


LOCAL = """
id: j
entry: {event: signed_up}
steps:
  - id: until
    wait: {until: "09:00", weekdays: [mon, wed]}
    next: hello
  - id: hello
    send: {channel: email, template: hello}
"""


def test_wait_until_local_time_on_weekdays(engine: Engine, tmp_path: Path) -> None:
    """Entered on Monday 2 March 09:00 UTC; released at the next Mon/Wed 09:00 in her own zone."""
    plan = plan_of(tmp_path, LOCAL)
    customers(engine, "ber", timezone="Europe/Berlin")  # 10:00 local: Mon passed → Wed
    customers(engine, "nyc", timezone="America/New_York")  # 04:00 local → today 09:00 EST
    customers(engine, "tyo", timezone="Asia/Tokyo")  # 18:00 local → Wed 09:00 JST
    customers(engine, "utc", timezone=None)  # unknown zone: journey default (UTC), now is 09:00
    for c in ("ber", "nyc", "tyo", "utc"):
        event(engine, c, "signed_up", when(2, 8, 30))
    run_at(engine, plan, when(2, 9))
    due = {e["customer_id"]: e["due_at"] for e in enrollments(engine)}
    assert due == {
        "ber": when(4, 8),
        "nyc": when(2, 14),
        "tyo": when(4, 0),
        "utc": None,  # released in the same tick
    }
    run_at(engine, plan, when(2, 13), when(2, 14), when(3, 23), when(4, 0), when(4, 7), when(4, 8))
    sent = {i["customer_id"]: i["sent_at"] for i in intents(engine, status="sent")}
    assert sent == {"utc": when(2, 9), "nyc": when(2, 14), "tyo": when(4, 0), "ber": when(4, 8)}
