"""Simulated reactions and background activity: reproducible, whatever the window boundaries."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from prefect_journeys.simulation.behaviour import BehaviourModel
from prefect_journeys.simulation.population import Population
from prefect_journeys.store import make_engine, metadata
from prefect_journeys.store.writes import insert_events

START = datetime(2026, 1, 5)


def _store(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    return engine


def _sends(count: int) -> list[dict[str, Any]]:
    """``message.sent`` events spread over the first day, on two variants and two channels."""
    rows = []
    for i in range(count):
        variant = ("discount_10", "discount_20")[i % 2]
        rows.append(
            {
                "source_id": f"send:{i}",
                "customer_id": f"c{i % 97}",
                "name": "message.sent",
                "occurred_at": START + timedelta(minutes=3 * i),
                "journey_id": "welcome_series",
                "journey_version": 1,
                "step_id": "send_10" if variant == "discount_10" else "send_20",
                "stage": "decision",
                "variant": variant,
                "channel": "sms" if i % 5 == 0 else "email",
                "enrollment_id": 1000 + i,
                "intent_id": 5000 + i,
            }
        )
    return rows


REACTION_COLUMNS = (
    "source_id, customer_id, name, occurred_at, journey_id, journey_version, step_id, stage,"
    " variant, channel, enrollment_id, intent_id, properties, value"
)


def _reactions(engine: Engine) -> set[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"select {REACTION_COLUMNS} from events where name != 'message.sent'")
        ).all()
    return {tuple(str(v) for v in row) for row in rows}


def _react(path: Path, windows: list[tuple[datetime, datetime]], seed: int = 3) -> Engine:
    engine = _store(path)
    with engine.begin() as conn:
        insert_events(conn, _sends(400))
    model = BehaviourModel(seed)
    for since, until in windows:
        with engine.begin() as conn:
            model.react(conn, since, until)
    return engine


def _hourly(hours: int) -> list[tuple[datetime, datetime]]:
    return [(START + timedelta(hours=h), START + timedelta(hours=h + 1)) for h in range(hours)]


def test_reactions_do_not_depend_on_window_boundaries(tmp_path: Path) -> None:
    one = _react(tmp_path / "one.db", [(START, START + timedelta(days=2))])
    hourly = _react(tmp_path / "hourly.db", _hourly(48))
    a, b = _reactions(one), _reactions(hourly)
    assert a == b
    names = {row[2] for row in a}
    assert names == {"message.delivered", "message.opened", "message.clicked", "purchase"}


def test_a_fresh_model_writes_the_same_events(tmp_path: Path) -> None:
    a = _reactions(_react(tmp_path / "a.db", _hourly(30)))
    b = _reactions(_react(tmp_path / "b.db", _hourly(30)))
    c = _reactions(_react(tmp_path / "c.db", _hourly(30), seed=4))
    assert a == b
    assert a != c


def test_only_events_inside_the_window_are_written(tmp_path: Path) -> None:
    engine = _store(tmp_path / "w.db")
    with engine.begin() as conn:
        insert_events(conn, _sends(200))
    model = BehaviourModel(1)
    since, until = START + timedelta(hours=2), START + timedelta(hours=5)
    with engine.begin() as conn:
        counts = model.react(conn, since, until)
        again = model.react(conn, since, until)
    assert sum(counts.values()) > 0
    assert sum(again.values()) == 0  # deduplicated on source_id
    with engine.connect() as conn:
        times = conn.execute(
            text(
                "select min(occurred_at), max(occurred_at) from events where name != 'message.sent'"
            )
        ).one()
    low, high = (datetime.fromisoformat(str(t)) for t in times)
    assert since < low and high <= until


def test_reactions_copy_the_send_and_sms_has_no_opens(tmp_path: Path) -> None:
    engine = _react(tmp_path / "c.db", [(START, START + timedelta(days=4))])
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "select r.name, r.step_id, r.variant, r.channel, r.enrollment_id, s.enrollment_id,"
                " r.stage, r.occurred_at > s.occurred_at from events r join events s"
                " on s.name = 'message.sent' and s.intent_id = r.intent_id"
                " where r.name like 'message.%' and r.name != 'message.sent'"
            )
        ).all()
        opened_sms = conn.execute(
            text("select count(*) from events where name = 'message.opened' and channel = 'sms'")
        ).scalar_one()
        purchases = conn.execute(
            text("select properties, value from events where name = 'purchase'")
        ).all()
    assert rows
    for _name, step, variant, channel, enrollment, sent_enrollment, stage, later in rows:
        assert step in ("send_10", "send_20") and variant and channel and stage == "decision"
        assert enrollment == sent_enrollment and later
    assert opened_sms == 0
    assert purchases
    for props, value in purchases:
        assert '"order_id"' in props and '"currency"' in props and value > 0


def test_bigger_discount_converts_better() -> None:
    model = BehaviourModel(0)
    ten = model.rates_for(channel="email", variant="discount_10")
    twenty = model.rates_for(channel="email", variant="discount_20")
    assert ten.open * ten.click * ten.purchase < twenty.open * twenty.click * twenty.purchase
    assert model.rates_for().deliver == pytest.approx(0.97)
    custom = BehaviourModel(0, {"variant:discount_10": {"purchase": 0.9}})
    assert custom.rates_for(variant="discount_10").purchase == 0.9
    with pytest.raises(ValueError, match="unknown rate key"):
        BehaviourModel(0, {"discount_10": {"purchase": 0.9}})
    with pytest.raises(ValueError, match="between 0 and 1"):
        BehaviourModel(0, {"default": {"open": 1.5}})


def _background(path: Path, windows: list[tuple[datetime, datetime]]) -> set[tuple[Any, ...]]:
    engine = _store(path)
    population = Population(600, 9, START, signup_span=timedelta(days=2))
    model = BehaviourModel(9, population=population)
    for since, until in windows:
        with engine.begin() as conn:
            model.background(conn, since, until)
    with engine.connect() as conn:
        events = conn.execute(
            text("select source_id, customer_id, name, occurred_at, properties from events")
        ).all()
        customers = conn.execute(text("select id, created_at from customers")).all()
    return {tuple(str(v) for v in row) for row in [*events, *customers]}


def test_background_activity_does_not_depend_on_window_boundaries(tmp_path: Path) -> None:
    one = _background(tmp_path / "one.db", [(START, START + timedelta(days=2))])
    hourly = _background(tmp_path / "hourly.db", _hourly(48))
    assert one == hourly
    names = {row[2] for row in one if len(row) == 5}
    assert {"signed_up", "cart_abandoned", "purchase"} <= names


def test_background_needs_a_population(tmp_path: Path) -> None:
    engine = _store(tmp_path / "x.db")
    with engine.begin() as conn, pytest.raises(ValueError, match="population"):
        BehaviourModel(1).carts(conn, START, START + timedelta(hours=1))
