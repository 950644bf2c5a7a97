"""Moving a merged-away profile's journeys to the survivor: enrollments, send intents, exits.

- ``(journey_id, customer_id, entry_seq)`` stays unique: the loser's entries of a journey are
  renumbered after the survivor's (in their old order), and their send intents follow.
- The same person must not run the same journey twice at once: where both profiles have an
  *active* enrollment in one journey (for the same entry key, as the engine's re-entry rule
  counts them), the loser's is exited with reason ``merged`` — a ``journey.exited`` event, as
  the engine writes it — and its ``planned`` sends are cancelled (``message.cancelled``). A send
  already claimed by a dispatcher is cancelled by that dispatcher (the enrollment has exited).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from prefect_journeys.engine.dispatch import message_event
from prefect_journeys.engine.moves import ACTIVE, EXITED
from prefect_journeys.engine.sqlbits import E, I
from prefect_journeys.store.writes import insert_events

MERGED = "merged"


def move_journeys(conn: Connection, loser: str, survivor: str, now: datetime) -> dict[str, int]:
    """Re-key the loser's enrollments and intents to the survivor; returns counts by name."""
    mine = conn.execute(
        select(E.c.id, E.c.journey_id, E.c.entry_seq, E.c.entry_key, E.c.state)
        .where(E.c.customer_id == loser)
        .order_by(E.c.journey_id, E.c.entry_seq)
    ).all()
    intents = conn.execute(
        select(func.count()).select_from(I).where(I.c.customer_id == loser)
    ).scalar_one()
    counts: dict[str, int] = {}
    if mine:
        journeys = sorted({r.journey_id for r in mine})
        theirs = conn.execute(
            select(E.c.journey_id, E.c.entry_seq, E.c.entry_key, E.c.state).where(
                E.c.customer_id == survivor, E.c.journey_id.in_(journeys)
            )
        ).all()
        last: dict[str, int] = defaultdict(int)
        active: set[tuple[str, str | None]] = set()
        for journey_id, entry_seq, entry_key, state in theirs:
            last[journey_id] = max(last[journey_id], int(entry_seq))
            if state == ACTIVE:
                active.add((journey_id, entry_key))
        renumber = []
        doubled = []
        for row in mine:
            last[row.journey_id] += 1
            renumber.append({"eid": row.id, "seq": last[row.journey_id]})
            if row.state == ACTIVE and (row.journey_id, row.entry_key) in active:
                doubled.append(row.id)
        conn.execute(
            update(E)
            .where(E.c.id == bindparam("eid"))
            .values(customer_id=survivor, entry_seq=bindparam("seq")),
            renumber,
        )
        conn.execute(
            update(I)
            .where(I.c.enrollment_id == bindparam("eid"))
            .values(customer_id=survivor, entry_seq=bindparam("seq")),
            renumber,
        )
        counts["enrollments"] = len(mine)
        if doubled:  # after the re-keying: the exit and cancel events belong to the survivor
            counts["enrollments_exited"] = _exit(conn, doubled, now)
            counts["intents_cancelled"] = _cancel(conn, doubled, now)
    # Intents whose enrollment is not the loser's (the engine writes none; kept safe anyway).
    conn.execute(update(I).where(I.c.customer_id == loser).values(customer_id=survivor))
    if intents:
        counts["send_intents"] = int(intents)
    return counts


def _exit(conn: Connection, ids: list[int], now: datetime) -> int:
    rows = conn.execute(
        select(E.c.id, E.c.journey_id, E.c.version, E.c.customer_id, E.c.stage, E.c.variant).where(
            E.c.id.in_(ids)
        )
    ).all()
    insert_events(
        conn,
        [
            {
                "source_id": f"journey.exited:{r.id}:exited:{now.isoformat()}",
                "customer_id": r.customer_id,
                "name": "journey.exited",
                "occurred_at": now,
                "received_at": now,
                "properties": {"reason": MERGED},
                "journey_id": r.journey_id,
                "journey_version": r.version,
                "stage": r.stage,
                "variant": r.variant,
                "enrollment_id": r.id,
            }
            for r in rows
        ],
    )
    result = conn.execute(
        update(E)
        .where(E.c.id.in_(ids), E.c.state == ACTIVE)
        .values(
            state=EXITED,
            step_id=None,
            due_at=None,
            exit_reason=MERGED,
            completed_at=now,
            updated_at=now,
        )
    )
    return int(result.rowcount or 0)


def _cancel(conn: Connection, enrollment_ids: list[int], now: datetime) -> int:
    query: Any = select(
        I.c.id.label("intent_id"),
        I.c.journey_id,
        I.c.version,
        I.c.step_id,
        I.c.customer_id,
        I.c.enrollment_id,
        I.c.channel,
        I.c.stage,
        I.c.variant,
    ).where(I.c.enrollment_id.in_(enrollment_ids), I.c.status == "planned")
    rows = conn.execute(query).all()
    if not rows:
        return 0
    insert_events(
        conn,
        [
            message_event(r.journey_id, r, "message.cancelled", {"reason": MERGED}, now)
            for r in rows
        ],
    )
    conn.execute(
        update(I)
        .where(I.c.id.in_([r.intent_id for r in rows]), I.c.status == "planned")
        .values(status="cancelled", error=MERGED)
    )
    return len(rows)


__all__ = ["MERGED", "move_journeys"]
