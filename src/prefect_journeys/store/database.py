"""Engines for the store: a SQLite file by default (WAL), or any SQLAlchemy URL (Postgres)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

DEFAULT_URL_ENV = "JOURNEYS_DATABASE_URL"
DEFAULT_PATH = Path(".journeys") / "journeys.db"


def default_url() -> str:
    return os.environ.get(DEFAULT_URL_ENV) or f"sqlite:///{DEFAULT_PATH}"


def bucket(key: str) -> int:
    """0..99 from the md5 of ``key``; the same value in Python, SQLite (UDF) and Postgres (SQL)."""
    return int(hashlib.md5(key.encode()).hexdigest()[:8], 16) % 100


def _use_wal(cursor: Any) -> None:
    """Switch the file to WAL once (the mode is stored in the file). The switch needs an
    exclusive lock and can fail at once while another process starts on the same new file, so
    it is retried for a while instead of failing that process."""
    import sqlite3
    import time

    deadline = time.monotonic() + 30
    while cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        try:
            mode = cursor.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower()
            if mode != "wal":
                return  # e.g. ":memory:" databases cannot use WAL: keep their mode
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_setup(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    _use_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache: index inserts at 1M rows
    cursor.close()
    dbapi_connection.create_function("pj_bucket", 1, bucket, deterministic=True)


def make_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` (default: ``$JOURNEYS_DATABASE_URL`` or ``.journeys/journeys.db``)."""
    url = url or default_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_setup)
        # Let SQLAlchemy, not pysqlite, decide where transactions begin (BEGIN IMMEDIATE on writes).
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))

        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        return engine
    return create_engine(url, pool_pre_ping=True)


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    with engine.begin() as conn:
        yield conn


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def to_utc_naive(value: datetime) -> datetime:
    """Store convention: naive UTC. Aware values are converted; naive ones are taken as UTC."""
    if value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def is_postgres(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "postgresql"


_engines: dict[str, Engine] = {}


def cached_engine(url: str | None = None) -> Engine:
    """One engine per URL per process (flows and tasks share its pool)."""
    key = url or default_url()
    if key not in _engines:
        _engines[key] = make_engine(key)
    return _engines[key]
