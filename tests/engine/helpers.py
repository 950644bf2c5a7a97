"""Small hand-built projects and cohorts for engine tests, in simulated time."""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, text

from prefect_journeys.definition.compiler import Plan
from prefect_journeys.definition.project import Project
from prefect_journeys.engine.tick import TickReport, run_tick
from prefect_journeys.store.writes import insert_events, upsert_customers

T0 = datetime(2026, 3, 2, 9, 0)  # a Monday, 09:00 UTC

TEMPLATES = {
    "hello": "channel: email\nsubject: 'Hi {{ customer.first_name }}'\nbody: 'Hello {{ customer.first_name }}'\n",
    "discount": "channel: email\nsubject: '{{ data.percent }}% off'\nbody: 'Take {{ data.percent }}% off'\n",
    "nudge": "channel: sms\nbody: 'Still thinking, {{ customer.first_name }}?'\n",
}


def project(tmp_path: Path, journey_yaml: str, templates: dict[str, str] | None = None) -> Project:
    root = tmp_path / "project"
    (root / "journeys").mkdir(parents=True, exist_ok=True)
    (root / "templates").mkdir(exist_ok=True)
    (root / "segments").mkdir(exist_ok=True)
    for name, body in (templates or TEMPLATES).items():
        (root / "templates" / f"{name}.yaml").write_text(body)
    (root / "journeys" / "j.yaml").write_text(textwrap.dedent(journey_yaml))
    loaded = Project.load(root)
    assert not loaded.problems, [str(p) for p in loaded.problems]
    return loaded


def plan_of(tmp_path: Path, journey_yaml: str, **kw: Any) -> Plan:
    proj = project(tmp_path, journey_yaml, **kw)
    (journey_id,) = proj.journeys
    return proj.plan(journey_id)


def customers(engine: Engine, *ids: str, **fields: Any) -> None:
    rows = []
    for cid in ids:
        row = {
            "id": cid,
            "email": f"{cid}@example.com",
            "phone": "+447700900123",
            "first_name": cid.title(),
            "timezone": "UTC",
            "email_consent": True,
            "sms_consent": True,
            "created_at": T0 - timedelta(days=30),
        }
        row.update(fields)
        rows.append(row)
    with engine.begin() as conn:
        upsert_customers(conn, rows)


def event(engine: Engine, customer: str, name: str, at: datetime, **props: Any) -> None:
    with engine.begin() as conn:
        insert_events(
            conn,
            [
                {
                    "source_id": f"{customer}:{name}:{at.isoformat()}:{sorted(props.items())}",
                    "customer_id": customer,
                    "name": name,
                    "occurred_at": at,
                    "properties": props,
                    "value": props.get("amount"),
                }
            ],
        )


def tick(engine: Engine, plan: Plan, at: datetime, **kw: Any) -> TickReport:
    return run_tick(engine, plan, at, **kw)


def ticks(engine: Engine, plan: Plan, start: datetime, hours: int, every: int = 1) -> None:
    for h in range(0, hours + 1, every):
        run_tick(engine, plan, start + timedelta(hours=h))


def sends(engine: Engine) -> list[tuple[str, str, str]]:
    """(customer, step, status) of every intent."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("select customer_id, step_id, status from send_intents order by customer_id, id")
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def sent_steps(engine: Engine, customer: str) -> list[str]:
    return [s for c, s, st in sends(engine) if c == customer and st == "sent"]


def enrollment(engine: Engine, customer: str) -> Any:
    from prefect_journeys.engine.sqlbits import E

    with engine.connect() as conn:
        return conn.execute(select(E).where(E.c.customer_id == customer).order_by(E.c.id)).all()
