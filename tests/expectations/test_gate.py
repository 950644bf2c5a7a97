"""The audience gate before every send step: a few bad customers are quarantined and the rest are
sent; an audience that is mostly bad is held (nothing sent, intents planned) until it is fixed.
Real GX, real SendGrid/Twilio SDKs against the local emulators, SQLite and Postgres."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from tests.engine.helpers import customers, event, events, intents, plan_of, rows, tick, when

from prefect_journeys.compliance import suppressions
from prefect_journeys.emulators import Emulators
from prefect_journeys.expectations.gate import AudienceHeld
from prefect_journeys.store.models import Quarantine, Validation

TEMPLATES = {
    "promo": "channel: email\nsubject: 'Hi {{ customer.first_name }}'\nbody: 'Hello'\n",
    "text": "channel: sms\nbody: 'Hi {{ customer.first_name }}, 10% off today'\n",
    "hook": "channel: webhook\nbody: 'ping'\n",
}
JOURNEY = """
id: j
entry: {event: signed_up}
settings:
  channels: {email: sendgrid, sms: twilio}
  sms_quiet_hours: null
  compliance: {postal_address: "Shop GmbH, Hauptstr. 1, 10115 Berlin", unsubscribe_url: "https://shop.example/u"}
steps:
  - id: mail
    send: {channel: email, template: promo}
    next: sms
  - id: sms
    send: {channel: sms, template: text}
