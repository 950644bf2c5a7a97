"""Small hand-built projects and cohorts for engine tests, in simulated time."""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, text

from prefect_journeys.definition.compiler import Plan
from prefect_journeys.definition.project import Project
from prefect_journeys.engine.context import TickReport
from prefect_journeys.engine.tick import run_tick
from prefect_journeys.store.writes import insert_events, upsert_customers

T0 = datetime(2026, 3, 2, 9, 0)  # a Monday, 09:00 UTC

TEMPLATES = {
    "hello": (
        "channel: email\nsubject: 'Hi {{ customer.first_name }}'\n"
        "body: 'Hello {{ customer.first_name }}'\n"
    ),
    "discount": (
        "channel: email\nsubject: '{{ data.percent }}% off'\nbody: 'Take {{ data.percent }}% off'\n"
    ),
    "nudge": "channel: sms\nbody: 'Still thinking, {{ customer.first_name }}?'\n",
}


def project(
    tmp_path: Path,
    journey_yaml: str | dict[str, str],
    templates: dict[str, str] | None = None,
    segments: dict[str, str] | None = None,
) -> Project:
    """A project folder under ``tmp_path`` (rewritten in place when called again: a new version).

    ``journey_yaml``: one journey (file ``j.yaml``) or several ({file stem: yaml}).
    """
    root = tmp_path / "project"
    (root / "journeys").mkdir(parents=True, exist_ok=True)
    (root / "templates").mkdir(exist_ok=True)
    (root / "segments").mkdir(exist_ok=True)
    for name, body in (templates or TEMPLATES).items():
        (root / "templates" / f"{name}.yaml").write_text(textwrap.dedent(body))
    for name, body in (segments or {}).items():
        (root / "segments" / f"{name}.yaml").write_text(textwrap.dedent(body))
    files = {"j": journey_yaml} if isinstance(journey_yaml, str) else journey_yaml
    for name, body in files.items():
        (root / "journeys" / f"{name}.yaml").write_text(textwrap.dedent(body))
    loaded = Project.load(root)
    assert not loaded.problems, [str(p) for p in loaded.problems]
    return loaded


def plan_of(tmp_path: Path, journey_yaml: str, **kw: Any) -> Plan:
    proj = project(tmp_path, journey_yaml, **kw)
    (journey_id,) = proj.journeys
    return proj.plan(journey_id)


def plans_of(tmp_path: Path, journeys: dict[str, str], **kw: Any) -> dict[str, Plan]:
    """Several journeys in one project: {journey id: plan}."""
    proj = project(tmp_path, journeys, **kw)
    return {str(j): proj.plan(j) for j in proj.journeys}


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


