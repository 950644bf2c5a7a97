"""SQL sources: a real Postgres database (and a SQLite file) as the source, read-only."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from tests.sources.helpers import rows, scalar, store_state, sync, write_project

from prefect_journeys.sources.errors import SourceError
from prefect_journeys.sources.model import source_engine

CRM_SQL = """
kind: sql
entity: customers
url_env: CRM_URL
table: crm.people
watermark: modified
batch_size: 2
columns: {id: person_id, email: mail, email_consent: opted_in}
attributes:
  tier: tier
  score: {column: score, type: number}
"""


@pytest.fixture
def crm(source_pg: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """``crm.people`` in the source database; ``$CRM_URL`` points at it."""
    monkeypatch.setenv("CRM_URL", source_pg)
    db = create_engine(source_pg)
    with db.begin() as conn:
        conn.execute(text("create schema crm"))
        conn.execute(
            text(
                "create table crm.people (person_id integer primary key, mail text,"
                " opted_in boolean, tier text, score numeric(6, 2), modified timestamptz)"
            )
        )
    return db


def _people(db: Engine, *people: tuple[int, str, bool, str, float, str]) -> None:
    with db.begin() as conn:
        for p in people:
            conn.execute(
                text(
                    "insert into crm.people values (:i, :m, :o, :t, :s, :w) on conflict (person_id)"
                    " do update set mail = :m, opted_in = :o, tier = :t, score = :s, modified = :w"
                ),
                dict(zip("imotsw", p, strict=True)),
            )


def test_a_postgres_table_synced_incrementally(engine: Engine, root: Path, crm: Engine) -> None:
    _people(
        crm,
        (1, "One@Example.com", True, "gold", 12.5, "2026-03-01 08:00+01"),
        (2, "two@example.com", False, "silver", 3, "2026-03-01 09:00+01"),
        (3, "three@example.com", True, "gold", 0, "2026-03-01 10:00+01"),
    )
    project = write_project(root, {"crm": CRM_SQL})
    first = sync(engine, project, "crm")
    assert first.status == "succeeded", first.error
    assert (first.counts["inserted"], first.counts["batches"]) == (3, 2)
    assert first.watermark_to == datetime(2026, 3, 1, 9, 0, tzinfo=UTC).isoformat()
    stored = rows(engine, "select id, email, email_consent from customers order by id")
    assert [(i, e, bool(c)) for i, e, c in stored] == [
        ("1", "one@example.com", True),
        ("2", "two@example.com", False),
        ("3", "three@example.com", True),
    ]
    before = store_state(engine)
    again = sync(engine, project, "crm")  # only the boundary row comes back, unchanged
    assert (again.counts["read"], again.counts["unchanged"]) == (1, 1)
    assert store_state(engine) == before
    _people(crm, (2, "two@example.com", True, "gold", 3, "2026-03-02 09:00+01"))
    _people(crm, (4, "four@example.com", False, "bronze", 1, "2026-03-02 10:00+01"))
    third = sync(engine, project, "crm")
    assert (third.counts["read"], third.counts["inserted"], third.counts["updated"]) == (3, 1, 1)
    assert scalar(engine, "select email_consent from customers where id = '2'") in (True, 1)


def test_a_query_source_with_a_numeric_watermark(
    engine: Engine, root: Path, source_pg: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_URL", source_pg)
    db = create_engine(source_pg)
    with db.begin() as conn:
        conn.execute(
            text(
                "create table orders (seq bigint primary key, buyer text, placed timestamp,"
                " total numeric(10, 2), cur text)"
            )
        )
        conn.execute(
            text(
                "insert into orders values (1, 'c1', '2026-02-01 10:00', 10.00, 'EUR'),"
                " (2, 'c2', '2026-02-01 11:00', 20.50, 'EUR'), (3, 'c1', '2026-02-02 10:00', 5, 'EUR')"
            )
        )
    body = """
    kind: sql
    entity: events
    url_env: SHOP_URL
    query: select seq, buyer, placed, total, cur from orders where total > 0
    watermark: seq
    event_name: purchase
    columns: {id: seq, customer: buyer, timestamp: placed}
    purchase: {amount: total, currency: cur}
    """
    project = write_project(root, {"shop": body})
    first = sync(engine, project, "shop")
    assert first.status == "succeeded", first.error
    assert first.counts["events_inserted"] == 3 and first.watermark_to == "3"
    assert scalar(engine, "select sum(value) from events") == 35.5
    with db.begin() as conn:
        conn.execute(text("insert into orders values (4, 'c3', '2026-02-03 10:00', 1, 'EUR')"))
    second = sync(engine, project, "shop")
    assert (second.counts["read"], second.counts["events_inserted"]) == (2, 1)  # seq >= 3
    assert rows(engine, "select source_id from events order by seq") == [
        ("shop:1",),
        ("shop:2",),
        ("shop:3",),
        ("shop:4",),
    ]


def test_a_source_database_that_is_down_is_named_without_the_password(
    engine: Engine, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_URL", "postgresql+psycopg://crm:s3cret-pw@127.0.0.1:1/crm")
    project = write_project(root, {"crm": CRM_SQL})
    result = sync(engine, project, "crm")
    assert result.status == "failed" and result.error is not None
    assert result.error.startswith("source crm: cannot read postgresql 127.0.0.1:1/crm: ")
    assert "s3cret" not in result.error and "\n" not in result.error
    assert rows(engine, "select status from sync_runs") == [("failed",)]
    monkeypatch.delenv("CRM_URL")
    unset = sync(engine, project, "crm")
    assert unset.error == (
        "source crm: environment variable CRM_URL is not set (it should hold the database URL,"
        " e.g. postgresql+psycopg://user:pw@host/db)"
    )


def test_missing_columns_and_tables_are_named(engine: Engine, root: Path, crm: Engine) -> None:
    project = write_project(
        root, {"crm": CRM_SQL.replace("score: {column: score", "score: {column: points")}
    )
    error = sync(engine, project, "crm").error
    assert error is not None
    assert error.startswith(
        "source crm: table crm.people lacks mapped column(s) points (for attributes.score);"
    )
    assert "its columns are: person_id, mail, opted_in, tier, score, modified" in error
    project = write_project(root, {"crm": CRM_SQL.replace("crm.people", "crm.nobody")})
    error = sync(engine, project, "crm").error
    assert error is not None and error.startswith("source crm: reading table crm.nobody failed:")


def test_source_engines_are_read_only(root: Path, crm: Engine, tmp_path: Path) -> None:
    project = write_project(root, {"crm": CRM_SQL})
    reader = source_engine(project.sources["crm"])
    with pytest.raises(DBAPIError, match="read-only transaction"), reader.begin() as conn:
        conn.execute(text("delete from crm.people"))
    reader.dispose()
    file = root / "data" / "shop.db"
    with sqlite3.connect(file) as db:
        db.execute("create table people (id text, mail text)")
    body = "kind: sql\nentity: customers\nurl: sqlite:///data/shop.db\ntable: people\ncolumns: {id: id}\n"
    project = write_project(root, {"lite": body})
    lite = source_engine(project.sources["lite"])
    with pytest.raises(DBAPIError, match="readonly"), lite.begin() as conn:
        conn.execute(text("insert into people values ('x', 'y')"))
    lite.dispose()
    gone = write_project(root, {"lite": body.replace("shop.db", "nope.db")})
    with pytest.raises(SourceError, match=r"source lite: no database file .*data/nope\.db"):
        source_engine(gone.sources["lite"])


def test_a_sqlite_source_file_relative_to_the_project(engine: Engine, root: Path) -> None:
    (root / "data").mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(root / "data" / "shop.db") as db:
        db.execute("create table people (id integer, mail text, changed text)")
        db.executemany(
            "insert into people values (?, ?, ?)",
            [
                (1, "a@example.com", "2026-03-01T08:00:00"),
                (2, "b@example.com", "2026-03-01T09:00:00"),
            ],
        )
    body = """
    kind: sql
    entity: customers
    url: sqlite:///data/shop.db
    table: people
    watermark: changed
    columns: {id: id, email: mail}
    """
    project = write_project(root, {"lite": body})
    result = sync(engine, project, "lite")
    assert result.status == "succeeded", result.error
    assert result.counts["inserted"] == 2 and result.watermark_to == "2026-03-01T09:00:00"
    again = sync(engine, project, "lite")  # text watermark compared by SQLite: the boundary row
    assert (again.counts["read"], again.counts["unchanged"]) == (1, 1)
