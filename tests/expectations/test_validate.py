"""validate(): each packaged expectation catches its bad value, passes good ones, names the row."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from prefect_journeys.expectations.runner import SuiteError, validate

NOW = datetime.now().replace(microsecond=0)


def customers(rows: list[dict[str, Any]]) -> pd.DataFrame:
    base = {
        "id": "c",
        "email": "ann@example.com",
        "phone": "+447700900123",
        "timezone": "Europe/Berlin",
        "locale": "de-DE",
        "email_consent": True,
        "sms_consent": False,
        "whatsapp_consent": None,
    }
    full = [{**base, "id": f"c{i}", **row} for i, row in enumerate(rows)]
    frame = pd.DataFrame(full)
    for consent in ("email_consent", "sms_consent", "whatsapp_consent"):
        frame[consent] = frame[consent].astype(object)
    return frame


def events(rows: list[dict[str, Any]]) -> pd.DataFrame:
    base = {
        "customer_key": "c1",
        "name": "purchase",
        "timestamp": NOW - timedelta(hours=1),
        "amount": 12.5,
        "currency": "EUR",
        "order_id": "o1",
    }
    frame = pd.DataFrame([{**base, **row} for row in rows])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    frame["amount"] = frame["amount"].astype(float)
    return frame


GOOD_CUSTOMERS = [
    {},
    {"email": None, "phone": None, "timezone": None},  # absent values are allowed
    {"timezone": "UTC", "email_consent": False, "whatsapp_consent": True},
    {"email": "o'brien+tag@mail.example.co.uk", "phone": "+14155550100"},
]


@pytest.mark.parametrize(
    ("bad", "label"),
    [
        ({"id": None}, "id: missing (expect_column_values_to_not_be_null)"),
        ({"email": "not-an-address"}, "email: not a valid address"),
        ({"email": "two words@example.com"}, "email: not a valid address"),
        ({"phone": "0151 1234567"}, "phone: not an E.164 number"),
        ({"phone": "+0123456789"}, "phone: not an E.164 number"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone: not an IANA time zone"),
        ({"timezone": "CEST"}, "timezone: not an IANA time zone"),
        ({"email_consent": "yes"}, "email_consent: not a boolean"),
        ({"sms_consent": 2}, "sms_consent: not a boolean"),
        ({"whatsapp_consent": "maybe"}, "whatsapp_consent: not a boolean"),
    ],
)
def test_customers_suite_catches_each_bad_value(bad: dict[str, Any], label: str) -> None:
    frame = customers([*GOOD_CUSTOMERS, bad, {}])
    outcome = validate("customers", frame)
    bad_row = len(GOOD_CUSTOMERS)
    assert set(outcome.failures) == {bad_row}
    assert len(outcome.failures[bad_row]) == 1
    assert outcome.failures[bad_row][0].startswith(label)
    assert outcome.rows == len(frame)
    assert outcome.fraction == pytest.approx(1 / len(frame))
    failed = [r for r in outcome.results if not r.success]
    assert [r.unexpected_count for r in failed] == [1]


def test_duplicate_ids_flag_every_copy() -> None:
    frame = customers([{}, {}, {}])
    frame.loc[2, "id"] = frame.loc[0, "id"]
    outcome = validate("customers", frame)
    assert set(outcome.failures) == {0, 2}
    assert outcome.failures[0] == [
        "id: appears more than once in the batch (expect_column_values_to_be_unique)"
    ]


def test_clean_customers_pass_with_any_index() -> None:
    frame = customers(GOOD_CUSTOMERS)
    frame.index = [10, 11, 12, 13]  # positions, not the caller's index, are reported
    outcome = validate("customers", frame)
    assert outcome.failures == {} and outcome.fraction == 0.0
    assert all(r.success for r in outcome.results)
    assert outcome.passed(0.0)
    frame.loc[12, "email"] = "broken"
    assert set(validate("customers", frame).failures) == {2}


GOOD_EVENTS = [
    {},
    {"name": "signed_up", "amount": np.nan, "currency": None, "order_id": None},
    {"name": "cart_abandoned", "amount": np.nan, "currency": None},
    {"amount": 0.0, "currency": "USD"},
    {"timestamp": NOW + timedelta(minutes=2)},  # clocks slightly ahead are tolerated
]


@pytest.mark.parametrize(
    ("bad", "label"),
    [
        ({"customer_key": None}, "customer_key: missing"),
        ({"name": None, "amount": np.nan, "currency": None}, "name: missing"),
        ({"name": "purchsae", "amount": np.nan, "currency": None}, "name: not an event name"),
        ({"timestamp": NOW + timedelta(days=2)}, "timestamp: in the future"),
        ({"timestamp": None}, "timestamp: missing or not a time"),
        ({"amount": -3.0}, "amount: negative"),
        ({"amount": np.nan}, "amount: missing on a purchase"),
        ({"currency": None}, "currency: missing on a purchase"),
        ({"currency": "euro"}, "currency: not an ISO 4217 code"),
    ],
)
def test_events_suite_catches_each_bad_value(bad: dict[str, Any], label: str) -> None:
    frame = events([*GOOD_EVENTS, bad])
    outcome = validate("events", frame)
    assert set(outcome.failures) == {len(GOOD_EVENTS)}, outcome.failures
    assert outcome.failures[len(GOOD_EVENTS)][0].startswith(label)


def test_event_times_in_other_units_and_far_future() -> None:
    frame = events([{}, {}, {}])
    stamps = np.array(
        [
            np.datetime64(NOW, "s"),
            np.datetime64("9999-01-01", "s"),
            np.datetime64("1200-01-01", "s"),
        ]
    )
    frame["timestamp"] = pd.Series(stamps, dtype="datetime64[s]")
    outcome = validate("events", frame)
    assert set(outcome.failures) == {1}
    aware = events([{}, {}])
    aware["timestamp"] = pd.to_datetime(aware["timestamp"]).dt.tz_localize("Europe/Berlin")
    assert validate("events", aware).failures == {}


def test_latest_event_time_parameter_can_be_overridden() -> None:
    frame = events([{"timestamp": datetime(2030, 1, 1)}])
    assert validate("events", frame).failed_rows == 1
    later = {"latest_event_time": datetime(2031, 1, 1)}
    assert validate("events", frame, parameters=later).failed_rows == 0


def test_missing_column_and_missing_parameter_are_suite_errors(tmp_path: Path) -> None:
    frame = customers([{}]).drop(columns=["phone"])
    with pytest.raises(
        SuiteError, match=r"customers.json: the customers batch has no column 'phone'"
    ):
        validate("customers", frame)
    (tmp_path / "expectations").mkdir()
    (tmp_path / "expectations" / "customers.json").write_text(
        json.dumps(
            {
                "expectations": [
                    {
                        "type": "expect_column_values_to_be_in_set",
                        "kwargs": {"column": "locale", "value_set": {"$PARAMETER": "our_locales"}},
                    }
                ]
            }
        )
    )
    with pytest.raises(SuiteError, match="no value for suite parameter our_locales"):
        validate("customers", customers([{}]), project_root=tmp_path)
    outcome = validate(
        "customers",
        customers([{}, {"locale": "xx-XX"}]),
        project_root=tmp_path,
        parameters={"our_locales": ["de-DE"]},
    )
    assert set(outcome.failures) == {1}


def test_uncounted_expectations_are_reported_but_do_not_count(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "intent_id": [1, 2, 3, 4],
            "customer_id": ["a", "b", "c", "d"],
            "email": ["a@example.com", None, "c@example.com", "d@example.com"],
            "suppressed": [False, False, True, False],
        }
    )
    outcome = validate("audience_email", frame)
    assert outcome.failures == {
        1: ["email: no address (expect_column_values_to_not_be_null)"],
        2: ["suppressed: on the suppression list (expect_column_values_to_be_in_set)"],
    }
    assert outcome.counted == {1}
    assert outcome.fraction == 0.25
    assert outcome.passed(0.25) and not outcome.passed(0.2)
    uncounted = [r for r in outcome.results if not r.counts_toward_threshold]
    assert [(r.success, r.unexpected_count) for r in uncounted] == [(False, 1)]


def test_long_value_sets_are_narrowed_without_changing_the_result() -> None:
    """The 600-zone parameter is narrowed to the batch's zones; validity must not change."""
    zones = ["Europe/Berlin", "America/New_York", "Mars/Base", "UTC", "Europe/Atlantis"]
    frame = customers([{"timezone": z} for z in zones])
    outcome = validate("customers", frame)
    assert set(outcome.failures) == {2, 4}


