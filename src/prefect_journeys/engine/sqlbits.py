"""Dialect differences the engine needs, in one place (SQLite and Postgres)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    Float,
    String,
    cast,
    func,
    insert,
    literal,
    text,
)
from sqlalchemy.dialects.postgresql import BIT
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ClauseElement, ColumnElement

from prefect_journeys.store.models import (
    Customer,
    CustomerTag,
    Enrollment,
    Event,
    JourneyState,
    JourneyVersion,
    OutboxMessage,
    SendIntent,
    TickRun,
)

E = Enrollment.__table__  # type: ignore[attr-defined]
I = SendIntent.__table__  # type: ignore[attr-defined]  # noqa: E741
EV = Event.__table__  # type: ignore[attr-defined]
C = Customer.__table__  # type: ignore[attr-defined]
TAGS = CustomerTag.__table__  # type: ignore[attr-defined]
VERSIONS = JourneyVersion.__table__  # type: ignore[attr-defined]
STATE = JourneyState.__table__  # type: ignore[attr-defined]
OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]
TICKS = TickRun.__table__  # type: ignore[attr-defined]


class _OnConflictDoNothing(ClauseElement):
    """``ON CONFLICT DO NOTHING`` (SQLite ≥ 3.24 and Postgres, no conflict target needed).

    SQLAlchemy's dialect-specific ``insert().on_conflict_do_nothing()`` has no cache key in 2.0,
    so every execution recompiled the statement: a third of a busy tick's time. Placed as the
    core ``Insert``'s post-values clause it compiles once and is cached like any statement.
    """

    __visit_name__ = "pj_on_conflict_do_nothing"
    inherit_cache = True
    _traverse_internals = []  # noqa: RUF012


@compiles(_OnConflictDoNothing)
def _compile_do_nothing(_element: Any, _compiler: Any, **_kw: Any) -> str:
    return "ON CONFLICT DO NOTHING"


def insert_ignore(conn: Connection, table: Any) -> Any:
    """A core ``INSERT`` that skips rows violating a unique key (``ON CONFLICT DO NOTHING``)."""
    stmt = insert(table)
    stmt._post_values_clause = _OnConflictDoNothing()
    return stmt


def as_text(value: ColumnElement[Any]) -> ColumnElement[str]:
    return cast(value, String)


def concat(*parts: Any) -> ColumnElement[str]:
    """``a || b || …`` with literals bound as text."""
    out: ColumnElement[str] | None = None
    for part in parts:
        piece = literal(part, String) if isinstance(part, str) else as_text(part)
        out = piece if out is None else out.concat(piece)
    assert out is not None
    return out


def add_seconds(
    conn: Connection, column: ColumnElement[Any], delta: timedelta
) -> ColumnElement[Any]:
    seconds = int(delta.total_seconds())
    if conn.dialect.name == "postgresql":
        return column + text(f"interval '{seconds} seconds'")
    # Keep SQLAlchemy's storage format (microseconds) so string comparison stays exact.
    return func.strftime("%Y-%m-%d %H:%M:%f000", column, f"+{seconds} seconds", type_=DateTime)


def seconds_between(conn: Connection, later: Any, earlier: Any) -> ColumnElement[float]:
    if conn.dialect.name == "postgresql":
        return cast(func.extract("epoch", later - earlier), Float)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def bucket(conn: Connection, key: ColumnElement[str]) -> ColumnElement[int]:
    """0..99 from md5(key): the same number as ``store.database.bucket`` in Python."""
    if conn.dialect.name == "postgresql":
        hex16 = literal("x", String).concat(func.lpad(func.substr(func.md5(key), 1, 8), 16, "0"))
        return cast(cast(hex16, BIT(64)), BigInteger) % 100
    return func.pj_bucket(key)


def run_count(conn: Connection, stmt: Any, key: Any) -> int:
    """Execute an ``INSERT … SELECT`` and count inserted rows portably (RETURNING ``key``)."""
    return len(conn.execute(stmt.returning(key)).all())
