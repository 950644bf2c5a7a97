"""Every page under AppTest against the demo store: the figures shown equal what the store says
(counted here with plain SQL, or by the analytics functions the page is meant to show), every
table has its CSV download, no page raises, and an empty or missing store shows guidance."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
PAGES = ("overview", "journeys", "deliverability", "data_quality", "customer")
Open = Callable[..., AppTest]


def _sql(store: Path, query: str, *params: Any) -> Any:
    with sqlite3.connect(store) as conn:
        return conn.execute(query, params).fetchone()[0]


def _period(store: Path) -> tuple[str, str, str]:
    """The default period (the 14 days up to the last event day) and the previous one, as SQL
    text bounds: (previous since, since, until)."""
    last = date.fromisoformat(_sql(store, "select max(occurred_at) from events")[:10])
    since = datetime.combine(last - timedelta(days=13), datetime.min.time())
    until = datetime.combine(last + timedelta(days=1), datetime.min.time())
    fmt = "%Y-%m-%d %H:%M:%S"
    return (since - timedelta(days=14)).strftime(fmt), since.strftime(fmt), until.strftime(fmt)


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _downloads(at: AppTest) -> set[str]:
    return {b.label.rsplit("· ", 1)[-1] for b in at.download_button}


def _distinct_messages(store: Path, name: str, since: str, until: str, extra: str = "") -> int:
    return int(
        _sql(
            store,
            "select count(distinct intent_id) from events where name = ? and occurred_at >= ?"
            f" and occurred_at < ? {extra}",
            name,
            since,
            until,
        )
    )


# ----------------------------------------------------------------------------- empty / missing


@pytest.mark.parametrize("page", PAGES)
def test_an_empty_store_shows_guidance_on_every_page(
    open_app: Open, empty_store: Path, page: str
) -> None:
    at = open_app(empty_store, page)
    assert any("no events yet" in w.value for w in at.warning)
    assert any("./dev demo" in m.value for m in at.markdown)
    assert not at.metric and not at.dataframe


def test_a_missing_store_shows_guidance_and_is_not_created(open_app: Open, tmp_path: Path) -> None:
    store = tmp_path / "nowhere" / "journeys.db"
    at = open_app(store)
    assert any("No store at" in w.value for w in at.warning)
    assert not store.exists() and not store.parent.exists()


# ----------------------------------------------------------------------------- overview


def test_overview_cards_equal_the_store(open_app: Open, demo_store: Path) -> None:
    at = open_app(demo_store)
    shown = _metrics(at)
    before, since, until = _period(demo_store)
    sent = _distinct_messages(demo_store, "message.sent", since, until)
    delivered = _distinct_messages(demo_store, "message.delivered", since, until)
    opened = _distinct_messages(demo_store, "message.opened", since, until)
    bounced = _distinct_messages(demo_store, "message.bounced", since, until)
    spam = _distinct_messages(demo_store, "message.spamreport", since, until)
    window = "occurred_at >= ? and occurred_at < ?"
    customers = _sql(
        demo_store, f"select count(distinct customer_id) from events where {window}", since, until
    )
    conversions = _sql(
        demo_store,
        f"select count(*) from events where name = 'journey.converted' and {window}",
        since,
        until,
    )
    revenue = _sql(
        demo_store,
        f"select sum(value) from events where name = 'purchase' and {window}",
        since,
        until,
    )
    revenue_before = _sql(
        demo_store,
        f"select coalesce(sum(value), 0) from events where name = 'purchase' and {window}",
        before,
        since,
    )
    assert sent > 0 and bounced == 2 and spam == 1
    assert shown["Customers"] == f"{customers:,}"
    assert shown["Messages sent"] == f"{sent:,}"
    assert shown["Delivery rate"] == f"{delivered / sent * 100:.1f}%"
    assert shown["Open rate"] == f"{opened / delivered * 100:.1f}%"
    assert shown["Bounce rate"] == f"{bounced / sent * 100:.1f}%"
    assert shown["Spam-report rate"] == f"{spam / delivered * 100:.1f}%"
    assert shown["Unsubscribe rate"] == f"{1 / delivered * 100:.1f}%"
    assert shown["Conversions"] == f"{conversions:,}"
    assert shown["Revenue"] == f"{revenue:,.2f}"
    revenue_card = next(m for m in at.metric if m.label == "Revenue")
    assert revenue_card.proto.delta == f"{revenue - revenue_before:+,.2f}"
    assert {"kpis.csv", "daily.csv"} <= _downloads(at)
    assert at.get("plotly_chart"), "no chart of messages sent per channel"
    daily = next(
        d.value for d in at.dataframe if "sent" in d.value.columns and "day" in d.value.columns
    )
    assert int(daily["sent"].sum()) == sent and len(daily) == 14


def test_overview_follows_the_journey_filter(open_app: Open, demo_store: Path) -> None:
    at = open_app(demo_store)
    at.sidebar.selectbox(key="f_journey").set_value("welcome_series").run()
    assert not at.exception
    _, since, until = _period(demo_store)
    journey = "and journey_id = 'welcome_series'"
    sent = _distinct_messages(demo_store, "message.sent", since, until, journey)
    reached = (
        "select distinct customer_id from events where journey_id = 'welcome_series'"
        " and occurred_at >= ? and occurred_at < ?"
    )
    revenue = _sql(
        demo_store,
        "select coalesce(sum(value), 0) from events where name = 'purchase' and occurred_at >= ?"
        f" and occurred_at < ? and customer_id in ({reached})",
        since,
        until,
        since,
        until,
    )
    shown = _metrics(at)
    assert 0 < sent < _distinct_messages(demo_store, "message.sent", since, until)
    assert shown["Messages sent"] == f"{sent:,}"
    assert shown["Revenue"] == f"{revenue:,.2f}"


def test_the_locale_switches_labels_to_chinese(open_app: Open, demo_store: Path) -> None:
    at = open_app(demo_store, locale="zh-CN")
    assert "已发送消息" in _metrics(at)
    at.sidebar.selectbox(key="locale").set_value("en").run()
    assert "Messages sent" in _metrics(at)


# ----------------------------------------------------------------------------- journeys


def test_journeys_page_shows_the_report_of_the_chosen_journey(
    open_app: Open, demo_store: Path
) -> None:
    from prefect_journeys.analytics.report import journey_report
    from prefect_journeys.store.database import make_engine

    at = open_app(demo_store, "journeys")
    at.sidebar.selectbox(key="f_journey").set_value("winback").run()
    assert not at.exception
    engine = make_engine(f"sqlite:///{demo_store}")
    with engine.connect() as conn:
        steps = [
            "send_window",
            "offer_test",
            "first_email",
            "first_offer",
            "wait_3d",
            "check_opened",
            "follow_up",
        ]
        report = journey_report(conn, "winback", stages=["retention"], steps=steps)
    engine.dispose()
    dot = at.get("graphviz_chart")[0].proto.spec
    for row in report["steps"]:
        node = re.search(rf'^  "{row["step_id"]}" \[label="([^"]*)"', dot, re.MULTILINE)
        assert node is not None, row["step_id"]
        assert f"entered {row['entered']}" in node.group(1)
    assert "entered 0" not in dot or any(r["entered"] == 0 for r in report["steps"])
    assert 'fillcolor="#2CA58D"' in dot  # retention's colour
    assert '"offer_test" -> "first_offer" [label="comeback_15 45%"]' in dot
    tables = [d.value for d in at.dataframe]
    step_table = next(t for t in tables if "step_id" in t.columns)
    expected = pd.DataFrame(report["steps"])
    assert step_table.fillna("").to_dict("records") == expected.fillna("").to_dict("records")
    variants = next(t for t in tables if "variant" in t.columns)
    assert set(variants["variant"]) == {v["variant"] for v in report["variants"]}
    assert {"funnel-winback.csv", "steps-winback.csv", "variants-winback.csv"} <= _downloads(at)
    assert at.get("plotly_chart"), "no stage funnel chart"


# ----------------------------------------------------------------------------- deliverability


def test_deliverability_counts_problems_by_channel(open_app: Open, demo_store: Path) -> None:
    at = open_app(demo_store, "deliverability")
    _, since, until = _period(demo_store)
    tables = {tuple(d.value.columns): d.value for d in at.dataframe}
    by_channel = next(t for c, t in tables.items() if c[0] == "channel" and "bounced" in c)
    email = by_channel[by_channel["channel"] == "email"].iloc[0]
    assert email["bounced"] == 2 and email["spamreport"] == 1
    deferred = _distinct_messages(demo_store, "message.deferred", since, until)
    assert int(by_channel["deferred"].sum()) == deferred
    reasons = next(t for c, t in tables.items() if "reason" in c and "deferrals" in c)
    quiet = _sql(
        demo_store,
        "select count(*) from events where name = 'message.deferred' and occurred_at >= ?"
        " and occurred_at < ? and json_extract(properties, '$.reason') = 'quiet_hours'",
        since,
        until,
    )
    assert int(reasons.loc[reasons["reason"] == "quiet_hours", "deferrals"].sum()) == quiet > 0
    optouts = next(t for c, t in tables.items() if "optouts" in c)
    assert optouts["optouts"].tolist() == [1]
    assert {
        "delivery-problems.csv",
        "deferrals.csv",
        "optouts.csv",
        "suppressions.csv",
    } <= _downloads(at)
    assert len(at.get("plotly_chart")) >= 2


# ----------------------------------------------------------------------------- data quality


def test_data_quality_shows_runs_and_quarantined_rows(open_app: Open, demo_store: Path) -> None:
    at = open_app(demo_store, "data_quality")
    tables = [d.value for d in at.dataframe]
    runs = next(t for t in tables if "threshold" in t.columns)
    last = _sql(demo_store, "select max(checked_at) from validations")[:10]
    first = (date.fromisoformat(last) - timedelta(days=29)).isoformat()
    expected = _sql(demo_store, "select count(*) from validations where checked_at >= ?", first)
    assert len(runs) == expected
    held = next(t for t in tables if "row_ref" in t.columns)
    assert held["row_ref"].tolist() == ["customers.csv:7"]
    reasons = next(t for t in tables if list(t.columns) == ["reason", "kind", "rows"])
    assert reasons.iloc[0]["reason"].startswith("email: not a valid address")
    assert {"validations.csv", "quarantine.csv", "quarantine-reasons.csv"} <= _downloads(at)


# ----------------------------------------------------------------------------- customer


@pytest.mark.parametrize("by", ["id", "email", "phone"])
def test_customer_page_finds_a_customer(open_app: Open, demo_store: Path, by: str) -> None:
    with sqlite3.connect(demo_store) as conn:
        cid, email, phone = conn.execute(
            "select c.id, c.email, c.phone from customers c where c.phone is not null and exists"
            " (select 1 from events e where e.customer_id = c.id and e.name = 'message.sent')"
            " order by c.id limit 1"
        ).fetchone()
        events = conn.execute(
            "select count(*) from events where customer_id = ?", (cid,)
        ).fetchone()[0]
    at = open_app(demo_store, "customer")
    at.text_input(key="customer_key").input({"id": cid, "email": email, "phone": phone}[by]).run()
    assert not at.exception
    assert at.header[0].value.startswith(cid)
    tables = [d.value for d in at.dataframe]
    shown = next(t for t in tables if "occurred_at" in t.columns and "seq" in t.columns)
    assert len(shown) == min(events, 50)
    assert {"profile.csv", "events.csv", "messages.csv", "journeys.csv"} <= _downloads(at)
    assert at.get("plotly_chart"), "no timeline"


def test_customer_page_says_when_nobody_matches(open_app: Open, demo_store: Path) -> None:
    at = open_app(demo_store, "customer")
    at.text_input(key="customer_key").input("nobody@example.org").run()
    assert any("No customer" in w.value for w in at.warning)
    assert not at.exception
