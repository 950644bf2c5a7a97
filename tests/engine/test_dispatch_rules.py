"""Dispatch: quiet hours (with DST), frequency caps, consent, addresses, template errors,
dry runs, stale claims."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from helpers import (
    TEMPLATES,
    customers,
    enrollments,
    event,
    events,
    intents,
    outbox,
    plan_of,
    plans_of,
    row_counts,
    run_at,
    run_span,
    sent_to,
    snapshot,
    tick,
    when,
)
from sqlalchemy import Engine, update

from prefect_journeys.engine.sqlbits import I
from prefect_journeys.store.database import utcnow

QUIET = """
id: j
entry: {event: signed_up}
settings:
  quiet_hours: {start: "21:00", end: "08:00"}
steps:
  - id: hello
    send: {channel: email, template: hello}
"""


@pytest.mark.parametrize(
    ("zone", "due", "expected"),
    [
        # 22:30 CET Mon 2 March → 08:00 CET Tue = 07:00 UTC (no DST change)
        ("Europe/Berlin", datetime(2026, 3, 2, 21, 30), datetime(2026, 3, 3, 7, 0)),
        # 22:30 CET Sat 28 March → 08:00 CEST Sun 29 (clocks went forward at 02:00) = 06:00 UTC
        ("Europe/Berlin", datetime(2026, 3, 28, 21, 30), datetime(2026, 3, 29, 6, 0)),
        # 22:30 EST Sat 7 March → 08:00 EDT Sun 8 (clocks went forward at 02:00) = 12:00 UTC
        ("America/New_York", datetime(2026, 3, 8, 3, 30), datetime(2026, 3, 8, 12, 0)),
    ],
)
def test_quiet_hours_defer_to_local_morning(
    engine: Engine, tmp_path: Path, zone: str, due: datetime, expected: datetime
) -> None:
    plan = plan_of(tmp_path, QUIET)
    customers(engine, "night", timezone=zone)
    event(engine, "night", "signed_up", due)
    run_span(engine, plan, due, expected + timedelta(hours=1), every=timedelta(minutes=30))
    (intent,) = intents(engine)
    assert (intent["status"], intent["sent_at"], intent["deferrals"]) == ("sent", expected, 1)
    assert intent["created_at"] is not None
    (deferred,) = events(engine, "message.deferred")
    assert deferred["occurred_at"] == due
    assert deferred["properties"] == {"reason": "quiet_hours", "until": expected.isoformat()}
    (sent,) = events(engine, "message.sent")
    assert sent["occurred_at"] == expected
    assert [m["intent_id"] for m in outbox(engine)] == [intent["id"]]


CAP_A = """
id: ja
entry: {event: signed_up}
settings:
  frequency_cap: {email: 1/day}
steps:
  - id: a1
    send: {channel: email, template: hello}
"""
CAP_B = """
id: jb
entry: {event: signed_up}
settings:
  quiet_hours: {start: "21:00", end: "08:00"}
  frequency_cap: {email: 1/day}
steps:
  - id: b1
    send: {channel: email, template: discount, data: {percent: 5}}
"""


def test_frequency_cap_across_journeys_defers_to_next_local_day(
    engine: Engine, tmp_path: Path
) -> None:
    plans = plans_of(tmp_path, {"ja": CAP_A, "jb": CAP_B})
    customers(engine, "ber", timezone="Europe/Berlin")
    event(engine, "ber", "signed_up", when(2, 9))
    at = when(2, 9)
    while at <= when(3, 9):
        tick(engine, plans["ja"], at)
        tick(engine, plans["jb"], at)
        at += timedelta(hours=1)
    sent = {i["step_id"]: (i["status"], i["sent_at"], i["deferrals"]) for i in intents(engine)}
    # Next local day starts 00:00 CET (23:00 UTC), inside jb's quiet hours → 08:00 CET = 07:00 UTC
    assert sent == {"a1": ("sent", when(2, 9), 0), "b1": ("sent", when(3, 7), 1)}
    (deferred,) = events(engine, "message.deferred")
    assert deferred["properties"] == {"reason": "frequency_cap", "until": "2026-03-03T07:00:00"}


TWO_SENDS = """
id: j
entry: {event: signed_up}
settings:
  frequency_cap: {email: 1/day}
steps:
  - id: first
    send: {channel: email, template: hello}
    next: second
  - id: second
    send: {channel: email, template: discount, data: {percent: 5}}
