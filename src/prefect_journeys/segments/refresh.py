"""Segments backed by a SQL query against a source: run the query read-only, store the members.

A segment file with ``source:`` and ``query:`` (see :class:`~prefect_journeys.segments.rules.Segment`)
is evaluated outside the store: :func:`fetch_keys` runs its query in the source database and
:func:`store_members` maps the customer keys it returns to profiles and replaces the segment's rows
in ``segment_members``, where conditions find them (``{segment: x}`` compiles to an ``EXISTS`` on
that table, :mod:`prefect_journeys.segments.sql`). :func:`refresh_segments` does both for a list of
segments: every query first, then every write in one store transaction, so a source that is down
changes nothing.

Reading is read-only twice over: the text must be one SELECT (:mod:`.query`, checked when the
project loads), and it runs in a transaction that is always rolled back and, on Postgres, is
``READ ONLY`` with a ``statement_timeout``; on SQLite ``PRAGMA query_only`` is on and a progress
handler interrupts the query at the timeout. Other databases get the rolled-back transaction
only: give such a source a read-only database user.

The query must return exactly one column. NULL keys are skipped; other values are taken as text
(integral numbers without a decimal point). Keys are resolved as external ids without creating
profiles (:func:`prefect_journeys.identity.resolve.resolve_keys`); keys with no profile are
counted, never listed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from prefect_journeys.segments.rules import Segment
from prefect_journeys.store.models import metadata

__all__ = [
    "Fetched",
    "Refreshed",
    "SegmentSourceError",
    "SourceEngines",
    "SourceOpener",
    "fetch_keys",
    "refresh_segments",
    "store_members",
]

SourceOpener = Callable[[str], Engine]
members_t = metadata.tables["segment_members"]
_CHUNK = 1000
_FETCH = 20_000


class SegmentSourceError(Exception):
    """A SQL segment could not be refreshed; the message names the segment and its source."""


@dataclass(frozen=True)
class Fetched:
    """What one segment's query returned: distinct keys (text), rows read and NULL keys."""

    segment: Segment
    keys: frozenset[str]
    rows: int
    nulls: int
    seconds: float


@dataclass(frozen=True)
class Refreshed:
    """One segment's refresh: members now, added, removed, keys without a profile."""

    segment_id: str
    source: str
    keys: int
    members: int
    added: int
    removed: int
    unknown: int
    seconds: float

    @property
    def problem(self) -> str | None:
        """A line for the tick report when some keys matched no profile (a count, no keys)."""
        if not self.unknown:
            return None
        return (
            f"segment '{self.segment_id}' (source '{self.source}'): {self.unknown} of"
            f" {self.keys} customer keys returned by its query have no profile in the store;"
            " ignored"
        )


def _label(segment: Segment) -> str:
    return f"segment '{segment.id}' (source '{segment.source}')"


def _reason(exc: BaseException) -> str:
    """The database's own first line, without SQLAlchemy's wrapping (no URL, no password)."""
    inner = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = str(inner).strip().splitlines()
    return text[0] if text else type(inner).__name__


def _as_key(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float | Decimal) and value == int(value):
        return str(int(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


@contextmanager
def _read_only(conn: Connection, timeout: timedelta) -> Iterator[Callable[[], bool]]:
    """Make ``conn``'s transaction read-only with a time limit; yields "has the limit passed?"."""
    seconds = timeout.total_seconds()
    deadline = time.monotonic() + seconds
    expired: Callable[[], bool] = lambda: time.monotonic() > deadline  # noqa: E731
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(seconds * 1000))}")
        yield expired
    elif dialect == "sqlite":
        dbapi: Any = conn.connection.dbapi_connection
        before = int(conn.exec_driver_sql("PRAGMA query_only").scalar() or 0)
        conn.exec_driver_sql("PRAGMA query_only = ON")
        dbapi.set_progress_handler(expired, 10_000)
        try:
            yield expired
        finally:
            dbapi.set_progress_handler(None, 0)
            conn.exec_driver_sql(f"PRAGMA query_only = {before}")
    else:
        yield expired


def fetch_keys(engine: Engine, segment: Segment) -> Fetched:
    """Run ``segment``'s query in ``engine``'s database, read-only and time-limited.

    Raises :class:`SegmentSourceError` (naming segment and source) when the database cannot be
    reached, the query fails or times out, or it does not return exactly one column.
    """
    assert segment.query is not None, f"segment {segment.id!r} has no query"
    timeout = segment.query_timeout
    started = time.monotonic()
    try:
        conn = engine.connect()
    except SQLAlchemyError as exc:
        raise SegmentSourceError(
            f"{_label(segment)}: cannot connect to the source database: {_reason(exc)}"
        ) from None
    keys: set[str] = set()
    rows = nulls = 0
    try:
        with _read_only(conn, timeout) as expired:
            try:
                # no_parameters: the driver gets the text alone, so '%' and ':x' stay SQL
                result = conn.execution_options(
                    stream_results=True, yield_per=_FETCH, no_parameters=True
                ).exec_driver_sql(segment.query)
                columns = list(result.keys())
                if len(columns) != 1:
                    result.close()
                    raise SegmentSourceError(
                        f"{_label(segment)}: the query returns {len(columns)} columns"
                        f" ({', '.join(map(str, columns)) or 'none'}); it must return exactly"
                        " one: the customer key"
                    )
                for part in result.partitions():
                    for (value,) in part:
                        rows += 1
                        key = _as_key(value)
                        if key is None:
                            nulls += 1
                        else:
                            keys.add(key)
            except SQLAlchemyError as exc:
                if expired() or "statement timeout" in _reason(exc):
                    raise SegmentSourceError(
                        f"{_label(segment)}: the query timed out after"
                        f" {timeout.total_seconds():g}s (raise the segment's 'timeout')"
                    ) from None
                raise SegmentSourceError(
                    f"{_label(segment)}: the query failed in the source database: {_reason(exc)}"
                ) from None
    except SQLAlchemyError as exc:  # the read-only setup itself
        raise SegmentSourceError(
            f"{_label(segment)}: cannot start a read-only transaction: {_reason(exc)}"
        ) from None
    finally:
        try:
            conn.rollback()
        finally:
            conn.close()
    return Fetched(segment, frozenset(keys), rows, nulls, time.monotonic() - started)


