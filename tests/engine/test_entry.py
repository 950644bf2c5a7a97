"""Entry: re-entry policies, keyed event entries, the first tick's lookback, schedules."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from helpers import customers, enrollments, event, intents, plan_of, run_at, when
from sqlalchemy import Engine

ONE_SEND = """
id: j
entry: {{event: signed_up, re_entry: {policy}}}
steps:
  - id: hello
    send: {{channel: email, template: hello}}
"""


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("never", [when(2, 9)]),
        ("always", [when(2, 9), when(4, 9), when(11, 9)]),
        ("{after: 7d}", [when(2, 9), when(11, 9)]),
    ],
)
def test_re_entry(engine: Engine, tmp_path: Path, policy: str, expected: list[datetime]) -> None:
    plan = plan_of(tmp_path, ONE_SEND.format(policy=policy))
    customers(engine, "ann")
    for day in (2, 4, 11):
        event(engine, "ann", "signed_up", when(day, 9))
        run_at(engine, plan, when(day, 9), when(day, 10))
    got = enrollments(engine)
    assert [e["triggered_at"] for e in got] == expected
    assert [e["entry_seq"] for e in got] == list(range(1, len(expected) + 1))
    assert [i["sent_at"] for i in intents(engine)] == expected


def test_no_entry_while_inside(engine: Engine, tmp_path: Path) -> None:
    """re_entry always, but an event while she is still inside never enrolls her later."""
    plan = plan_of(
        tmp_path,
        """
        id: j
        entry: {event: signed_up, re_entry: always}
        steps:
          - {id: pause, wait: 2d}
        """,
    )
    customers(engine, "ann")
    event(engine, "ann", "signed_up", when(2, 9))
    run_at(engine, plan, when(2, 9))
    event(engine, "ann", "signed_up", when(3, 9))  # inside
    run_at(engine, plan, when(3, 9), when(4, 9), when(5, 9))
    event(engine, "ann", "signed_up", when(5, 10))  # after she finished
    run_at(engine, plan, when(5, 10))
    assert [(e["entry_seq"], e["triggered_at"]) for e in enrollments(engine)] == [
        (1, when(2, 9)),
        (2, when(5, 10)),
    ]


KEYED = """
id: carts
entry: {event: cart_abandoned, key: cart_id}
steps:
  - id: pause
    wait: 1h
    next: remind
  - id: remind
    send: {channel: email, template: hello}
"""


def test_keyed_entries_run_concurrently(engine: Engine, tmp_path: Path) -> None:
    plan = plan_of(tmp_path, KEYED)
    customers(engine, "ann", "bob")
    event(engine, "ann", "cart_abandoned", when(2, 9), cart_id="c1")
    event(engine, "ann", "cart_abandoned", when(2, 9, 10), cart_id="c2")
    event(engine, "bob", "cart_abandoned", when(2, 9, 20), cart_id="c3")
    run_at(engine, plan, when(2, 9, 30))
    got = [
        (e["customer_id"], e["entry_seq"], e["entry_key"], e["state"]) for e in enrollments(engine)
    ]
    assert got == [
        ("ann", 1, "c1", "active"),
        ("ann", 2, "c2", "active"),
        ("bob", 1, "c3", "active"),
    ]
    event(engine, "ann", "cart_abandoned", when(2, 9, 40), cart_id="c1")  # same cart again: never
    run_at(engine, plan, when(2, 10, 30))
    sends = [(i["customer_id"], i["entry_seq"], i["sent_at"]) for i in intents(engine)]
    assert sends == [
        ("ann", 1, when(2, 10, 30)),
        ("ann", 2, when(2, 10, 30)),
        ("bob", 1, when(2, 10, 30)),
    ]
    assert len(enrollments(engine)) == 3


def test_event_entry_lookback(engine: Engine, tmp_path: Path) -> None:
    """The first tick activates the journey; events before activation − lookback never count."""
    plan = plan_of(
        tmp_path,
        """
        id: j
        entry: {event: signed_up, lookback: 2h}
        steps:
          - id: hello
            send: {channel: email, template: hello}
        """,
    )
    customers(engine, "old", "recent", "later")
    event(engine, "old", "signed_up", when(2, 6, 59))
    event(engine, "recent", "signed_up", when(2, 7, 0))
    run_at(engine, plan, when(2, 9))
    event(engine, "later", "signed_up", when(2, 11))
    run_at(engine, plan, when(2, 10), when(2, 12), when(3, 12))
    got = [(e["customer_id"], e["triggered_at"], e["entered_at"]) for e in enrollments(engine)]
    assert got == [("later", when(2, 11), when(2, 12)), ("recent", when(2, 7), when(2, 9))]


SCHEDULE = """
id: weekly
entry:
  schedule: {{cron: "0 10 * * *", timezone: Europe/Berlin{catch_up}}}
  segment: {{attribute: email_consent, op: "=", value: true}}
  re_entry: always
