"""Maintained daily rollups of the event log, folded in incrementally (docs/metrics.md "Rollups").

``rollup_daily`` holds one row per day × journey × version × step × stage × variant × channel ×
event name, with event counts, per-day distinct customers / enrollments / messages, *first
occurrence* counts (which add up exactly over any period) and the ``value`` sum.

A run (:func:`run_rollup`) works in one transaction that holds the ``rollup_state`` row locked
(``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises writers), so two
runs at once never fold the same events twice:

1. ``hi`` = the highest ``seq`` now; the batch is the events with ``watermark < seq <= hi``.
2. The partitions (journey, day) the batch touches are marked dirty: each event's own day, and
   the day of every first occurrence it may displace (a late ``opened`` of day 3 whose intent was
   first opened on day 5 moves that intent's first open: days 3 and 5 are recomputed).
3. The dirty partitions' rows are deleted and recomputed from *all* their events (set-based SQL),
   so folding an event twice is harmless: the result only depends on the events stored.
4. The watermark moves to ``hi``, except past a *young gap*. ``seq`` is assigned at insert, so a
   transaction can commit after one with a higher ``seq`` was folded (and on PostgreSQL an
   ``ON CONFLICT DO NOTHING`` or a rollback burns seqs for good). A run records every missing
   seq above the watermark with when it was first seen; the watermark stops below the first gap
   seen less than ``gap_grace`` ago (default 10 minutes), so the events after it are read again
   next time, and the gap is filled in when its transaction commits. Gaps older than the grace
   are taken as burnt. A transaction that stays open longer than the grace between its insert
   and its commit is missed until the next ``--full`` run.

``full=True`` rebuilds every row from the event log (same SQL, no partition filter).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select, text, update

from prefect_journeys.analytics import rollup_sql
from prefect_journeys.store.database import utcnow
from prefect_journeys.store.models import RollupState
from prefect_journeys.store.writes import _insert

state_t = RollupState.__table__  # type: ignore[attr-defined]

STATE_NAME = "events"
DEFAULT_GAP_GRACE = timedelta(minutes=10)


@dataclass
class RollupResult:
    """What one run did: the events it read, the partitions and rows it replaced."""

    full: bool
    watermark_from: int
    watermark_to: int
    high_seq: int
    events: int
    partitions: int
    rows_deleted: int
    rows_inserted: int
    open_gaps: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _lock_state(conn: Connection, now: datetime) -> tuple[int, list[list[Any]]]:
    """Create the state row if needed and lock it for this transaction."""
    conn.execute(
        _insert(conn, state_t)
        .values(name=STATE_NAME, watermark=0, gaps=[], updated_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    query = select(state_t.c.watermark, state_t.c.gaps).where(state_t.c.name == STATE_NAME)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    watermark, gaps = conn.execute(query).one()
    return int(watermark), list(gaps or [])


def _advance(
    found: list[tuple[int, int]],
    known: list[list[Any]],
    hi: int,
    now: datetime,
    grace: timedelta,
) -> tuple[int, list[list[Any]]]:
    """The new watermark and the gaps to remember (``[first, last, first seen ISO]``)."""

    def seen(first: int, last: int) -> datetime:
        times = [datetime.fromisoformat(g[2]) for g in known if g[0] <= last and g[1] >= first]
        return min(times, default=now)

    dated = [(first, last, seen(first, last)) for first, last in found]
    young = [first for first, _, at in dated if now - at < grace]
    watermark = young[0] - 1 if young else hi
    keep = [[first, last, at.isoformat()] for first, last, at in dated if first > watermark]
    return watermark, keep


def run_rollup(
    engine: Engine,
    *,
    full: bool = False,
    now: datetime | None = None,
    gap_grace: timedelta = DEFAULT_GAP_GRACE,
) -> RollupResult:
    """Fold the events written since the last run into ``rollup_daily`` (all events if ``full``)."""
    if gap_grace < timedelta(0):
        raise ValueError(f"gap_grace must not be negative, got {gap_grace}")
    started = time.perf_counter()
    moment = now or utcnow()
    with engine.begin() as conn:
        watermark, known = _lock_state(conn, moment)
        hi = int(conn.execute(text("SELECT COALESCE(MAX(seq), 0) FROM events")).scalar_one())
        lo = 0 if full else watermark
        events = int(
            conn.execute(
                text("SELECT COUNT(*) FROM events WHERE seq > :lo AND seq <= :hi"),
                {"lo": lo, "hi": hi},
            ).scalar_one()
        )
        deleted = inserted = partitions = 0
        if full:
            deleted = int(conn.execute(text("DELETE FROM rollup_daily")).rowcount or 0)
            inserted = rollup_sql.aggregate(conn, full=True)
            partitions = int(
                conn.execute(
                    text(
                        "SELECT COUNT(*) FROM (SELECT DISTINCT journey_id, day FROM rollup_daily) p"
                    )
                ).scalar_one()
            )
        elif hi > lo:
            partitions = rollup_sql.mark_dirty(conn, lo, hi)
            deleted = rollup_sql.delete_dirty_rows(conn)
            inserted = rollup_sql.aggregate(conn, full=False)
            conn.execute(text("DELETE FROM rollup_dirty"))
        after = lo
        if lo == 0:  # the store's first seqs are not gaps
            first = conn.execute(text("SELECT MIN(seq) FROM events")).scalar_one()
            after = int(first) - 1 if first is not None else 0
        new_mark, gaps = _advance(
            rollup_sql.find_gaps(conn, after, hi), known, hi, moment, gap_grace
        )
        new_mark = max(new_mark, after) if lo == 0 else max(new_mark, watermark)
        values: dict[str, Any] = {"watermark": new_mark, "gaps": gaps, "updated_at": moment}
        if full:
            values["last_full_at"] = moment
        conn.execute(update(state_t).where(state_t.c.name == STATE_NAME).values(**values))
    return RollupResult(
        full=full,
        watermark_from=watermark,
        watermark_to=new_mark,
        high_seq=hi,
        events=events,
        partitions=partitions,
        rows_deleted=deleted,
        rows_inserted=inserted,
        open_gaps=len(gaps),
        seconds=round(time.perf_counter() - started, 3),
    )


def rollup_watermark(conn: Connection) -> int:
    """The highest ``seq`` folded into the rollups (0 before the first run)."""
    value = conn.execute(select(state_t.c.watermark).where(state_t.c.name == STATE_NAME)).scalar()
    return int(value or 0)


__all__ = ["DEFAULT_GAP_GRACE", "RollupResult", "rollup_watermark", "run_rollup"]
