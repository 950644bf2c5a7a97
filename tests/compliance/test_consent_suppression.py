"""Consent records and the suppression list decide at claim time, per channel and topic."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from tests.engine.helpers import TEMPLATES, customers, event, intents, plan_of, tick, when

from prefect_journeys.compliance import consent, suppressions
from prefect_journeys.expectations.gate import AudienceHeld

JOURNEY = """
id: j
entry: {event: signed_up}
steps:
  - id: promo
    send: {channel: email, template: hello, topic: promotions}
    next: receipt
  - id: receipt
    send: {channel: email, template: hello, transactional: true}
"""


def _statuses(engine: Engine) -> dict[tuple[str, str], str]:
    return {(i["customer_id"], i["step_id"]): i["status"] for i in intents(engine)}


def test_consent_records_override_the_flag_per_topic(engine: Engine, tmp_path: Path) -> None:
    plan = plan_of(tmp_path, JOURNEY)
    customers(engine, "flag_only", "revoked_topic", "revoked_all", "granted_topic")
    customers(engine, "no_flag", "granted_other", email_consent=False)
    customers(engine, "granted_topic_noflag", email_consent=False)
    with engine.begin() as conn:
        consent.record(conn, "revoked_topic", "email", False, source="prefs", topic="promotions")
        consent.record(conn, "revoked_all", "email", False, source="unsubscribe_link")
        consent.record(conn, "granted_other", "email", True, source="form", topic="newsletter")
        consent.record(
            conn,
            "granted_topic_noflag",
            "email",
            True,
            source="signup_form",
            topic="promotions",
            text="Send me offers",
        )
        # a later record wins over an earlier one
        consent.record(conn, "granted_topic", "email", False, source="prefs", topic="promotions")
        consent.record(conn, "granted_topic", "email", True, source="prefs", topic="promotions")
    people = ["flag_only", "revoked_topic", "revoked_all", "granted_topic", "no_flag"]
    people += ["granted_other", "granted_topic_noflag"]
    for c in people:
        event(engine, c, "signed_up", when(2, 9))
    tick(engine, plan, when(2, 9))
    got = _statuses(engine)
    promo = {c: got[(c, "promo")] for c in people}
    assert promo == {
        "flag_only": "sent",
        "revoked_topic": "suppressed",
        "revoked_all": "suppressed",
        "granted_topic": "sent",
        "no_flag": "suppressed",
        "granted_other": "suppressed",  # consent to another topic is not consent to this one
        "granted_topic_noflag": "sent",
    }
    # the transactional receipt needs no marketing consent: everyone gets it
    assert {c for c in people if got[(c, "receipt")] == "sent"} == set(people)
    # a channel-wide record keeps the customer's flag in step
    with engine.connect() as conn:
        assert consent.history(conn, "revoked_all")[0]["source"] == "unsubscribe_link"
        row = conn.execute(
            consent.CUSTOMERS.select().where(consent.CUSTOMERS.c.id == "revoked_all")
        ).one()
        assert row.email_consent is False


def test_suppression_scopes(engine: Engine, tmp_path: Path) -> None:
    plan = plan_of(tmp_path, JOURNEY)
    customers(engine, "unsub", "bounced", "fine")
    with engine.begin() as conn:
        # stored normalised and hashed: case and spaces do not matter
        assert suppressions.suppress(conn, "email", " UNSUB@Example.com ", "unsubscribe")
        assert not suppressions.suppress(conn, "email", "unsub@example.com", "unsubscribe")
        suppressions.suppress(conn, "email", "bounced@example.com", "bounce")
        stored = [r.address_hash for r in conn.execute(suppressions.SUPPRESSIONS.select())]
    assert all("@" not in h and len(h) == 64 for h in stored)
    for c in ("unsub", "bounced", "fine"):
        event(engine, c, "signed_up", when(2, 9))
    tick(engine, plan, when(2, 9))
    got = _statuses(engine)
    assert got[("unsub", "promo")] == "suppressed"
    assert got[("unsub", "receipt")] == "sent"  # an unsubscribe blocks marketing only
    assert got[("bounced", "promo")] == got[("bounced", "receipt")] == "suppressed"
    assert got[("fine", "promo")] == got[("fine", "receipt")] == "sent"
    reasons = {i["customer_id"]: i["error"] for i in intents(engine, step_id="promo")}
    assert reasons["bounced"] == "address suppressed"


SMS = """
id: j
entry: {event: signed_up}
steps:
  - id: text
    send: {channel: sms, template: nudge}
