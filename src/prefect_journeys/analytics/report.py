"""One journey's figures from the store: stage funnel, per-step counts, variants and totals.

Plain SQL over the event log and the enrollments table (no Prefect): one query per group of
figures, never one per customer. The engine writes the events read here: ``journey.entered``,
``journey.step`` (with ``step_id``, ``stage``, ``variant``), ``journey.converted``,
``journey.completed``, ``journey.exited`` and ``message.sent|deferred|suppressed|delivered|opened|
clicked`` (with ``step_id``, ``variant``, ``intent_id``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, String, cast, func, select

from prefect_journeys.definition.model import DEFAULT_STAGES
from prefect_journeys.store.models import Enrollment, Event

events_t = Event.__table__  # type: ignore[attr-defined]
enrollments_t = Enrollment.__table__  # type: ignore[attr-defined]

MESSAGE_EVENTS = (
    "message.sent",
    "message.deferred",
    "message.suppressed",
    "message.delivered",
    "message.opened",
    "message.clicked",
)
TOTAL_EVENTS = ("journey.entered", "journey.converted", "journey.exited", "journey.completed")
STEP_COUNTS = ("entered", *(name.removeprefix("message.") for name in MESSAGE_EVENTS))
HOLDOUT_NAMES = ("holdout",)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def totals(conn: Connection, journey_id: str) -> dict[str, int]:
    """Entered, converted, exited and completed (events), plus enrollments now active."""
    rows = conn.execute(
        select(events_t.c.name, func.count())
        .where(events_t.c.journey_id == journey_id, events_t.c.name.in_(TOTAL_EVENTS))
        .group_by(events_t.c.name)
    ).all()
    found = {str(name): int(count) for name, count in rows}
    out = {name.removeprefix("journey."): found.get(name, 0) for name in TOTAL_EVENTS}
    active = conn.execute(
        select(func.count())
        .select_from(enrollments_t)
        .where(enrollments_t.c.journey_id == journey_id, enrollments_t.c.state == "active")
    ).scalar_one()
    out["active"] = int(active)
    return out


def stage_funnel(
    conn: Connection, journey_id: str, stages: Sequence[str] | None = None, *, entered: int = 0
) -> list[dict[str, Any]]:
    """Distinct enrollments that reached a step of each stage, in stage order.

    ``stages`` gives the order (and lists stages with no enrollments as zeros); without it the
    default stage order is used and only stages that occur are shown. Stages not in the order
    follow, in the order they first occurred.
    """
    rows = conn.execute(
        select(
            events_t.c.stage,
            func.count(func.distinct(events_t.c.enrollment_id)),
            func.min(events_t.c.seq),
        )
        .where(
            events_t.c.journey_id == journey_id,
            events_t.c.name == "journey.step",
            events_t.c.stage.is_not(None),
        )
        .group_by(events_t.c.stage)
    ).all()
    counts = {str(stage): int(count) for stage, count, _ in rows}
    first_seen = {str(stage): int(seq or 0) for stage, _, seq in rows}
    return funnel_rows(counts, first_seen, stages, entered)


def funnel_rows(
    counts: dict[str, int],
    first_seen: dict[str, int],
    stages: Sequence[str] | None,
    entered: int,
) -> list[dict[str, Any]]:
    """Stage funnel rows from enrollments per stage (see :func:`stage_funnel` for the order)."""
    order = list(stages) if stages is not None else [s for s in DEFAULT_STAGES if s in counts]
    order += sorted((s for s in counts if s not in order), key=lambda s: first_seen[s])
    funnel: list[dict[str, Any]] = []
    previous: int | None = None
    for stage in order:
        count = counts.get(stage, 0)
        funnel.append(
            {
                "stage": stage,
                "enrollments": count,
                "rate_from_previous": _rate(count, previous) if previous is not None else None,
                "rate_from_entered": _rate(count, entered),
            }
        )
        previous = count
    return funnel


def step_counts(
    conn: Connection, journey_id: str, steps: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Per step: entered (``journey.step`` events) and messages sent, deferred, suppressed,
    delivered, opened, clicked (distinct intents). Ordered by ``steps``, else by first entry."""
    entered_rows = conn.execute(
        select(
            events_t.c.step_id,
            func.count(),
            func.max(events_t.c.stage),
            func.min(events_t.c.seq),
        )
        .where(events_t.c.journey_id == journey_id, events_t.c.name == "journey.step")
        .group_by(events_t.c.step_id)
    ).all()
    # A provider may report an open or a click more than once: count each message once.
    message_key = func.coalesce(cast(events_t.c.intent_id, String), events_t.c.source_id)
    message_rows = conn.execute(
        select(
            events_t.c.step_id,
            events_t.c.name,
            func.count(func.distinct(message_key)),
            func.min(events_t.c.seq),
        )
        .where(events_t.c.journey_id == journey_id, events_t.c.name.in_(MESSAGE_EVENTS))
        .group_by(events_t.c.step_id, events_t.c.name)
    ).all()
    table: dict[str, dict[str, Any]] = {}
    first_seen: dict[str, int] = {}

    def row(step_id: str) -> dict[str, Any]:
        if step_id not in table:
            table[step_id] = {"step_id": step_id, "stage": None, **dict.fromkeys(STEP_COUNTS, 0)}
        return table[step_id]

    for step_id, count, stage, seq in entered_rows:
        if step_id is None:
            continue
        item = row(str(step_id))
        item["entered"] = int(count)
        item["stage"] = stage
        first_seen[str(step_id)] = min(first_seen.get(str(step_id), int(seq)), int(seq))
    for step_id, name, count, seq in message_rows:
        if step_id is None:
            continue
        row(str(step_id))[str(name).removeprefix("message.")] = int(count)
        first_seen[str(step_id)] = min(first_seen.get(str(step_id), int(seq)), int(seq))
    order = list(steps or [])
    order += sorted((s for s in table if s not in order), key=lambda s: first_seen.get(s, 0))
    return [row(s) for s in order]


