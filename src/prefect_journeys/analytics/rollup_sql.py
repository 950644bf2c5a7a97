"""The set-based SQL behind the rollups, for SQLite and PostgreSQL.

Three statements do the work (see :mod:`prefect_journeys.analytics.rollups` for the rules):

- :func:`mark_dirty` lists the partitions (journey, event name, day) that events with ``lo < seq <= hi``
  touch: their own day, and the day of every *first occurrence* they may displace.
- :func:`aggregate` recomputes ``rollup_daily`` rows from the events of the dirty partitions
  (or of every partition, for a full run).
- :func:`find_gaps` lists missing seqs above the watermark (transactions not committed yet).

Dimension columns are stored without nulls: ``''`` (text) and ``0`` (version) mean "none".
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

DIMENSIONS = ("journey_id", "journey_version", "step_id", "stage", "variant", "channel", "name")
MEASURES = (
    "events",
    "customers",
    "enrollments",
    "messages",
    "new_customers",
    "new_stage_enrollments",
    "new_step_enrollments",
    "new_messages",
    "value_sum",
    "first_seq",
    "last_seq",
)


@dataclass(frozen=True)
class Dialect:
    """The few expressions that differ between SQLite and PostgreSQL."""

    name: str

    def day(self, expr: str) -> str:
        """The UTC calendar day of a naive-UTC timestamp expression."""
        return f"date({expr})" if self.name == "sqlite" else f"CAST({expr} AS DATE)"

    def next_day(self, expr: str) -> str:
        """The day after a day-valued expression (comparable with timestamps)."""
        return f"date({expr}, '+1 day')" if self.name == "sqlite" else f"({expr} + 1)"

    def no_index(self, column: str) -> str:
        """The column in a form SQLite will not pick an index for (unary ``+``)."""
        return f"+{column}" if self.name == "sqlite" else column

    def same(self, left: str, right: str) -> str:
        """Null-safe equality."""
        if self.name == "sqlite":
            return f"{left} IS {right}"
        return f"{left} IS NOT DISTINCT FROM {right}"


def dialect_of(conn: Connection) -> Dialect:
    name = conn.dialect.name
    if name not in ("sqlite", "postgresql"):
        raise ValueError(f"rollups support SQLite and PostgreSQL, not {name!r}")
    return Dialect(name)


def _earlier(d: Dialect) -> str:
    """``p`` happened before ``e`` (ties broken by ``seq``: the first recorded wins)."""
    return "(p.occurred_at < e.occurred_at OR (p.occurred_at = e.occurred_at AND p.seq < e.seq))"


def _first(d: Dialect, key: str, *scope: str) -> str:
    """``e`` is the earliest event of its ``key`` with the same name, journey and ``scope``.

    SQLite is steered away from the journey indexes here (a journey has many events; a key
    few): the probe uses ``ix_events_customer_name_time``, ``ix_events_enrollment_name`` or
    ``ix_events_intent_name``.
    """
    same = " AND ".join(
        [
            f"p.{key} = e.{key}",
            "p.name = e.name",
            d.same(d.no_index("p.journey_id"), "e.journey_id"),
            *(d.same(f"p.{c}", f"e.{c}") for c in scope),
        ]
    )
    return f"NOT EXISTS (SELECT 1 FROM events p WHERE {same} AND {_earlier(d)})"


def _select(d: Dialect, source: str) -> str:
    day = d.day("e.occurred_at")
    return f"""
SELECT {day}, COALESCE(e.journey_id, ''), COALESCE(e.journey_version, 0),
       COALESCE(e.step_id, ''), COALESCE(e.stage, ''), COALESCE(e.variant, ''),
       COALESCE(e.channel, ''), e.name,
       COUNT(*),
       COUNT(DISTINCT e.customer_id),
       COUNT(DISTINCT e.enrollment_id),
       COUNT(DISTINCT e.intent_id) + SUM(CASE WHEN e.intent_id IS NULL THEN 1 ELSE 0 END),
       SUM(CASE WHEN {_first(d, "customer_id")} THEN 1 ELSE 0 END),
       SUM(CASE WHEN e.enrollment_id IS NOT NULL AND {_first(d, "enrollment_id", "stage")}
                THEN 1 ELSE 0 END),
       SUM(CASE WHEN e.enrollment_id IS NOT NULL AND {_first(d, "enrollment_id", "step_id")}
                THEN 1 ELSE 0 END),
       SUM(CASE WHEN e.intent_id IS NULL OR {_first(d, "intent_id", "step_id")} THEN 1 ELSE 0 END),
       COALESCE(SUM(e.value), 0),
       MIN(e.seq), MAX(e.seq)
