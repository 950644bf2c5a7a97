"""The shipped Alembic migrations: they build exactly ``models.metadata`` on SQLite and Postgres,
``ensure_schema`` is a cheap no-op once current, downgrade/upgrade round-trips, and several
processes migrating one fresh store at once all succeed."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.dialects.postgresql import JSONB

from prefect_journeys.store import make_engine, metadata, migrate

MODEL_TABLES = set(metadata.tables)


def _reset_pg(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))


@pytest.fixture
def sqlite_bare(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def pg_bare(pg_url: str) -> Iterator[Engine]:
    """The session's Postgres database, emptied (it is shared with the create_all fixtures)."""
    engine = make_engine(pg_url)
    _reset_pg(engine)
    yield engine
    _reset_pg(engine)
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def bare(request: pytest.FixtureRequest) -> Engine:
    """An empty store (no tables), on each backend."""
    name = "sqlite_bare" if request.param == "sqlite" else "pg_bare"
    engine: Engine = request.getfixturevalue(name)
    return engine


def _diff(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_upgrade_builds_exactly_the_models(bare: Engine) -> None:
    assert migrate.current(bare) is None
    migrate.upgrade(bare)
    assert migrate.current(bare) == migrate.head()
    assert _tables(bare) == MODEL_TABLES | {"alembic_version"}
    # The drift check: models and migrations describe the same schema (types, nullability,
    # indexes, unique constraints).
    assert _diff(bare) == []


def test_upgrade_accepts_a_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'by_url.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        assert migrate.current(engine) == migrate.head()
    finally:
        engine.dispose()


def test_dialect_types(bare: Engine) -> None:
    migrate.upgrade(bare)
    columns = {c["name"]: c for c in inspect(bare).get_columns("customers")}
    if bare.dialect.name == "postgresql":
        assert isinstance(columns["attributes"]["type"], JSONB)
        ids = {c["name"]: c for c in inspect(bare).get_columns("events")}
        assert str(ids["seq"]["type"]) == "BIGINT"
        assert "nextval" in str(ids["seq"]["default"])
    else:
        with bare.connect() as conn:
            sql = conn.execute(
                text("SELECT sql FROM sqlite_master WHERE name = 'events'")
            ).scalar_one()
        assert "seq INTEGER NOT NULL" in sql  # INTEGER PRIMARY KEY: SQLite's rowid alias


def test_ids_are_assigned_by_the_database(bare: Engine) -> None:
    migrate.upgrade(bare)
    now = datetime(2026, 1, 1)
    row = {"customer_id": "c1", "name": "page_view", "at": now, "props": "{}"}
    insert = text(
        "INSERT INTO events (source_id, customer_id, name, occurred_at, received_at, properties) "
        "VALUES (:source_id, :customer_id, :name, :at, :at, :props)"
    )
    with bare.begin() as conn:
        conn.execute(insert, {**row, "source_id": "a"})
        conn.execute(insert, {**row, "source_id": "b"})
        seqs = conn.execute(text("SELECT seq FROM events ORDER BY seq")).scalars().all()
    assert seqs == [1, 2]
    with pytest.raises(Exception, match=r"(?i)unique"), bare.begin() as conn:
        conn.execute(insert, {**row, "source_id": "a"})


def test_ensure_schema_twice_is_a_no_op(bare: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    migrate.ensure_schema(bare)
    assert migrate.current(bare) == migrate.head()

    def _must_not_migrate(*_args: object, **_kw: object) -> None:
        raise AssertionError("ensure_schema migrated a store that was already at head")

    monkeypatch.setattr(migrate, "upgrade", _must_not_migrate)
    migrate.ensure_schema(bare)
    migrate.ensure_schema(bare)
    assert migrate.current(bare) == migrate.head()


def test_downgrade_to_base_and_up_again(bare: Engine) -> None:
    migrate.upgrade(bare)
    migrate.downgrade(bare, "base")
    assert migrate.current(bare) is None
    assert _tables(bare) <= {"alembic_version"}
    migrate.upgrade(bare)
    assert migrate.current(bare) == migrate.head()
    assert _diff(bare) == []


def test_a_create_all_store_is_adopted(engine: Engine) -> None:
    """A store made by ``metadata.create_all`` (the shared fixtures) is stamped, not rebuilt."""
    assert migrate.current(engine) is None
    migrate.ensure_schema(engine)
    assert migrate.current(engine) == migrate.head()
    assert _diff(engine) == []


def test_a_partial_store_is_not_adopted(sqlite_bare: Engine) -> None:
    with sqlite_bare.begin() as conn:
        conn.execute(text("CREATE TABLE customers (id VARCHAR(200) PRIMARY KEY)"))
    with pytest.raises(Exception, match="already exists"):
        migrate.ensure_schema(sqlite_bare)
    assert migrate.current(sqlite_bare) is None


_CHILD = """
import os, sys, time
from prefect_journeys.store import make_engine
from prefect_journeys.store.migrate import current, ensure_schema, head
engine = make_engine(sys.argv[1])
open(sys.argv[3], "w").close()  # imported: ready
while not os.path.exists(sys.argv[2]):  # start together, once every process is ready
    time.sleep(0.005)
ensure_schema(engine)
assert current(engine) == head(), current(engine)
"""


def test_concurrent_ensure_schema_on_a_fresh_store(bare: Engine, tmp_path: Path) -> None:
    """Three processes start on an empty store at once: one migrates, the others wait and see."""
    url = bare.url.render_as_string(hide_password=False)
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(3)]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, url, str(go), str(flag)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for flag in ready
    ]
    deadline = time.monotonic() + 120
    while not all(flag.exists() for flag in ready):
        if time.monotonic() > deadline or any(c.poll() is not None for c in children):
            break  # a child died early: its error is reported below
        time.sleep(0.01)
    go.touch()
    results = [child.communicate(timeout=120) for child in children]
    for child, (_out, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err
    assert migrate.current(bare) == migrate.head()
    assert _diff(bare) == []