def _chunks(items: Sequence[str], size: int = _CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def store_members(conn: Connection, fetched: Fetched, *, now: datetime) -> Refreshed:
    """Replace the segment's rows in ``segment_members`` with the profiles of ``fetched.keys``.

    Set-based: the current members are read once; only the difference is written (chunked
    ``DELETE … IN`` and a multi-row ``INSERT``), inside the caller's transaction. A new row's
    ``refreshed_at`` is ``now``; rows of customers who stay are not rewritten.
    """
    from prefect_journeys.identity.resolve import resolve_keys

    started = time.monotonic()
    segment_id = fetched.segment.id
    resolved = resolve_keys(conn, fetched.keys, kind="external_id", create=False)
    members = set(resolved.values())
    current = set(
        conn.execute(
            select(members_t.c.customer_id).where(members_t.c.segment_id == segment_id)
        ).scalars()
    )
    gone = sorted(current - members)
    new = sorted(members - current)
    for chunk in _chunks(gone):
        conn.execute(
            delete(members_t).where(
                members_t.c.segment_id == segment_id, members_t.c.customer_id.in_(chunk)
            )
        )
    insert = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(members_t)
    for chunk in _chunks(new, 10 * _CHUNK):
        conn.execute(
            insert.on_conflict_do_nothing(),
            [{"segment_id": segment_id, "customer_id": c, "refreshed_at": now} for c in chunk],
        )
    return Refreshed(
        segment_id=segment_id,
        source=str(fetched.segment.source),
        keys=len(fetched.keys),
        members=len(members),
        added=len(new),
        removed=len(gone),
        unknown=len(fetched.keys) - len(resolved),
        seconds=fetched.seconds + time.monotonic() - started,
    )


def refresh_segments(
    segments: Sequence[Segment],
    sources: SourceOpener | None,
    store: Callable[[], AbstractContextManager[Connection]],
    *,
    now: datetime,
) -> list[Refreshed]:
    """Refresh every SQL segment of ``segments``: all queries first, then all writes in one store
    transaction (``store()``), so a failing source leaves every membership as it was."""
    wanted = [s for s in segments if s.is_sql]
    if not wanted:
        return []
    if sources is None:
        raise SegmentSourceError(
            f"{_label(wanted[0])}: no sources were given to this tick (run it through the"
            " run-journey flow, or pass sources= to run_tick)"
        )
    fetched = []
    for segment in wanted:
        try:
            engine = sources(str(segment.source))
        except SegmentSourceError:
            raise
        except Exception as exc:
            raise SegmentSourceError(f"{_label(segment)}: {exc}") from None
        fetched.append(fetch_keys(engine, segment))
    with store() as conn:
        return [store_members(conn, item, now=now) for item in fetched]


class SourceEngines:
    """A :data:`SourceOpener` over a project's sources (``project.sources``): one engine per SQL
    source, opened read-only on first use by ``prefect_journeys.sources.model.source_engine``;
    :meth:`close` disposes them."""

    def __init__(self, sources: Mapping[str, Any]) -> None:
        self.sources = sources
        self.engines: dict[str, Engine] = {}

    def __call__(self, source_id: str) -> Engine:
        if source_id in self.engines:
            return self.engines[source_id]
        source = self.sources.get(source_id)
        if source is None:
            known = ", ".join(sorted(self.sources)) or "none"
            raise SegmentSourceError(f"unknown source '{source_id}' (sources: {known})")
        if getattr(source, "kind", None) != "sql":
            raise SegmentSourceError(
                f"source '{source_id}' is a {getattr(source, 'kind', '?')} source; a segment"
                " query needs a SQL source"
            )
        from prefect_journeys.sources.model import source_engine

        engine: Engine = source_engine(source)
        self.engines[source_id] = engine
        return engine

    def close(self) -> None:
        for engine in self.engines.values():
            engine.dispose()
        self.engines.clear()


def sql_segments(groups: Iterable[Mapping[str, Segment]]) -> list[Segment]:
    """The SQL-backed segments of several segment maps, one per id (the first map wins)."""
    found: dict[str, Segment] = {}
    for group in groups:
        for name, segment in group.items():
            if segment.is_sql and name not in found:
                found[name] = segment
    return list(found.values())
