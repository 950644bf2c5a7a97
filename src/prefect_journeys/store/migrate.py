"""Schema migrations (Alembic), run from code: no ``alembic.ini`` is needed.

``ensure_schema(engine)`` is called at the start of every CLI command and flow run. When the
store is already at the newest revision it costs one ``SELECT version_num FROM alembic_version``.
Otherwise it takes a lock (``BEGIN IMMEDIATE`` on SQLite, a transaction-scoped advisory lock on
Postgres), reads the version again under it and upgrades inside that one transaction (DDL is
transactional on both backends). Two processes starting on a fresh store therefore migrate it
once: the second waits for the first and then finds the schema current.

A store created with ``metadata.create_all`` (tests, early prototypes) has every table but no
``alembic_version`` row; it is adopted by stamping it at head instead of creating the tables again.

New revision (developers): ``alembic -c /dev/null`` is not needed; from Python,
``alembic.command.revision(alembic_config(), message="...")`` writes a new file under
``migrations/versions/`` from ``script.py.mako``; write its ``upgrade``/``downgrade`` by hand.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

from prefect_journeys.store.database import make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"
# Key of the Postgres advisory lock that serialises migrations (any constant; "pj_mig" in ASCII).
PG_LOCK_KEY = 0x706A5F6D6967


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for the migrations shipped in this package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def head() -> str:
    """The newest revision shipped with this version of the package."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:  # pragma: no cover - the package always ships a revision
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return revision


def current(engine: Engine | Connection) -> str | None:
    """The store's revision, or None for an empty (or pre-Alembic) store."""
    if isinstance(engine, Connection):
        return MigrationContext.configure(engine).get_current_revision()
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine_or_url: Engine | str | None, revision: str = "head") -> None:
    """Upgrade the store to ``revision`` (default: the newest), under the migration lock."""
    with _engine(engine_or_url) as engine, _locked(engine) as conn:
        if revision == "head" and _adopt_unversioned(conn):
            return
        command.upgrade(alembic_config(conn), revision)


def downgrade(engine_or_url: Engine | str | None, revision: str) -> None:
    """Downgrade the store to ``revision`` (``"base"`` drops every table the migrations made)."""
    with _engine(engine_or_url) as engine, _locked(engine) as conn:
        command.downgrade(alembic_config(conn), revision)


def ensure_schema(engine_or_url: Engine | str | None) -> None:
    """Bring the store to head; a single version read when it is already there."""
    with _engine(engine_or_url) as engine:
        if _quick_version(engine) == head():
            return
        upgrade(engine)


# ----------------------------------------------------------------------------- internals


@contextmanager
def _engine(engine_or_url: Engine | str | None) -> Iterator[Engine]:
    if isinstance(engine_or_url, Engine):
        yield engine_or_url
        return
    engine = make_engine(engine_or_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _quick_version(engine: Engine) -> str | None:
    """``alembic_version`` read on a raw DBAPI connection, bypassing the engine's ``begin`` hooks
    (the store's SQLite engines open every transaction with ``BEGIN IMMEDIATE``, a write lock).
    Any failure (no table yet, several rows) answers None and sends the caller down the slow path.
    """
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            cursor.execute(f"SELECT version_num FROM {VERSION_TABLE}")
            rows = cursor.fetchall()
        finally:
            cursor.close()
        return str(rows[0][0]) if len(rows) == 1 else None
    except Exception:
        return None
    finally:
        with suppress(Exception):
            raw.rollback()
        raw.close()


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """One transaction holding the migration lock; committed when the block succeeds."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            # The store's engines begin with BEGIN IMMEDIATE already; others get it here.
            if not conn.in_transaction():
                conn.begin()
            dbapi = conn.connection.dbapi_connection
            if dbapi is not None and not dbapi.in_transaction:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.begin()
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


def _adopt_unversioned(conn: Connection) -> bool:
    """Stamp a store made by ``metadata.create_all`` (all tables, no version) at head."""
    from prefect_journeys.store.models import metadata

    if current(conn) is not None:
        return False
    existing = set(inspect(conn).get_table_names())
    wanted = set(metadata.tables)
    if not wanted <= existing:
        return False
    command.stamp(alembic_config(conn), "head")
    return True
