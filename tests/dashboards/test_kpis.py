"""The Overview KPIs on a hand-built event log, computed by hand."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from prefect_journeys.analytics.frames import empty_events
from prefect_journeys.dashboards.kpis import EVENT_NEEDS, daily_counts, overview_kpis, scope

SINCE, UNTIL = datetime(2026, 1, 2), datetime(2026, 1, 4)  # two days; previous: Dec 31 – Jan 1


def _events() -> pd.DataFrame:
    rows = [
        # customer, name, at, journey, variant, channel, intent, value
        ("c1", "journey.entered", "2026-01-02 09:00", "j1", "A", None, None, None),
        ("c1", "message.sent", "2026-01-02 10:00", "j1", "A", "email", 1, None),
        ("c1", "message.delivered", "2026-01-02 10:05", "j1", "A", "email", 1, None),
        ("c1", "message.opened", "2026-01-02 11:00", "j1", "A", "email", 1, None),
        ("c1", "message.opened", "2026-01-03 08:00", "j1", "A", "email", 1, None),  # again
        ("c1", "message.clicked", "2026-01-03 08:01", "j1", "A", "email", 1, None),
        ("c2", "message.sent", "2026-01-03 10:00", "j1", "B", "sms", 2, None),
        ("c2", "message.bounced", "2026-01-03 10:01", "j1", "B", "sms", 2, None),
        ("c3", "message.sent", "2026-01-01 10:00", "j2", None, "email", 3, None),
        ("c3", "message.delivered", "2026-01-01 10:01", "j2", None, "email", 3, None),
        ("c1", "purchase", "2026-01-03 12:00", None, None, None, None, 10.0),
        ("c4", "purchase", "2026-01-02 12:00", None, None, None, None, 5.0),
        ("c3", "purchase", "2026-01-01 12:00", None, None, None, None, 7.0),
        ("c1", "journey.converted", "2026-01-03 12:00", "j1", "A", None, None, 97200.0),
        ("c9", "purchase", "2026-01-04 00:00", None, None, None, None, 99.0),  # after the period
    ]
    frame = pd.DataFrame(
        rows,
        columns=[
            *("customer_id", "name", "occurred_at", "journey_id", "variant", "channel"),
            *("intent_id", "value"),
        ],
    )
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"])
    frame["seq"] = range(1, len(frame) + 1)
    return frame[list(EVENT_NEEDS)]


def _optouts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["c2"],
            "channel": ["sms"],
            "recorded_at": pd.to_datetime(["2026-01-03 11:00"]),
        }
    )


def _cards(**filters: str) -> dict[str, object]:
    return {k.key: k for k in overview_kpis(_events(), _optouts(), SINCE, UNTIL, **filters)}


def test_cards_without_filters() -> None:
    cards = _cards()
    values = {key: card.value for key, card in cards.items()}  # type: ignore[attr-defined]
    assert values == {
        "customers": 3,  # c1, c2, c4 (c3 only before, c9 only after)
        "sent": 2,
        "delivery_rate": 0.5,
        "open_rate": 1.0,  # opened twice, counted once
        "click_rate": 1.0,
        "conversions": 1,
        "revenue": 15.0,
        "unsubscribe_rate": 1.0,
        "bounce_rate": 0.5,
        "spam_rate": 0.0,
    }
    previous = {key: card.previous for key, card in cards.items()}  # type: ignore[attr-defined]
    assert previous["customers"] == 1 and previous["sent"] == 1 and previous["revenue"] == 7.0
    assert previous["delivery_rate"] == 1.0 and previous["unsubscribe_rate"] == 0.0
    assert cards["revenue"].delta == 8.0  # type: ignore[attr-defined]
    assert cards["delivery_rate"].delta == -0.5  # type: ignore[attr-defined]
    assert cards["sent"].trend == [1.0, 1.0]  # type: ignore[attr-defined]
    assert cards["open_rate"].trend == [1.0, None]  # type: ignore[attr-defined]  # nothing delivered day 2
    assert cards["revenue"].trend == [5.0, 10.0]  # type: ignore[attr-defined]


def test_the_journey_filter_keeps_purchases_of_reached_customers_only() -> None:
    cards = _cards(journey="j1")
    assert cards["customers"].value == 2  # type: ignore[attr-defined]
    assert cards["revenue"].value == 10.0  # type: ignore[attr-defined]  # c4 never reached
    assert cards["unsubscribe_rate"].value == 1.0  # type: ignore[attr-defined]
    assert cards["sent"].previous == 0  # type: ignore[attr-defined]  # j2's message is not j1's


def test_the_channel_filter_narrows_messages_not_conversions() -> None:
    cards = _cards(channel="email")
    assert cards["sent"].value == 1  # type: ignore[attr-defined]
    assert cards["conversions"].value == 1  # type: ignore[attr-defined]
    assert cards["customers"].value == 1  # type: ignore[attr-defined]
    assert cards["unsubscribe_rate"].value == 0.0  # type: ignore[attr-defined]  # c2 not reached by email
    assert cards["bounce_rate"].value == 0.0  # type: ignore[attr-defined]


def test_the_variant_filter() -> None:
    cards = _cards(variant="B")
    assert cards["sent"].value == 1 and cards["bounce_rate"].value == 1.0  # type: ignore[attr-defined]
    assert cards["open_rate"].value is None  # type: ignore[attr-defined]  # nothing delivered
    assert cards["revenue"].value == 0.0 and cards["conversions"].value == 0  # type: ignore[attr-defined]


def test_scope_without_filters_is_the_identity() -> None:
    events, optouts = _events(), _optouts()
    kept, kept_optouts = scope(events, optouts)
    assert kept is events and kept_optouts is optouts


def test_an_empty_log_gives_zeros_and_no_rates() -> None:
    empty = empty_events(EVENT_NEEDS)
    optouts = _optouts().iloc[0:0]
    cards = {k.key: k for k in overview_kpis(empty, optouts, SINCE, UNTIL)}
    assert cards["sent"].value == 0 and cards["customers"].value == 0
    assert cards["delivery_rate"].value is None and cards["delivery_rate"].delta is None
    assert daily_counts(empty, optouts, SINCE, UNTIL)["sent"].tolist() == [0, 0]


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="lacks column"):
        overview_kpis(_events().drop(columns="intent_id"), _optouts(), SINCE, UNTIL)
    with pytest.raises(ValueError, match="empty window"):
        daily_counts(_events(), _optouts(), UNTIL, SINCE)