"""
OUTBOX_JOURNEY = JOURNEY.replace("channels: {email: sendgrid, sms: twilio}", "channels: {}")
QUARANTINE = Quarantine.__table__  # type: ignore[attr-defined]
VALIDATIONS = Validation.__table__  # type: ignore[attr-defined]


def people(engine: Engine, n: int, **overrides: dict[str, Any]) -> list[str]:
    """``n`` signed-up customers with valid addresses; ``overrides[id]`` changes fields."""
    ids = [f"c{i:03d}" for i in range(n)]
    for i, cid in enumerate(ids):
        fields = {"email": f"{cid}@example.com", "phone": f"+1415555{i:04d}"}
        fields.update(overrides.get(cid, {}))
        customers(engine, cid, **fields)
        event(engine, cid, "signed_up", when(2, 12))
    return ids


def statuses(engine: Engine, step: str) -> dict[str, str]:
    return {i["customer_id"]: i["status"] for i in intents(engine, step_id=step)}


def table(engine: Engine, t: Any) -> list[dict[str, Any]]:
    return rows(engine, select(t).order_by(t.c.id))


def test_a_few_bad_customers_are_quarantined_and_the_rest_sent(
    engine: Engine, tmp_path: Path, emu: Emulators
) -> None:
    plan = plan_of(tmp_path, JOURNEY, templates=TEMPLATES)
    ids = people(
        engine,
        50,
        c000={"email": None},
        c001={"email": "c001@@example"},
        c003={"phone": "+81312345678"},  # Tokyo: not a country this sender may text
    )
    with engine.begin() as conn:
        suppressions.suppress(conn, "email", "c002@example.com", "bounce")
    report = tick(engine, plan, when(2, 12))

    mail, sms = statuses(engine, "mail"), statuses(engine, "sms")
    assert mail["c000"] == mail["c001"] == "quarantined"
    assert mail["c002"] == "suppressed"  # not counted by the gate: the dispatcher suppresses it
    assert sms["c003"] == "quarantined"
    assert sum(s == "sent" for s in mail.values()) == 47
    assert sum(s == "sent" for s in sms.values()) == 49
    assert len(emu.control.sendgrid_messages()) == 47
    assert len(emu.control.twilio_messages()) == 49
    assert report.quarantined == 3 and report.sent == 96 and not report.held

    by_customer = {i["customer_id"]: i for i in intents(engine, step_id="mail")}
    assert by_customer["c000"]["error"] == (
        "quarantined: email: no address (expect_column_values_to_not_be_null)"
    )
    quarantined = table(engine, QUARANTINE)
    assert [(q["kind"], q["target"], q["customer_id"]) for q in quarantined] == [
        ("audience", "journey:j/mail", "c000"),
        ("audience", "journey:j/mail", "c001"),
        ("audience", "journey:j/sms", "c003"),
    ]
    assert quarantined[1]["reasons"] == [
        "email: not a valid address (expect_column_values_to_match_regex)"
    ]
    assert quarantined[2]["reasons"] == [
        "country: not a country we may text (expect_column_values_to_be_in_set)"
    ]
    assert quarantined[0]["intent_id"] == by_customer["c000"]["id"]
    assert quarantined[0]["row_ref"] == f"intent:{by_customer['c000']['id']}"

    validations = table(engine, VALIDATIONS)
    assert [
        (v["suite"], v["target"], v["rows"], v["failed_rows"], v["passed"]) for v in validations
    ] == [
        ("audience_email", "journey:j/mail", 50, 3, True),
        ("audience_sms", "journey:j/sms", 50, 1, True),
    ]
    results = {r["label"]: r for r in validations[0]["results"]}
    assert (
        results["email: no address (expect_column_values_to_not_be_null)"]["unexpected_count"] == 1
    )
    suppressed = results["suppressed: on the suppression list (expect_column_values_to_be_in_set)"]
    assert suppressed["unexpected_count"] == 1 and suppressed["counts_toward_threshold"] is False
    assert all(q["validation_id"] == validations[0]["id"] for q in quarantined[:2])

    happened = events(engine, "message.quarantined")
    assert [(e["customer_id"], e["step_id"], e["channel"]) for e in happened] == [
        ("c000", "mail", "email"),
        ("c001", "mail", "email"),
        ("c003", "sms", "sms"),
    ]
    assert happened[0]["properties"]["reasons"] == quarantined[0]["reasons"]
    # ids and labels only: no address in what the gate stored or reported
    stored = json.dumps([quarantined, validations, report.validations], default=str)
    assert "@" not in stored and "+1415" not in stored and "+8131" not in stored
    assert [v["target"] for v in report.validations] == ["journey:j/mail", "journey:j/sms"]
    assert set(ids) == set(mail)


def test_an_audience_without_emails_is_held_until_the_data_is_fixed(
    engine: Engine, tmp_path: Path, emu: Emulators
) -> None:
    plan = plan_of(tmp_path, JOURNEY, templates=TEMPLATES)
    broken = {f"c{i:03d}": {"email": None} for i in range(30)}  # the export lost the emails
    people(engine, 40, **broken)

    with pytest.raises(AudienceHeld) as info:
        tick(engine, plan, when(2, 12))
    message = str(info.value)
    assert message.startswith("journey j, step mail: audience held, nothing sent: 75.0% of 40 rows")
    assert "threshold 5.0%" in message
    assert "email: no address (expect_column_values_to_not_be_null) ×30" in message
    assert "\n" not in message

    assert set(statuses(engine, "mail").values()) == {"planned"}  # nothing quarantined or sent
    assert emu.control.sendgrid_messages() == []
    assert set(statuses(engine, "sms").values()) == {"sent"}  # the other step is not held
    assert table(engine, QUARANTINE) == []
    held = table(engine, VALIDATIONS)[0]
    assert (held["target"], held["rows"], held["failed_rows"], held["passed"]) == (
        "journey:j/mail",
        40,
        30,
        False,
    )

    with pytest.raises(AudienceHeld):  # still broken an hour later: still held
        tick(engine, plan, when(2, 13))
    assert emu.control.sendgrid_messages() == []

    for cid in broken:  # the export is fixed
        customers(engine, cid, email=f"{cid}@example.com")
    report = tick(engine, plan, when(2, 14))
    assert report.sent == 40 and not report.held and report.quarantined == 0
    assert set(statuses(engine, "mail").values()) == {"sent"}
    assert len(emu.control.sendgrid_messages()) == 40
    assert [v["passed"] for v in table(engine, VALIDATIONS)] == [False, True, False, True]


def test_threshold_is_a_journey_setting(sqlite_engine: Engine, tmp_path: Path) -> None:
    lenient = OUTBOX_JOURNEY.replace(
        "  sms_quiet_hours: null\n", "  sms_quiet_hours: null\n  audience_threshold: 0.8\n"
    )
    plan = plan_of(tmp_path, lenient, templates=TEMPLATES)
    people(sqlite_engine, 40, **{f"c{i:03d}": {"email": None} for i in range(30)})
    report = tick(sqlite_engine, plan, when(2, 12))  # 75% ≤ 80%: quarantined, not held
    assert report.quarantined == 30 and not report.held
    mail = statuses(sqlite_engine, "mail")
    assert sum(s == "quarantined" for s in mail.values()) == 30
    assert sum(s == "sent" for s in mail.values()) == 10  # through the outbox, gated the same


def test_customers_without_consent_are_not_judged(sqlite_engine: Engine, tmp_path: Path) -> None:
    """Customers without an SMS number and without SMS consent are the dispatcher's (suppressed,
    as before), so a journey whose SMS step reaches many of them is not held."""
    plan = plan_of(tmp_path, OUTBOX_JOURNEY, templates=TEMPLATES)
    no_phone = {f"c{i:03d}": {"phone": None, "sms_consent": False} for i in range(20)}
    people(sqlite_engine, 40, **no_phone)
    report = tick(sqlite_engine, plan, when(2, 12))
    assert not report.held and report.quarantined == 0
    sms = statuses(sqlite_engine, "sms")
    assert sum(s == "suppressed" for s in sms.values()) == 20
    assert sum(s == "sent" for s in sms.values()) == 20
    validation = table(sqlite_engine, VALIDATIONS)[1]
    assert (validation["target"], validation["rows"], validation["failed_rows"]) == (
        "journey:j/sms",
        20,
        0,
    )


def test_project_suite_overrides_and_broken_suite_holds_everything(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    journey = OUTBOX_JOURNEY
    plan = plan_of(tmp_path, journey, templates=TEMPLATES)
    root = tmp_path / "project"
    (root / "expectations").mkdir()
    suite = root / "expectations" / "audience_email.json"
    suite.write_text(
        json.dumps(
            {
                "expectations": [
                    {
                        "type": "expect_column_values_to_not_match_regex",
                        "kwargs": {"column": "email", "regex": "@competitor\\.example$"},
                        "meta": {"reason": "a competitor's address"},
                    }
                ]
            }
        )
    )
    people(sqlite_engine, 30, c005={"email": "spy@competitor.example"})
    report = tick(sqlite_engine, plan, when(2, 12), project_root=root)
    assert statuses(sqlite_engine, "mail")["c005"] == "quarantined"
    assert report.quarantined == 1
    assert table(sqlite_engine, QUARANTINE)[0]["reasons"] == [
        "email: a competitor's address (expect_column_values_to_not_match_regex)"
    ]

    suite.write_text('{"expectations": [{"type": "expect_column_values_to_be_tasty"}]}')
    customers(sqlite_engine, "late", email="late@example.com")
    event(sqlite_engine, "late", "signed_up", when(3, 12))
    broken = (
        r"audience gate cannot run, send steps mail held: .*audience_email.json: expectation 1:"
        r" unknown expectation type 'expect_column_values_to_be_tasty'"
    )
    with pytest.raises(AudienceHeld, match=broken):
        tick(sqlite_engine, plan, when(3, 12), project_root=root)
    late = {i["step_id"]: i["status"] for i in intents(sqlite_engine, customer_id="late")}
    assert late == {"mail": "planned", "sms": "sent"}  # the SMS suite is the packaged one


def test_dry_run_reports_but_stores_nothing(sqlite_engine: Engine, tmp_path: Path) -> None:
    plan = plan_of(tmp_path, OUTBOX_JOURNEY, templates=TEMPLATES)
    people(sqlite_engine, 30, c000={"email": "nope"})
    report = tick(sqlite_engine, plan, when(2, 12), dry_run=True)
    assert report.quarantined == 1 and len(report.validations) == 2
    assert table(sqlite_engine, QUARANTINE) == [] and table(sqlite_engine, VALIDATIONS) == []
    assert intents(sqlite_engine) == []


def test_webhook_steps_have_no_gate(sqlite_engine: Engine, tmp_path: Path) -> None:
    journey = """
id: j
entry: {event: signed_up}
steps:
  - id: hook
    send: {channel: webhook, template: hook}
"""
    plan = plan_of(tmp_path, journey, templates=TEMPLATES)
    people(sqlite_engine, 3)
    report = tick(sqlite_engine, plan, when(2, 12))
    assert report.sent == 3 and report.validations == []
