"""The tick's ``segments`` phase: which SQL-backed segments a tick must refresh.

A tick refreshes the SQL segments its journey uses (the entry segment, exit and branch
conditions, and segments nested in them: a plan's ``segments`` are that closure) before anything
reads them. Enrollments that stay on an older version evaluate that version's conditions, so the
SQL segments of older *live* versions are refreshed too; a segment id used by several versions
is refreshed with the current version's query. Checking older versions costs one small read of
``journey_versions`` when no older version has a SQL segment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection, select

from prefect_journeys.engine import versions
from prefect_journeys.engine.sqlbits import VERSIONS
from prefect_journeys.segments.refresh import sql_segments
from prefect_journeys.segments.rules import Segment

if TYPE_CHECKING:
    from datetime import datetime

    from prefect_journeys.definition.compiler import Plan


def segments_to_refresh(conn: Connection, plan: Plan, as_of: datetime) -> list[Segment]:
    """The SQL segments of ``plan`` and of the journey's other live versions (current first)."""
    journey_id = str(plan.journey.id)
    others = conn.execute(
        select(VERSIONS.c.version).where(
            VERSIONS.c.journey_id == journey_id, VERSIONS.c.content_hash != plan.content_hash
        )
    ).scalars()
    with_sql = [
        int(v)
        for v in others
        if any(s.is_sql for s in versions.plan_of(conn, journey_id, int(v)).segments.values())
    ]
    groups = [plan.segments]
    if with_sql:
        live = set(versions.live_versions(conn, journey_id, as_of))
        groups += [versions.plan_of(conn, journey_id, v).segments for v in with_sql if v in live]
    return sql_segments(groups)