"""


def test_frequency_cap_two_sends_same_day(engine: Engine, tmp_path: Path) -> None:
    plan = plan_of(tmp_path, TWO_SENDS)
    customers(engine, "nyc", timezone="America/New_York")  # 09:00 UTC = 04:00 EST
    customers(engine, "utc")
    for c in ("nyc", "utc"):
        event(engine, c, "signed_up", when(2, 9))
    run_span(engine, plan, when(2, 9), when(3, 9), every=timedelta(hours=2))
    got = {(i["customer_id"], i["step_id"]): (i["status"], i["sent_at"]) for i in intents(engine)}
    assert got == {
        ("nyc", "first"): ("sent", when(2, 9)),
        ("nyc", "second"): ("sent", when(3, 5)),  # 00:00 EST Tue (first tick at/after: 05:00)
        ("utc", "first"): ("sent", when(2, 9)),
        ("utc", "second"): ("sent", when(3, 1)),  # 00:00 UTC Tue → first tick after: 01:00
    }
    assert len(events(engine, "message.deferred")) == 2
    assert len(outbox(engine)) == 4


TEMPLATE_ATTR = {
    **TEMPLATES,
    "coupon": (
        "channel: email\nsubject: 'Your code'\nbody: 'Code {{ customer.attributes.coupon }}'\n"
    ),
}
SUPPRESS = """
id: j
entry: {event: signed_up}
settings: {audience_threshold: 0.5}  # a tiny audience: one bad customer is 25 %
steps:
  - id: mail
    send: {channel: email, template: coupon}
"""


def test_consent_address_and_template_errors(engine: Engine, tmp_path: Path) -> None:
    plan = plan_of(tmp_path, SUPPRESS, templates=TEMPLATE_ATTR)
    customers(engine, "ok1", "ok2", attributes={"coupon": "C1"})
    customers(engine, "no_consent", email_consent=False, attributes={"coupon": "C2"})
    customers(engine, "no_email", email=None, attributes={"coupon": "C3"})
    customers(engine, "no_coupon")
    for c in ("ok1", "ok2", "no_consent", "no_email", "no_coupon"):
        event(engine, c, "signed_up", when(2, 9))
    report = tick(engine, plan, when(2, 9))
    assert (report.sent, report.suppressed, report.failed, report.quarantined) == (2, 1, 1, 1)
    got = {i["customer_id"]: (i["status"], i["error"]) for i in intents(engine)}
    assert got["ok1"] == got["ok2"] == ("sent", None)
    assert got["no_consent"] == ("suppressed", "no email consent for marketing")
    # the audience gate keeps a customer without an address out (before: suppressed by dispatch)
    assert got["no_email"] == (
        "quarantined",
        "quarantined: email: no address (expect_column_values_to_not_be_null)",
    )
    status, error = got["no_coupon"]
    assert status == "failed"
    assert "coupon" in error and "undefined" in error and "template 'coupon'" in error
    assert {m["customer_id"]: m["body"] for m in outbox(engine)} == {
        "ok1": "Code C1",
        "ok2": "Code C1",
    }
    assert [e["customer_id"] for e in events(engine, "message.failed")] == ["no_coupon"]
    assert [e["customer_id"] for e in events(engine, "message.suppressed")] == ["no_consent"]
    assert [e["customer_id"] for e in events(engine, "message.quarantined")] == ["no_email"]


def test_dry_run_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    plan = plan_of(tmp_path, QUIET)
    customers(engine, "ann", "bob")
    customers(engine, "cat", email_consent=False)
    for c in ("ann", "bob", "cat"):
        event(engine, c, "signed_up", when(2, 9))
    before_counts, before = row_counts(engine), snapshot(engine)
    report = tick(engine, plan, when(2, 9), dry_run=True)
    assert row_counts(engine) == before_counts
    assert snapshot(engine) == before
    assert sorted(w["customer_id"] for w in report.would_send) == ["ann", "bob"]
    assert {w["step"] for w in report.would_send} == {"hello"}
    assert (report.entered, report.intents, report.suppressed) == (3, 3, 1)
    # A real tick afterwards behaves as if the dry run never happened.
    real = tick(engine, plan, when(2, 9))
    assert (real.entered, real.sent, real.suppressed) == (3, 2, 1)
    assert sent_to(engine) == {"ann": ["hello"], "bob": ["hello"]}


def test_stale_claim_is_released_and_sent_once(engine: Engine, tmp_path: Path) -> None:
    plan = plan_of(tmp_path, QUIET)
    customers(engine, "stale", "fresh")
    for c in ("stale", "fresh"):
        event(engine, c, "signed_up", when(2, 22))
    run_at(engine, plan, when(2, 22))  # quiet hours: both planned for 08:00
    ids = {i["customer_id"]: i["id"] for i in intents(engine)}
    with engine.begin() as conn:  # a worker claimed them and died (wall-clock claimed_at)
        conn.execute(
            update(I)
            .where(I.c.id == ids["stale"])
            .values(status="claimed", claim_token="dead", claimed_at=utcnow() - timedelta(hours=1))
        )
        conn.execute(
            update(I)
            .where(I.c.id == ids["fresh"])
            .values(
                status="claimed", claim_token="busy", claimed_at=utcnow() - timedelta(minutes=1)
            )
        )
    run_at(engine, plan, when(3, 8), when(3, 8), when(3, 9))
    got = {i["customer_id"]: (i["status"], i["sent_at"]) for i in intents(engine)}
    assert got == {"stale": ("sent", when(3, 8)), "fresh": ("claimed", None)}
    assert [m["customer_id"] for m in outbox(engine)] == ["stale"]
    assert len(events(engine, "message.sent")) == 1
    assert enrollments(engine)[0]["state"] == "completed"
