"""The watermark: how far a source has been imported, stored in ``sync_state``.

A sync reads the rows whose watermark column is at or above (``>=``) the stored value and, only
when the whole run succeeded, stores the largest value it saw. ``>=`` re-reads the rows at the
boundary (several rows may share the last timestamp); that is safe because writes are idempotent.
Rows with an empty watermark cell are read by a first or ``--full`` sync only.

Kinds: ``datetime`` (files: naive UTC after the source's ``timestamp_timezone``; SQL: the value
as the database returned it, with its offset if it had one, so it compares like the column),
``number`` and ``text``. SQL sources compare in the database (``WHERE col >= :since``); file
sources compare here, on each batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select

from prefect_journeys.sources import values
from prefect_journeys.sources.errors import SourceError
from prefect_journeys.sources.model import Source
from prefect_journeys.store.models import SyncState
from prefect_journeys.store.writes import _insert

state_t = SyncState.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Watermark:
    kind: str  # datetime | number | text
    value: Any  # datetime | int | float | Decimal | str

    def text(self) -> str:
        if isinstance(self.value, datetime):
            return self.value.isoformat()
        return str(self.value)

    @classmethod
    def parse(cls, text: str, kind: str | None) -> Watermark:
        if kind == "datetime":
            return cls(kind, datetime.fromisoformat(text))
        if kind == "number":
            try:
                return cls(kind, int(text))
            except ValueError:
                return cls(kind, Decimal(text))
        return cls("text", text)


def load(conn: Connection, source_id: str) -> Watermark | None:
    row = conn.execute(
        select(state_t.c.watermark, state_t.c.watermark_type).where(
            state_t.c.source_id == source_id
        )
    ).first()
    if row is None or row.watermark is None:
        return None
    try:
        return Watermark.parse(row.watermark, row.watermark_type)
    except (ValueError, InvalidOperation):
        raise SourceError(
            f"source {source_id}: the stored watermark {row.watermark!r} cannot be read as a"
            f" {row.watermark_type}; run a full sync (journeys sync {source_id} --full)"
        ) from None


def save(conn: Connection, source_id: str, mark: Watermark | None, now: datetime) -> None:
    """Store the new watermark (None keeps the stored one) and the time of this successful run."""
    row: dict[str, Any] = {"source_id": source_id, "last_run_at": now, "updated_at": now}
    if mark is not None:
        row |= {"watermark": mark.text(), "watermark_type": mark.kind}
    stmt = _insert(conn, state_t).values(**row)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["source_id"], set_={k: v for k, v in row.items() if k != "source_id"}
        )
    )


def kind_of(source: Source, column: pd.Series, stored: Watermark | None) -> str:
    """The watermark's kind: as declared, else as stored, else from the column's values."""
    if source.watermark is not None and source.watermark.type is not None:
        return source.watermark.type
    if stored is not None:
        return stored.kind
    dtype = column.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_bool_dtype(dtype):
        return "text"
    if pd.api.types.is_numeric_dtype(dtype):
        return "number"
    sample = column.dropna()
    first = sample.iloc[0] if len(sample) else None
    if isinstance(first, int | float | Decimal | np.number) and not isinstance(first, bool):
        return "number"
    if source.kind == "sql" and isinstance(first, str):
        return "text"  # compared by the database as text, like the column
    return "datetime"


def comparable(column: pd.Series, kind: str, timezone: str) -> tuple[pd.Series, pd.Series]:
    """File sources: the column as comparable values and the mask of unreadable cells."""
    if kind == "datetime":
        return values.times(column, timezone)
    if kind == "number":
        return values.numbers(column)
    text = values.texts(column)
    return text, pd.Series(False, index=column.index)


def since_value(mark: Watermark | None, kind: str) -> Any:
    """A stored watermark as the value file rows are compared with."""
    if mark is None:
        return None
    if kind == "datetime" and isinstance(mark.value, datetime):
        value = mark.value
        if value.tzinfo is not None:
            value = values._python_time(value, "UTC").to_pydatetime()
        return pd.Timestamp(value)
    if kind == "number":
        return float(mark.value)
    return mark.text()


def file_max(comparable_values: pd.Series, kind: str) -> Watermark | None:
    present = comparable_values.dropna()
    if present.empty:
        return None
    top = present.max()
    if kind == "datetime":
        return Watermark(kind, pd.Timestamp(top).to_pydatetime())
    if kind == "number":
        number = float(top)
        return Watermark(kind, int(number) if number.is_integer() else number)
    return Watermark("text", str(top))


def sql_last(column: pd.Series) -> Watermark | None:
    """SQL sources: rows arrive ordered by the watermark, so the last non-empty value is the
    largest in the database's own order (its collation, its time zone)."""
    present = column.dropna()
    if present.empty:
        return None
    value = present.iloc[-1]
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, datetime):
        return Watermark("datetime", value)
    if isinstance(value, date):
        return Watermark("datetime", datetime(value.year, value.month, value.day))
    if isinstance(value, bool):
        return Watermark("text", str(value))
    if isinstance(value, int | float | Decimal):
        return Watermark("number", value)
    return Watermark("text", str(value))


def later(a: Watermark | None, b: Watermark | None, *, database_order: bool) -> Watermark | None:
    """The later of two watermarks (for SQL, the one seen last: the database ordered them)."""
    if a is None:
        return b
    if b is None:
        return a
    if database_order:
        return b
    return b if b.value > a.value else a


def param(mark: Watermark | None) -> Any:
    """A stored watermark as a SQL query parameter (datetimes keep their offset, if any)."""
    return None if mark is None else mark.value


@dataclass
class Window:
    """Which rows of a batch are at or above the watermark, and the batch's own largest value."""

    keep: pd.Series  # bool per batch position
    bad: pd.Series  # kept rows whose watermark cell cannot be read
    order: pd.Series | None  # comparable watermark values (orders versions of a customer)
    mark: Watermark | None


def window(
    source: Source,
    frame: pd.DataFrame,
    stored: Watermark | None,
    since: Watermark | None,
    *,
    in_database: bool,
) -> Window:
    """Rows to import from one batch. ``since`` is the stored watermark, or None for a full
    sync; ``in_database``: the reader already applied it (SQL)."""
    everything = pd.Series(True, index=frame.index)
    if source.watermark is None:
        return Window(everything, ~everything, None, None)
    column = frame[source.watermark.column]
    kind = kind_of(source, column, stored)
    order, bad = comparable(column, kind, source.timestamp_timezone)
    if in_database:
        return Window(everything, bad, order, sql_last(column))
    keep = everything
    start = since_value(since, kind)
    if start is not None:
        if kind == "text":
            keep = pd.Series([v is not None and v >= start for v in order], index=frame.index)
        else:
            keep = (order >= start).fillna(False).astype(bool)
    return Window(keep, bad & keep, order, file_max(order[keep], kind))


__all__ = [
    "Watermark",
    "Window",
    "comparable",
    "file_max",
    "kind_of",
    "later",
    "load",
    "param",
    "save",
    "since_value",
    "sql_last",
    "window",
]