"""


def test_sms_waits_for_daytime_in_the_recipients_zone(engine: Engine, tmp_path: Path) -> None:
    """Default SMS quiet hours 21:00–08:00 local; unknown zone → the journey default (UTC)."""
    plan = plan_of(tmp_path, SMS, templates=TEMPLATES)
    customers(engine, "berlin", timezone="Europe/Berlin")  # 22:30 UTC = 23:30 local
    customers(engine, "la", timezone="America/Los_Angeles")  # 14:30 local
    customers(engine, "nowhere", timezone=None)  # UTC: 22:30
    customers(engine, "bad_zone", timezone="Mars/Olympus")
    for c in ("berlin", "la", "nowhere", "bad_zone"):
        event(engine, c, "signed_up", when(2, 22, 30))
    tick(engine, plan, when(2, 22, 30))
    by = {i["customer_id"]: i for i in intents(engine)}
    assert by["la"]["status"] == "sent"
    assert by["berlin"]["status"] == "planned"
    assert by["berlin"]["due_at"] == when(3, 7)  # 08:00 in Berlin (CET) is 07:00 UTC
    for c in ("nowhere", "bad_zone"):
        assert (by[c]["status"], by[c]["due_at"]) == ("planned", when(3, 8))
    tick(engine, plan, when(3, 7))
    assert {i["customer_id"] for i in intents(engine, status="sent")} == {"la", "berlin"}


def test_invalid_addresses_are_kept_out_with_a_clear_reason(engine: Engine, tmp_path: Path) -> None:
    """The audience gate judges numbers before dispatch (before it, dispatch failed them one by
    one): two bad numbers of three hold the step; with a lenient threshold they are quarantined.
    The reasons name the check, never the number."""
    plan = plan_of(tmp_path, SMS, templates=TEMPLATES)
    customers(engine, "local_format", phone="030 1234567")
    customers(engine, "letters", phone="+49 call me")
    customers(engine, "good", phone="+4915112345678")
    for c in ("local_format", "letters", "good"):
        event(engine, c, "signed_up", when(2, 12))
    with pytest.raises(AudienceHeld, match=r"journey j, step text: audience held.*66\.7% of 3"):
        tick(engine, plan, when(2, 12))
    assert {i["status"] for i in intents(engine)} == {"planned"}

    lenient = plan_of(
        tmp_path, SMS.replace("steps:", "settings: {audience_threshold: 1.0}\nsteps:")
    )
    report = tick(engine, lenient, when(2, 13))
    by = {i["customer_id"]: (i["status"], i["error"]) for i in intents(engine)}
    assert by["good"] == ("sent", None)
    assert (
        by["local_format"]
        == by["letters"]
        == (
            "quarantined",
            "quarantined: phone: not an E.164 number (expect_column_values_to_match_regex);"
            " country: not a country we may text (expect_column_values_to_be_in_set)",
        )
    )
    assert any("step text: 2 of 3 customers quarantined" in p for p in report.problems)
    assert any("customers letters, local_format" in p for p in report.problems)
    assert not any("030" in p or "call me" in p for p in report.problems)


EMPTY = {
    **TEMPLATES,
    "blank": "channel: email\nsubject: 'Hi'\nbody: '{{ customer.attributes.note | default: \"\" }}'\n",
}
BLANK = """
id: j
entry: {event: signed_up}
steps:
  - id: mail
    send: {channel: email, template: blank}
"""


def test_a_template_rendering_to_nothing_fails_clearly(engine: Engine, tmp_path: Path) -> None:
    plan = plan_of(tmp_path, BLANK, templates=EMPTY)
    customers(engine, "empty", attributes={})
    customers(engine, "noted", attributes={"note": "Your parcel shipped"})
    for c in ("empty", "noted"):
        event(engine, c, "signed_up", when(2, 12))
    report = tick(engine, plan, when(2, 12))
    by = {i["customer_id"]: (i["status"], i["error"]) for i in intents(engine)}
    assert by["noted"] == ("sent", None)
    assert by["empty"] == ("failed", "template 'blank' rendered an empty body")
    assert report.problems == [
        "journey j, step mail, customer empty: template 'blank' rendered an empty body"
    ]