FROM {source}
GROUP BY {day}, COALESCE(e.journey_id, ''), COALESCE(e.journey_version, 0),
         COALESCE(e.step_id, ''), COALESCE(e.stage, ''), COALESCE(e.variant, ''),
         COALESCE(e.channel, ''), e.name"""


def _insert(d: Dialect, source: str) -> str:
    columns = ", ".join(("day", *DIMENSIONS, *MEASURES))
    return f"INSERT INTO rollup_daily ({columns}){_select(d, source)}"


def aggregate(conn: Connection, *, full: bool) -> int:
    """Insert the rows of the dirty partitions (every partition when ``full``); rows inserted.

    The caller has deleted the rows being replaced. Journeyless events (``journey_id`` null,
    e.g. purchases) form the partitions of journey ``''``.
    """
    d = dialect_of(conn)
    if full:
        return int(conn.execute(text(_insert(d, "events e"))).rowcount or 0)
    day_range = f"e.occurred_at >= r.day AND e.occurred_at < {d.next_day('r.day')}"
    with_journey = (
        "rollup_dirty r JOIN events e ON e.journey_id = r.journey_id AND e.name = r.name"
        f" AND {day_range} AND r.journey_id <> ''"
    )
    journeyless = (
        "rollup_dirty r JOIN events e ON e.journey_id IS NULL AND e.name = r.name"
        f" AND {day_range} AND r.journey_id = ''"
    )
    inserted = conn.execute(text(_insert(d, with_journey))).rowcount or 0
    inserted += conn.execute(text(_insert(d, journeyless))).rowcount or 0
    return int(inserted)


def _displaced(d: Dialect, key: str, scope: tuple[str, ...], where: str) -> str:
    """Days of the current first occurrences that new events may displace (same or earlier time)."""
    group = ", ".join(f"b.{c}" for c in ("journey_id", key, *scope))
    inner_group = ", ".join(("journey_id", key, *scope))
    join = " AND ".join(
        [
            f"o.{key} = b.{key}",
            d.same(d.no_index("o.journey_id"), "b.journey_id"),
            *(d.same(f"o.{c}", f"b.{c}") for c in scope),
        ]
    )
    return f"""
SELECT COALESCE(b.journey_id, ''), b.name, {d.day("MIN(o.occurred_at)")}
FROM (SELECT {inner_group}, MIN(occurred_at) AS bmin FROM events
      WHERE seq > :lo AND seq <= :hi AND {where} GROUP BY {inner_group}) b
JOIN events o ON {join} AND {d.no_index("o.seq")} <= :lo
GROUP BY {group}, b.bmin
HAVING b.bmin <= MIN(o.occurred_at)"""


def mark_dirty(conn: Connection, lo: int, hi: int) -> int:
    """Fill ``rollup_dirty`` with the partitions events ``lo < seq <= hi`` affect; how many.

    An event dirties its own (journey, name, day), and, when it happened no later than the current
    first occurrence of one of its keys (customer per journey and name; enrollment per name and
    stage, and per name and step; intent per name and step), the day of that first occurrence too: the
    first may move to it.
    """
    d = dialect_of(conn)
    own = (
        f"SELECT COALESCE(journey_id, ''), name, {d.day('occurred_at')} FROM events"
        " WHERE seq > :lo AND seq <= :hi"
    )
    parts = [
        own,
        _displaced(d, "customer_id", ("name",), "TRUE"),
        _displaced(d, "enrollment_id", ("name", "stage"), "enrollment_id IS NOT NULL"),
        _displaced(d, "enrollment_id", ("name", "step_id"), "enrollment_id IS NOT NULL"),
        _displaced(d, "intent_id", ("name", "step_id"), "intent_id IS NOT NULL"),
    ]
    sql = "INSERT INTO rollup_dirty (journey_id, name, day) " + "\nUNION\n".join(parts)
    conn.execute(text("DELETE FROM rollup_dirty"))
    conn.execute(text(sql), {"lo": lo, "hi": hi})
    return int(conn.execute(text("SELECT COUNT(*) FROM rollup_dirty")).scalar_one())


def delete_dirty_rows(conn: Connection) -> int:
    """Delete the ``rollup_daily`` rows of the dirty partitions; rows deleted."""
    result = conn.execute(
        text(
            "DELETE FROM rollup_daily WHERE EXISTS (SELECT 1 FROM rollup_dirty r"
            " WHERE r.journey_id = rollup_daily.journey_id AND r.name = rollup_daily.name"
            " AND r.day = rollup_daily.day)"
        )
    )
    return int(result.rowcount or 0)


def find_gaps(conn: Connection, after: int, hi: int) -> list[tuple[int, int]]:
    """Runs of missing seqs ``(first, last)`` in ``(after, hi]``: inserts not committed (yet)."""
    rows = conn.execute(
        text(
            "SELECT prev + 1, seq - 1 FROM ("
            " SELECT seq, LAG(seq, 1, CAST(:after AS BIGINT)) OVER (ORDER BY seq) AS prev FROM events"
            " WHERE seq > :after AND seq <= :hi) s WHERE seq - prev > 1 ORDER BY seq"
        ),
        {"after": after, "hi": hi},
    ).all()
    return [(int(a), int(b)) for a, b in rows]