def event(
    engine: Engine,
    customer: str,
    name: str,
    at: datetime,
    *,
    columns: dict[str, Any] | None = None,
    **props: Any,
) -> None:
    """Insert one customer event; ``columns`` sets event columns (e.g. enrollment_id, step_id)."""
    extra = columns or {}
    with engine.begin() as conn:
        insert_events(
            conn,
            [
                {
                    "source_id": f"{customer}:{name}:{at.isoformat()}:{sorted(props.items())}"
                    f":{sorted(extra.items())}",
                    "customer_id": customer,
                    "name": name,
                    "occurred_at": at,
                    "properties": props,
                    "value": props.get("amount"),
                    **extra,
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
        return [(r[0], r[1], r[2]) for r in rows]


def sent_steps(engine: Engine, customer: str) -> list[str]:
    return [s for c, s, st in sends(engine) if c == customer and st == "sent"]


def enrollment(engine: Engine, customer: str) -> Any:
    from prefect_journeys.engine.sqlbits import E

    with engine.connect() as conn:
        return conn.execute(select(E).where(E.c.customer_id == customer).order_by(E.c.id)).all()


# ---------------------------------------------------------------------------------------------
# Richer reads and drivers


def run_span(
    engine: Engine,
    plan: Plan,
    start: datetime,
    end: datetime,
    every: timedelta = timedelta(hours=1),
) -> None:
    """Ticks at start, start + every, … up to and including end."""
    at = start
    while at <= end:
        run_tick(engine, plan, at)
        at += every


def rows(engine: Engine, query: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def _table(name: str) -> Any:
    from prefect_journeys.store import metadata

    return metadata.tables[name]


def _where(table: Any, filters: dict[str, Any]) -> list[Any]:
    return [table.c[k] == v for k, v in filters.items()]


def intents(engine: Engine, **where: Any) -> list[dict[str, Any]]:
    """Every send intent as a dict (optionally filtered on equal columns), by customer then id."""
    t = _table("send_intents")
    return rows(engine, select(t).where(*_where(t, where)).order_by(t.c.customer_id, t.c.id))


def events(engine: Engine, name: str, **where: Any) -> list[dict[str, Any]]:
    t = _table("events")
    query = select(t).where(t.c.name == name, *_where(t, where))
    return rows(engine, query.order_by(t.c.customer_id, t.c.seq))


def outbox(engine: Engine) -> list[dict[str, Any]]:
    t = _table("outbox_messages")
    return rows(engine, select(t).order_by(t.c.customer_id, t.c.intent_id))


def enrollments(engine: Engine, customer: str | None = None, **where: Any) -> list[dict[str, Any]]:
    t = _table("enrollments")
    if customer is not None:
        where["customer_id"] = customer
    query = select(t).where(*_where(t, where))
    return rows(engine, query.order_by(t.c.customer_id, t.c.journey_id, t.c.entry_seq))


def customer_row(engine: Engine, customer: str) -> dict[str, Any]:
    t = _table("customers")
    (found,) = rows(engine, select(t).where(t.c.id == customer))
    return found


def run_at(engine: Engine, plan: Plan, *times: datetime) -> None:
    for at in times:
        run_tick(engine, plan, at)


def steps_visited(engine: Engine, customer: str) -> list[str]:
    """The steps a customer arrived at (``journey.step`` events), in order."""
    return [e["step_id"] for e in events(engine, "journey.step", customer_id=customer)]


def sent_to(engine: Engine) -> dict[str, list[str]]:
    """customer → steps whose message was sent, in send order."""
    out: dict[str, list[str]] = {}
    for i in sorted(intents(engine, status="sent"), key=lambda r: (r["sent_at"], r["id"])):
        out.setdefault(i["customer_id"], []).append(i["step_id"])
    return out


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per table, every table of the store."""
    from prefect_journeys.store import metadata

    with engine.connect() as conn:
        return {
            t.name: int(conn.execute(text(f"select count(*) from {t.name}")).scalar_one())
            for t in metadata.sorted_tables
        }


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the store's tables for equality checks (tick_runs and journey_state, which log
    each tick, excepted)."""
    from prefect_journeys.store import metadata

    skip = {"tick_runs", "journey_state"}
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for t in metadata.sorted_tables:
            if t.name in skip:
                continue
            key = list(t.primary_key.columns)
            out[t.name] = [tuple(r) for r in conn.execute(select(t).order_by(*key))]
    return out


def tag(engine: Engine, customer: str, *names: str) -> None:
    from prefect_journeys.store.writes import add_tags

    with engine.begin() as conn:
        add_tags(conn, [(customer, n) for n in names])


def tags_of(engine: Engine, customer: str) -> set[str]:
    t = _table("customer_tags")
    return {r["tag"] for r in rows(engine, select(t.c.tag).where(t.c.customer_id == customer))}


def variant_of(journey: str, step: str, customer: str, weights: list[tuple[str, int]]) -> str:
    """The split variant the engine must give (md5 bucket), computed in Python."""
    from prefect_journeys.store.database import bucket

    slot, low = bucket(f"{journey}:{step}:{customer}"), 0
    for name, weight in weights:
        if low <= slot < low + weight:
            return name
        low += weight
    raise AssertionError("weights do not cover 0..99")


def when(day: int, hour: int, minute: int = 0) -> datetime:
    """2026-03-<day> hour:minute (naive UTC)."""
    return datetime(2026, 3, day, hour, minute)