steps:
  - id: hello
    send: {{channel: email, template: hello}}
"""


def test_schedule_enters_once_per_fire(engine: Engine, tmp_path: Path) -> None:
    """Fires at 10:00 Berlin (09:00 UTC in March): once per fire, not again at later ticks."""
    plan = plan_of(tmp_path, SCHEDULE.format(catch_up=""))
    customers(engine, "ann", "bob")
    customers(engine, "nope", email_consent=False)
    run_at(engine, plan, when(2, 8, 30))  # before today's fire; yesterday's is within catch_up 1d
    first = [(e["customer_id"], e["triggered_at"]) for e in enrollments(engine)]
    # the goal window starts at the fire (yesterday 09:00 UTC), not at the late tick
    assert first == [("ann", when(1, 9)), ("bob", when(1, 9))]
    run_at(engine, plan, when(2, 8, 45))  # same fire: nothing
    assert len(enrollments(engine)) == 2
    customers(engine, "cid")
    run_at(engine, plan, when(2, 9), when(2, 10), when(2, 11))  # today's fire taken once, at 09:00
    today = [
        (e["customer_id"], e["entry_seq"]) for e in enrollments(engine, triggered_at=when(2, 9))
    ]
    assert today == [("ann", 2), ("bob", 2), ("cid", 1)]
    assert len(enrollments(engine)) == 5
    assert len(intents(engine, status="sent")) == 5


def test_schedule_fire_older_than_catch_up_is_skipped(engine: Engine, tmp_path: Path) -> None:
    plan = plan_of(tmp_path, SCHEDULE.format(catch_up=", catch_up: 1h"))
    customers(engine, "ann")
    run_at(engine, plan, when(2, 10, 30))  # today's 09:00 UTC fire is 1.5h old: skipped
    assert enrollments(engine) == []
    run_at(engine, plan, when(3, 9, 30))  # the next fire, 30 minutes late: taken
    assert [e["triggered_at"] for e in enrollments(engine)] == [when(3, 9)]
    run_at(engine, plan, when(3, 9, 30) + timedelta(hours=2))
    assert len(enrollments(engine)) == 1


def test_entry_reads_events_after_its_cursor_and_never_skips_a_future_stamped_one(
    engine: Engine, tmp_path: Path
) -> None:
    from sqlalchemy import text

    plan = plan_of(tmp_path, ONE_SEND.format(policy="never"))
    customers(engine, "ann", "bob")
    event(engine, "ann", "signed_up", when(2, 9))
    event(engine, "bob", "signed_up", when(2, 12))  # stamped after the first tick's clock
    run_at(engine, plan, when(2, 10))
    assert [e["customer_id"] for e in enrollments(engine)] == ["ann"]
    with engine.connect() as conn:
        query = "select customer_id, seq from events where name = 'signed_up'"
        seqs = dict(conn.execute(text(query)).all())
        cursor = conn.execute(text("select entry_cursor from journey_state")).scalar_one()
    assert cursor == seqs["ann"]  # ann's event decided; bob's (seq after it) still open
    run_at(engine, plan, when(2, 12, 30))
    assert [e["customer_id"] for e in enrollments(engine)] == ["ann", "bob"]
    with engine.connect() as conn:
        assert (
            conn.execute(text("select entry_cursor from journey_state")).scalar_one() == seqs["bob"]
        )
