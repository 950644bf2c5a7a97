"""The single customer view and ``journeys customer``: any key finds the profile and its story."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, insert
from tests.engine.helpers import customers, event, plan_of, tick, when
from typer.testing import CliRunner

from prefect_journeys.cli import app
from prefect_journeys.compliance import consent
from prefect_journeys.identity.profile import customer_view
from prefect_journeys.identity.resolve import merge_profiles
from prefect_journeys.store.writes import add_tags

from .helpers import T0, row, table, upsert

JOURNEY = """
id: welcome
entry: {event: signed_up}
steps:
  - id: hello
    send: {channel: email, template: hello}
    next: pause
  - id: pause
    wait: 2d
    next: nudge
  - id: nudge
    send: {channel: sms, template: nudge}
"""


def _story(engine: Engine, tmp_path: Path) -> None:
    """Mia (a CRM profile and an older web profile, merged), in a journey, with consents."""
    customers(
        engine,
        "mia-web",
        created_at=T0 - timedelta(days=40),
        email=None,
        phone=None,
        first_name=None,
    )
    upsert(
        engine,
        [
            row(
                "mia-crm",
                email="mia@example.com",
                phone="+447700900555",
                first_name="Mia",
                email_consent=True,
                anonymous_ids=("cookie-1",),
                attributes={"plan": "gold"},
            )
        ],
    )
    add = table("quarantine")
    with engine.begin() as conn:
        add_tags(conn, [("mia-crm", "vip")])
        consent.record(conn, "mia-crm", "sms", False, source="sms_keyword", at=T0)
        consent.record(conn, "mia-crm", "email", False, source="unsubscribe_link", topic="news")
        conn.execute(
            insert(add).values(
                kind="audience",
                target="journey:welcome/nudge",
                step_id="nudge",
                customer_id="mia-crm",
                reasons=["phone is not E.164"],
                row={},
                created_at=T0,
            )
        )
        merge_profiles(
            conn, ["mia-crm", "mia-web"], reason="alias", evidence={}, source="t", now=T0
        )
    plan = plan_of(tmp_path, JOURNEY)
    event(engine, "mia-web", "signed_up", when(2, 9))
    tick(engine, plan, when(2, 9))


def test_view_by_every_key(engine: Engine, tmp_path: Path) -> None:
    _story(engine, tmp_path)
    with engine.connect() as conn:
        for key, how in [
            ("mia-web", "id"),
            ("mia-crm", "external_id"),
            ("cookie-1", "anonymous_id"),
            (" MIA@example.com", "email"),
            ("+44 7700 900555", "phone"),
        ]:
            view = customer_view(conn, key)
            assert view is not None, key
            assert (view.id, view.matched_by) == ("mia-web", how)
        assert customer_view(conn, "nobody@example.com") is None
        view = customer_view(conn, "mia-crm", limit=2)
    assert view is not None
    assert view.profile["first_name"] == "Mia" and view.attributes == {"plan": "gold"}
    assert view.tags == ["vip"]
    assert {(i.kind, i.value) for i in view.identities} == {
        ("email", "mia@example.com"),
        ("phone", "+447700900555"),
        ("anonymous_id", "cookie-1"),
        ("external_id", "mia-crm"),
    }
    decisions = {(c.channel, c.topic): (c.granted, c.source) for c in view.consents}
    assert decisions[("email", "*")] == (True, "import:crm")
    assert decisions[("email", "news")] == (False, "unsubscribe_link")
    assert decisions[("sms", "*")] == (False, "sms_keyword")
    assert decisions[("whatsapp", "*")] == (False, "profile flag")
    (journey,) = view.journeys
    assert (journey.journey_id, journey.state, journey.step_id) == ("welcome", "active", "pause")
    (message,) = view.messages
    assert (message.step_id, message.channel, message.status) == ("hello", "email", "sent")
    assert message.provider_id
    assert len(view.events) == 2  # cut at the limit, newest first
    assert view.events[0].occurred_at >= view.events[1].occurred_at
    (merge,) = view.merges
    assert (merge.from_id, merge.into_id) == ("mia-crm", "mia-web")
    (held,) = view.quarantine
    assert held.reasons == ["phone is not E.164"]
    # The same object, JSON-ready for the dashboard and --json.
    assert (
        json.loads(json.dumps(view.to_dict()))["journeys"][0]["entered_at"] == "2026-03-02T09:00:00"
    )


def test_cli_prints_tables_json_and_a_clear_miss(sqlite_engine: Engine, tmp_path: Path) -> None:
    _story(sqlite_engine, tmp_path)
    url = str(sqlite_engine.url)
    runner = CliRunner()
    shown = runner.invoke(app, ["customer", "mia@example.com", "--database-url", url])
    assert shown.exit_code == 0, shown.output
    for text in ("mia-web", "Identities", "mia-crm", "welcome", "hello", "sms_keyword", "Merges"):
        assert text in shown.output, text
    as_json = runner.invoke(app, ["customer", "mia-web", "--store", url, "--json", "--limit", "1"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert data["id"] == "mia-web" and len(data["events"]) == 1
    missing = runner.invoke(app, ["customer", "ghost", "--database-url", url])
    assert missing.exit_code == 1
    assert "no customer 'ghost'" in missing.output and "Traceback" not in missing.output
    nowhere = runner.invoke(app, ["customer", "x", "--project", str(tmp_path / "project")])
    assert nowhere.exit_code == 1 and "no store at" in nowhere.output