def variant_conversion(
    conn: Connection, journey_id: str, holdouts: Sequence[str] = HOLDOUT_NAMES
) -> list[dict[str, Any]]:
    """Per variant (``None``: enrollments never split): enrollments, converted, rate, messages sent,
    and the lift over the holdout (relative, and in percentage points)."""
    rows = conn.execute(
        select(
            enrollments_t.c.variant,
            func.count(),
            func.count(enrollments_t.c.converted_at),
        )
        .where(enrollments_t.c.journey_id == journey_id)
        .group_by(enrollments_t.c.variant)
    ).all()
    sent_rows = conn.execute(
        select(events_t.c.variant, func.count())
        .where(events_t.c.journey_id == journey_id, events_t.c.name == "message.sent")
        .group_by(events_t.c.variant)
    ).all()
    sent = {variant: int(count) for variant, count in sent_rows}
    variants: list[dict[str, Any]] = []
    for variant, enrolled, converted in rows:
        variants.append(
            {
                "variant": variant,
                "holdout": variant in holdouts,
                "enrollments": int(enrolled),
                "converted": int(converted),
                "rate": _rate(int(converted), int(enrolled)),
                "sent": sent.get(variant, 0),
            }
        )
    variants.sort(key=lambda v: (v["variant"] is None, v["holdout"], str(v["variant"])))

    def exact(item: dict[str, Any]) -> float | None:  # unrounded, for the lift
        return item["converted"] / item["enrollments"] if item["enrollments"] else None

    holdout = next((v for v in variants if v["holdout"] and v["enrollments"]), None)
    base = exact(holdout) if holdout is not None else None
    for item in variants:
        rate = exact(item)
        if base is None or item["holdout"] or item["variant"] is None or rate is None:
            item["lift_vs_holdout"] = None
            item["lift_points"] = None
            continue
        item["lift_points"] = round((rate - base) * 100, 2)
        item["lift_vs_holdout"] = round((rate - base) / base, 4) if base else None
    return variants


def journey_report(
    conn: Connection,
    journey_id: str,
    *,
    stages: Sequence[str] | None = None,
    steps: Sequence[str] | None = None,
    holdouts: Sequence[str] = HOLDOUT_NAMES,
) -> dict[str, Any]:
    """Everything above for one journey, as plain data (JSON-ready).

    ``stages`` and ``steps`` fix the display order (e.g. from the journey's plan); ``holdouts``
    names the control variants that lift is measured against.
    """
    summary = totals(conn, journey_id)
    return {
        "journey": journey_id,
        "totals": summary,
        "funnel": stage_funnel(conn, journey_id, stages, entered=summary["entered"]),
        "steps": step_counts(conn, journey_id, steps),
        "variants": variant_conversion(conn, journey_id, holdouts),
    }


__all__ = ["journey_report", "stage_funnel", "step_counts", "totals", "variant_conversion"]
