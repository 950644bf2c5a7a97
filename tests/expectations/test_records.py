"""Validation and quarantine records (what the sync and the gate store) and the artifact text."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from prefect_journeys.expectations.records import (
    QUARANTINE,
    VALIDATIONS,
    quarantine,
    quarantine_rows,
    record_validation,
    summary,
    validation_entry,
    validation_markdown,
)
from prefect_journeys.expectations.runner import validate


def audience() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "intent_id": [11, 12, 13, 14, 15],
            "customer_id": ["a", "b", "c", "d", "e"],
            "email": ["a@example.com", None, "c@example", "d@example.com", "e@example.com"],
            "suppressed": [False, False, False, True, False],
        }
    )


def test_record_validation_and_quarantine_round_trip(engine: Engine) -> None:
    frame = audience()
    outcome = validate("audience_email", frame)
    assert outcome.counted == {1, 2} and set(outcome.failures) == {1, 2, 3}
    with engine.begin() as conn:
        vid = record_validation(
            conn, outcome, target="journey:j/mail", batch="2026-03-02T09:00:00", threshold=0.5
        )
        rows = quarantine_rows(
            outcome,
            kind="audience",
            target="journey:j/mail",
            validation_id=vid,
            step_id="mail",
            counted_only=True,
            refs=lambda p: {
                "customer_id": frame.customer_id[p],
                "intent_id": int(frame.intent_id[p]),
                "row_ref": f"intent:{frame.intent_id[p]}",
            },
        )
        assert quarantine(conn, rows) == 2
    with engine.connect() as conn:
        stored = dict(conn.execute(select(VALIDATIONS)).one()._mapping)
        kept = [
            dict(r._mapping) for r in conn.execute(select(QUARANTINE).order_by(QUARANTINE.c.id))
        ]
    assert (stored["rows"], stored["failed_rows"], stored["threshold"], stored["passed"]) == (
        5,
        3,
        0.5,
        True,
    )
    assert [r["label"] for r in stored["results"] if not r["success"]] == [
        "email: no address (expect_column_values_to_not_be_null)",
        "email: not a valid address (expect_column_values_to_match_regex)",
        "suppressed: on the suppression list (expect_column_values_to_be_in_set)",
    ]
    assert [(q["customer_id"], q["intent_id"], q["validation_id"], q["step_id"]) for q in kept] == [
        ("b", 12, vid, "mail"),
        ("c", 13, vid, "mail"),
    ]
    assert kept[0]["reasons"] == ["email: no address (expect_column_values_to_not_be_null)"]
    assert kept[0]["row"] == {} and kept[0]["created_at"] is not None


def test_quarantine_refuses_unknown_fields_and_kinds(sqlite_engine: Engine) -> None:
    with sqlite_engine.begin() as conn:
        with pytest.raises(ValueError, match="unknown quarantine fields: email"):
            quarantine(conn, [{"kind": "sync", "target": "t", "reasons": [], "email": "x"}])
        with pytest.raises(
            ValueError, match="quarantine kind must be one of sync, audience, check"
        ):
            quarantine(conn, [{"kind": "later", "target": "t", "reasons": []}])
        assert quarantine(conn, []) == 0


def test_summary_and_markdown_name_counts_not_data() -> None:
    outcome = validate("audience_email", audience())
    line = summary(outcome, 0.05)
    assert line == (
        "40.0% of 5 rows fail audience_email (threshold 5.0%): email: no address"
        " (expect_column_values_to_not_be_null) ×1; email: not a valid address"
        " (expect_column_values_to_match_regex) ×1"
    )
    entry = validation_entry(outcome, target="journey:j/mail", threshold=0.05, held=True)
    text = validation_markdown([entry], title="j audience validation")
    assert "| journey:j/mail | audience_email | 5 | 3 | 40.0% | 5.0% | HELD |" in text
    assert (
        "on the suppression list (expect_column_values_to_be_in_set): 1 rows (not counted" in text
    )
    assert "@" not in text and "example" not in text
    assert "Nothing was validated." in validation_markdown([], title="empty")