def test_empty_batch() -> None:
    outcome = validate("customers", customers([{}]).iloc[0:0])
    assert outcome.rows == 0 and outcome.fraction == 0.0 and outcome.passed(0.0)
    assert all(r.success for r in outcome.results)


def test_expectation_that_cannot_run_on_the_data_is_a_suite_error(tmp_path: Path) -> None:
    (tmp_path / "expectations").mkdir()
    (tmp_path / "expectations" / "events.json").write_text(
        json.dumps(
            {
                "expectations": [
                    {
                        "type": "expect_column_values_to_be_between",
                        "kwargs": {"column": "amount", "min_value": 5, "max_value": 1},
                    }
                ]
            }
        )
    )
    with pytest.raises(
        SuiteError,
        match=r"expectation 1 \(expect_column_values_to_be_between\) could not be evaluated.*min_value",
    ):
        validate("events", events([{}]), project_root=tmp_path)


def test_large_batch_names_the_same_rows() -> None:
    """Above GROUP_OVER rows the suite runs per column group: the same rows must fail."""
    from prefect_journeys.expectations.runner import GROUP_OVER

    n = GROUP_OVER + 10
    frame = pd.DataFrame(
        {
            "id": pd.array([f"c{i}" for i in range(n)], dtype="str"),
            "email": pd.array([f"u{i}@example.com" for i in range(n)], dtype="str"),
            "phone": pd.array([None] * n, dtype="str"),
            "timezone": pd.array(["Europe/Berlin"] * n, dtype="str"),
            "locale": pd.array(["de-DE"] * n, dtype="str"),
            "email_consent": [True] * n,
            "sms_consent": [False] * n,
            "whatsapp_consent": [True] * n,
        }
    )
    frame.loc[7, "email"] = "broken"
    frame.loc[n - 1, "timezone"] = "Nowhere/Special"
    frame.loc[123, "id"] = "c124"
    outcome = validate("customers", frame)
    assert set(outcome.failures) == {7, 123, 124, n - 1}
    assert outcome.failures[n - 1] == [
        "timezone: not an IANA time zone (expect_column_values_to_be_in_set)"
    ]
