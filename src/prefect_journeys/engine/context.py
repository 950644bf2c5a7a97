"""What every phase of a tick knows: the connection, the plan and version, the clock, the report."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, literal_column
from sqlalchemy.sql.elements import ColumnElement

from prefect_journeys.segments.sql import SqlContext

if TYPE_CHECKING:
    from prefect_journeys.definition.compiler import Plan
    from prefect_journeys.definition.model import Journey


@dataclass
class TickReport:
    journey: str
    version: int
    as_of: datetime
    dry_run: bool = False
    entered: int = 0
    moved: dict[str, int] = field(default_factory=dict)  # arrivals per step
    sent_by_step: dict[str, int] = field(default_factory=dict)
    converted_by_step: dict[str, int] = field(default_factory=dict)  # step at conversion
    intents: int = 0
    sent: int = 0
    deferred: int = 0
    suppressed: int = 0
    failed: int = 0
    cancelled: int = 0
    unknown: int = 0
    converted: int = 0
    exited: int = 0
    completed: int = 0
    retried: int = 0  # provider said "not now" (429): planned again after its reset
    would_send: list[dict[str, Any]] = field(default_factory=list)  # dry run: ids only
    # clear messages naming journey, step and customer id (never an address), at most 50
    problems: list[str] = field(default_factory=list)
    # senders that could not open: their messages stay planned (the tick is then a failure)
    blocked: list[str] = field(default_factory=list)
    # the audience gate (expectations/gate.py): intents quarantined, send steps held (one line
    # each: journey, step, fraction, top failed expectations; the tick is then a failure) and
    # one record per validated step (counts and expectation labels only)
    quarantined: int = 0
    held: list[str] = field(default_factory=list)
    validations: list[dict[str, Any]] = field(default_factory=list)
    task_runs: int = 0

    def problem(self, message: str) -> None:
        if len(self.problems) < 50:
            self.problems.append(message)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "would_send"}
        out["as_of"] = self.as_of.isoformat()
        if self.dry_run:
            out["would_send"] = self.would_send
        return out

    def add(self, other: TickReport) -> None:
        for key in ("entered", "intents", "sent", "deferred", "suppressed", "failed", "cancelled"):
            setattr(self, key, getattr(self, key) + getattr(other, key))
        for key in ("unknown", "retried", "converted", "exited", "completed", "quarantined"):
            setattr(self, key, getattr(self, key) + getattr(other, key))
        for mine, theirs in (
            (self.moved, other.moved),
            (self.sent_by_step, other.sent_by_step),
            (self.converted_by_step, other.converted_by_step),
        ):
            for step, count in theirs.items():
                mine[step] = mine.get(step, 0) + count

    def per_step(self, step_ids: list[str]) -> list[dict[str, Any]]:
        """Rows for the tick's table artifact: arrivals, sends and conversions per step."""
        return [
            {
                "step": step,
                "moved_in": self.moved.get(step, 0),
                "sent": self.sent_by_step.get(step, 0),
                "converted": self.converted_by_step.get(step, 0),
            }
            for step in step_ids
        ]


@dataclass
class StepContext:
    """One phase's view: a connection, one journey version's plan, and the tick's clock."""

    conn: Connection
    plan: Plan
    version: int
    as_of: datetime
    now: datetime
    report: TickReport

    @property
    def journey(self) -> Journey:
        return self.plan.journey

    @property
    def journey_id(self) -> str:
        return str(self.plan.journey.id)

    @property
    def dialect(self) -> str:
        return str(self.conn.dialect.name)

    def sql(self, enrollment_id: ColumnElement[Any] | None = None) -> SqlContext:
        return SqlContext(
            as_of=self.as_of,
            segments=dict(self.plan.segments),
            enrollment_id=enrollment_id,
            journey_id=self.journey_id,
            dialect=self.dialect,
        )

    def json(self, value: dict[str, Any] | None = None) -> ColumnElement[Any]:
        """A JSON constant usable in ``INSERT … SELECT`` on both dialects."""
        text = json.dumps(value or {}, sort_keys=True).replace("'", "''")
        return literal_column(f"'{text}'::jsonb" if self.dialect == "postgresql" else f"'{text}'")
