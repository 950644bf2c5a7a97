"""Journey versions: each distinct plan content is a version; enrollments finish on theirs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection, distinct, func, insert, or_, select
from sqlalchemy.exc import IntegrityError

from prefect_journeys.engine.sqlbits import STATE, VERSIONS, E, I, insert_ignore

if TYPE_CHECKING:
    from prefect_journeys.definition.compiler import Plan

_plans: dict[tuple[str, str], Plan] = {}
_MAX_GOAL_WINDOW = timedelta(days=366)  # versions with goal windows open this recently are live


def register(conn: Connection, plan: Plan, now: datetime) -> int:
    """The version number of ``plan`` (a new one if its content was never seen)."""
    journey_id = str(plan.journey.id)
    query = select(VERSIONS.c.version).where(
        VERSIONS.c.journey_id == journey_id, VERSIONS.c.content_hash == plan.content_hash
    )
    found = conn.execute(query).scalar_one_or_none()
    if found is not None:
        return int(found)
    latest = conn.execute(
        select(func.max(VERSIONS.c.version)).where(VERSIONS.c.journey_id == journey_id)
    ).scalar_one_or_none()
    version = int(latest or 0) + 1
    try:
        with conn.begin_nested():
            conn.execute(
                insert(VERSIONS).values(
                    journey_id=journey_id,
                    version=version,
                    content_hash=plan.content_hash,
                    plan=plan.to_json(),
                    source_path=plan.source_path,
                    created_at=now,
                )
            )
    except IntegrityError:  # another process registered it first
        return int(conn.execute(query).scalar_one())
    return version


def plan_of(conn: Connection, journey_id: str, version: int) -> Plan:
    from prefect_journeys.definition.compiler import Plan

    row = conn.execute(
        select(VERSIONS.c.content_hash, VERSIONS.c.plan).where(
            VERSIONS.c.journey_id == journey_id, VERSIONS.c.version == version
        )
    ).one()
    key = (journey_id, row.content_hash)
    if key not in _plans:
        _plans[key] = Plan.from_json(row.plan)
    return _plans[key]


def live_versions(conn: Connection, journey_id: str, as_of: datetime) -> list[int]:
    """Versions with active enrollments, open goal windows or planned sends."""
    enrolled = select(distinct(E.c.version)).where(
        E.c.journey_id == journey_id,
        or_(E.c.state == "active", E.c.goal_deadline >= as_of - _MAX_GOAL_WINDOW),
    )
    pending = select(distinct(I.c.version)).where(
        I.c.journey_id == journey_id, I.c.status.in_(("planned", "claimed"))
    )
    found = set(conn.execute(enrolled).scalars()) | set(conn.execute(pending).scalars())
    return sorted(int(v) for v in found)


def ensure_state(
    conn: Connection, journey_id: str, as_of: datetime
) -> tuple[datetime, datetime | None]:
    """(activated_at, last_schedule_fire); the first tick of a journey activates it."""
    conn.execute(insert_ignore(conn, STATE).values(journey_id=journey_id, activated_at=as_of))
    row = conn.execute(
        select(STATE.c.activated_at, STATE.c.last_schedule_fire).where(
            STATE.c.journey_id == journey_id
        )
    ).one()
    return row.activated_at, row.last_schedule_fire
