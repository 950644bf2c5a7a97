"""``journeys forget``: no trace of the person's email, phone, name or id remains anywhere."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, MetaData, select
from tests.engine.helpers import customers, event, intents, plan_of, tick, when

from prefect_journeys.compliance import consent, suppressions
from prefect_journeys.compliance.erasure import forget, pseudonym_of
from prefect_journeys.connectors.outbox import OutboxChannel

JOURNEY = """
id: j
entry: {event: signed_up}
goal: {event: purchase, within: 7d}
steps:
  - id: hello
    send: {channel: email, template: hello}
    next: text
  - id: text
    send: {channel: sms, template: nudge}
"""
EMAIL, PHONE, NAME, CID = "ada.lovelace@example.com", "+4915112345678", "Adalovelace", "ada-0815"


def _dump(engine: Engine) -> str:
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        return json.dumps(
            {t: [list(r) for r in conn.execute(select(meta.tables[t]))] for t in meta.tables},
            default=str,
        )


def test_forget_leaves_no_trace_and_keeps_counts(engine: Engine, tmp_path: Path) -> None:
    plan = plan_of(tmp_path, JOURNEY)
    outbox_file = tmp_path / "outbox.jsonl"
    customers(engine, CID, email=EMAIL, phone=PHONE, first_name=NAME, attributes={"city": "Bonn"})
    customers(engine, "other")
    with engine.begin() as conn:
        consent.record(conn, CID, "email", True, source="form", text="Yes, email me", actor=EMAIL)
        suppressions.suppress(conn, "phone", PHONE, "sms_stop")
    for c in (CID, "other"):
        event(engine, c, "signed_up", when(2, 9), properties={"email": EMAIL, "ref": c})
    event(engine, CID, "purchase", when(2, 10), properties={"amount": 30, "by": NAME})
    tick(engine, plan, when(2, 9), channel=OutboxChannel(outbox_file))
    tick(engine, plan, when(2, 12), dry_run=True)
    before = _dump(engine)
    assert EMAIL in before and NAME in before and CID in before
    assert EMAIL in outbox_file.read_text()
    counts_before = _counts(engine)

    report = forget(engine, CID, [outbox_file])
    assert report.found and report.rows["customers"] == 1 and report.files == {str(outbox_file): 1}

    after = _dump(engine)
    for trace in (EMAIL, PHONE, NAME, CID, "Bonn"):  # the consent wording itself may stay
        assert trace not in after, trace
        assert trace not in outbox_file.read_text(), trace
    assert "Other" in outbox_file.read_text()  # other people's lines stay
    # analytics still add up: same number of events and intents, now under the pseudonym
    assert _counts(engine) == counts_before
    assert {i["customer_id"] for i in intents(engine)} == {pseudonym_of(CID), "other"}
    # the hashed suppression survives: a new profile with that number is still not texted
    with engine.connect() as conn:
        from prefect_journeys.compliance.addresses import address_hash

        assert suppressions.scopes_of(conn, [address_hash("phone", PHONE)])
    # forgetting twice is harmless
    again = forget(engine, CID, [outbox_file])
    assert not again.found and again.rows == {}


def _counts(engine: Engine) -> dict[str, int]:
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        return {
            t: len(conn.execute(select(meta.tables[t])).all())
            for t in ("events", "send_intents", "enrollments", "consents", "suppressions")
        }
