"""The synthetic population: deterministic per seed, and nothing that looks like a real person."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

import pytest
from sqlalchemy import Engine, text

from prefect_journeys.simulation.population import Population, generate_population
from prefect_journeys.store import make_engine, metadata

START = datetime(2026, 1, 5)
EMAIL = re.compile(r"^[a-z]+\.[a-z]+\.\d+@example\.(com|org|net)$")
UK_FICTION = re.compile(r"^\+447700900\d{3}$")  # Ofcom drama numbers
US_FICTION = re.compile(r"^\+1[2-9]\d{2}55501\d{2}$")  # NXX-555-0100..0199
E164 = re.compile(r"^\+[1-9]\d{7,14}$")


def _store(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    return engine


def _dump(engine: Engine) -> dict[str, Sequence[Any]]:
    with engine.connect() as conn:
        return {
            "customers": conn.execute(
                text(
                    "select id, email, phone, first_name, last_name, timezone, locale,"
                    " email_consent, sms_consent, attributes, created_at from customers order by id"
                )
            ).all(),
            "tags": conn.execute(text("select * from customer_tags order by 1, 2")).all(),
            "events": conn.execute(
                text(
                    "select source_id, customer_id, name, occurred_at, properties, value"
                    " from events order by source_id"
                )
            ).all(),
        }


def _generate(path: Path, seed: int, n: int = 400) -> tuple[list[str], dict[str, Sequence[Any]]]:
    engine = _store(path)
    with engine.begin() as conn:
        ids = generate_population(conn, n, seed, START)
    dump = _dump(engine)
    engine.dispose()
    return ids, dump


def test_same_seed_same_population(tmp_path: Path) -> None:
    ids_a, a = _generate(tmp_path / "a.db", seed=11)
    ids_b, b = _generate(tmp_path / "b.db", seed=11)
    assert ids_a == ids_b
    assert a == b
    assert len(a["customers"]) == len(ids_a) > 0
    assert a["events"] and a["tags"]


def test_other_seed_other_population(tmp_path: Path) -> None:
    _, a = _generate(tmp_path / "a.db", seed=11)
    _, b = _generate(tmp_path / "b.db", seed=12)
    assert a["customers"] != b["customers"]


def test_nothing_real_looking() -> None:
    population = Population(2000, 3, START)
    zones = available_timezones()
    phones = 0
    for profile in population.profiles:
        row = profile.row
        assert EMAIL.match(row["email"]), row["email"]
        assert row["timezone"] in zones
        if row["phone"] is not None:
            phones += 1
            assert E164.match(row["phone"])
            assert UK_FICTION.match(row["phone"]) or US_FICTION.match(row["phone"]), row["phone"]
        else:
            assert not row["sms_consent"]
    assert phones > 1000
    assert len({p.row["timezone"] for p in population.profiles}) >= 6
    consents = [p.row["email_consent"] for p in population.profiles]
    assert 0.8 < sum(consents) / len(consents) < 1.0  # mostly true, some false


def test_history_makes_a_lapsed_audience() -> None:
    population = Population(5000, 7, START)
    existing = population.existing()
    lapsed = [
        p
        for p in existing
        if p.purchases
        and all(START - q.occurred_at > timedelta(days=60) for q in p.purchases)
        and p.row["email_consent"]
    ]
    assert 200 <= len(lapsed) <= 600
    for profile in existing:
        for purchase in profile.purchases:
            assert timedelta(days=0) < START - purchase.occurred_at <= timedelta(days=200)
            assert purchase.occurred_at >= profile.signup_at
        assert profile.row["attributes"]["lifetime_value"] == pytest.approx(
            sum(p.amount for p in profile.purchases)
        )


def test_new_customers_sign_up_during_the_run() -> None:
    population = Population(1000, 5, START, new_share=0.2, signup_span=timedelta(days=3))
    new = [p for p in population.profiles if p.is_new]
    assert 120 < len(new) < 280
    assert all(START < p.signup_at <= START + timedelta(days=3) for p in new)
    assert all(p.signup_at <= START - timedelta(days=30) for p in population.existing())
    first_day = population.signups_between(START, START + timedelta(days=1))
    assert first_day and all(p.is_new for p in first_day)
    assert [p.signup_at for p in first_day] == sorted(p.signup_at for p in first_day)
