"""Bulk writes for batches of tens of thousands of rows, one code path per backend.

SQLite: the driver's ``executemany`` in chunks, values converted by the columns' own
SQLAlchemy bind processors (SQLAlchemy's per-row parameter handling cost more than SQLite's
work: 9.5 s against 0.8 s for 200,000 rows). Postgres: new rows are
``COPY``-ed straight into the table under a savepoint; when one of them clashes with a unique key
(a concurrent writer), or for updates, they go into a temporary staging table, then one
``INSERT … SELECT … ON CONFLICT DO NOTHING`` or ``UPDATE … FROM`` moves them. Measured here,
20,000 customer rows took 6 s as an ``executemany`` with ``RETURNING`` and about 0.3 s through
``COPY``.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Boolean, Connection, DateTime

from prefect_journeys.identity.types import chunks

SQLITE_CHUNK = 2000


def _quote(conn: Connection, name: str) -> str:
    return str(conn.dialect.identifier_preparer.quote(name))


def _copy_into(
    conn: Connection,
    name: str,
    table: Any,
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
) -> None:
    """``COPY name (columns) FROM STDIN`` with ``rows``.

    The rows go as one CSV payload that Arrow formats column by column (JSON columns as compact
    JSON text; every non-null value quoted, so an empty string stays empty and only a missing
    value is NULL): measured, psycopg's per-row ``write_row`` cost about 17 µs a row, most of a
    customers sync's client time. Columns Arrow cannot type (mixed Python types) fall back to
    ``write_row``."""
    import pyarrow as pa
    from pyarrow import csv as pa_csv

    cols = ", ".join(_quote(conn, c) for c in columns)
    raw = conn.connection.driver_connection
    assert raw is not None
    data: dict[str, list[Any]] = {}
    for column in columns:
        values = [row[column] for row in rows]
        if isinstance(table.c[column].type, JSON):
            values = [None if v is None else _json_text(v) for v in values]
        data[column] = values
    try:
        payload = io.BytesIO()
        pa_csv.write_csv(
            pa.table(data),
            payload,
            pa_csv.WriteOptions(include_header=False, quoting_style="all_valid"),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        _copy_rows(raw, name, cols, table, columns, rows)
        return
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY {name} ({cols}) FROM STDIN (FORMAT csv)") as copy,
    ):
        copy.write(payload.getbuffer())


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _copy_rows(
    raw: Any,
    name: str,
    cols: str,
    table: Any,
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
) -> None:
    """The row-by-row COPY (psycopg adapts each value)."""
    from psycopg.types.json import Jsonb

    json_at = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, JSON)]
    get = itemgetter(*columns)
    with raw.cursor() as cursor, cursor.copy(f"COPY {name} ({cols}) FROM STDIN") as copy:
        for row in rows:
            values = list(get(row)) if len(columns) > 1 else [get(row)]
            for i in json_at:
                if values[i] is not None:
                    values[i] = Jsonb(values[i])
            copy.write_row(values)


def _stage(
    conn: Connection, table: Any, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> str:
    """A temporary table with ``columns`` of ``table`` holding ``rows`` (COPY); returns its name."""
    name = f"pj_stage_{uuid.uuid4().hex[:12]}"
    cols = ", ".join(_quote(conn, c) for c in columns)
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE {name} ON COMMIT DROP AS SELECT {cols} FROM {_quote(conn, table.name)} "
        "WITH NO DATA"
    )
    _copy_into(conn, name, table, columns, rows)
    return name


def _copy_direct(
    conn: Connection, table: Any, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> bool:
    """``COPY`` the rows straight into ``table`` under a savepoint: True when all went in; False
    (nothing written) when one of them hits a unique key, so the caller takes the slower path
    that skips the taken keys. The callers looked the keys up first, so a clash means a
    concurrent writer: rare, and the common bulk import pays for one write instead of two."""
    from psycopg.errors import UniqueViolation

    try:
        with conn.begin_nested():
            _copy_into(conn, _quote(conn, table.name), table, columns, rows)
    except UniqueViolation:
        return False
    return True


def _sqlite_params(
    conn: Connection, table: Any, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> list[Sequence[Any]]:
    """Row tuples in SQLAlchemy's storage format (its bind processors: the same text for times
    and JSON as every other write; each distinct time formatted once). Booleans and text need
    no conversion (sqlite3 stores ``True`` as 1, as SQLAlchemy does)."""
    dialect = conn.dialect
    special: list[tuple[int, Any, bool]] = []
    for index, column in enumerate(columns):
        kind = table.c[column].type
        process = kind._cached_bind_processor(dialect)
        if process is not None and not isinstance(kind, Boolean):
            special.append((index, process, isinstance(kind, DateTime)))
    get = itemgetter(*columns)
    if len(columns) == 1:
        return [(get(row),) for row in rows]
    if not special:
        return [get(row) for row in rows]
    memo: dict[Any, Any] = {}
    out: list[Sequence[Any]] = []
    for row in rows:
        values = list(get(row))
        for index, process, is_time in special:
            value = values[index]
            if value is None:
                continue
            if is_time:
                done = memo.get(value)
                if done is None:
                    done = memo[value] = process(value)
                values[index] = done
            else:
                values[index] = process(value)
        out.append(values)
    return out


def insert_new(
    conn: Connection, table: Any, rows: Sequence[Mapping[str, Any]], returning: str | None = None
) -> list[Any]:
    """Insert ``rows`` (all with the same keys), skipping those that violate a unique key.

    Returns the ``returning`` column's values of the rows actually inserted (empty without it).
    On SQLite the writer holds the database lock for the whole transaction (``BEGIN
    IMMEDIATE``), so rows absent when the caller looked are inserted: the count of changes
    proves it, and a shortfall (a writer outside that rule) is an error, never a silent loss.
    """
    if not rows:
        return []
    columns = list(rows[0])
    cols = ", ".join(_quote(conn, c) for c in columns)
    if conn.dialect.name != "postgresql":
        raw: Any = conn.connection.driver_connection
        before = raw.total_changes
        sql = (
            f"INSERT INTO {_quote(conn, table.name)} ({cols}) "
            f"VALUES ({', '.join('?' * len(columns))}) ON CONFLICT DO NOTHING"
        )
        cursor = raw.cursor()
        try:
            for chunk in chunks(rows, SQLITE_CHUNK):
                cursor.executemany(sql, _sqlite_params(conn, table, columns, chunk))
        finally:
            cursor.close()
        if returning is None:
            return []
        if raw.total_changes - before != len(rows):
            raise RuntimeError(f"{table.name}: rows were written concurrently; retry the batch")
        return [row[returning] for row in rows]
    if _copy_direct(conn, table, columns, rows):
        return [row[returning] for row in rows] if returning else []
    stage = _stage(conn, table, columns, rows)
    tail = f" RETURNING {_quote(conn, returning)}" if returning else ""
    result = conn.exec_driver_sql(
        f"INSERT INTO {_quote(conn, table.name)} ({cols}) SELECT {cols} FROM {stage} "
        f"ON CONFLICT DO NOTHING{tail}"
    )
    found = [r[0] for r in result] if returning else []
    conn.exec_driver_sql(f"DROP TABLE {stage}")
    return found


def update_by_key(
    conn: Connection,
    table: Any,
    key: str,
    rows: Sequence[Mapping[str, Any]],
    extra: Mapping[str, Any] | None = None,
) -> None:
    """``UPDATE table SET <row's other columns> (+ extra constants) WHERE key = row[key]`` for
    every row (all with the same keys)."""
    if not rows:
        return
    columns = [c for c in rows[0] if c != key]
    constants = dict(extra or {})
    if conn.dialect.name != "postgresql":
        order = [*columns, *constants, key]
        sets = ", ".join(f"{_quote(conn, c)} = ?" for c in [*columns, *constants])
        sql = f"UPDATE {_quote(conn, table.name)} SET {sets} WHERE {_quote(conn, key)} = ?"
        cursor: Any = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            for chunk in chunks(rows, SQLITE_CHUNK):
                full = [{**r, **constants} for r in chunk]
                cursor.executemany(sql, _sqlite_params(conn, table, order, full))
        finally:
            cursor.close()
        return
    stage = _stage(conn, table, [key, *columns], rows)
    target = _quote(conn, table.name)
    assignments = [f"{_quote(conn, c)} = s.{_quote(conn, c)}" for c in columns]
    binds = {f"x_{c}": v for c, v in constants.items()}
    assignments += [f"{_quote(conn, c)} = %(x_{c})s" for c in constants]
    conn.exec_driver_sql(
        f"UPDATE {target} SET {', '.join(assignments)} FROM {stage} s "
        f"WHERE {target}.{_quote(conn, key)} = s.{_quote(conn, key)}",
        binds,
    )
    conn.exec_driver_sql(f"DROP TABLE {stage}")


__all__ = ["insert_new", "update_by_key"]
