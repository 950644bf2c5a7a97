"""Erasure ("right to be forgotten"): remove a person's personal data from everything we write.

In one transaction: the customer row, tags and rendered outbox messages are deleted; events lose
their properties; every remaining row that names the customer (events, enrollments, intents,
consents, tick reports) is re-keyed to a pseudonym, so counts, funnels and A/B results stay
correct while nothing leads back to the person. The hashed suppression entries stay: an address
that unsubscribed or bounced is still never contacted. Files we write (the outbox JSONL) are
rewritten without the person's lines, each atomically.

A person may have been known under several profiles that were merged: the id given may be any of
them. Her keys (``identities``: emails, phones, anonymous ids, old ids), segment memberships and
quarantined rows (which hold source rows) are deleted; merge audit rows keep their counts and
reason but name only pseudonyms and lose their evidence.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Text, bindparam, cast, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import JSONB

from prefect_journeys.engine.sqlbits import concat
from prefect_journeys.store.models import (
    Consent,
    Customer,
    CustomerMerge,
    CustomerTag,
    Enrollment,
    Event,
    Identity,
    OutboxMessage,
    Quarantine,
    SegmentMember,
    SendIntent,
    TickRun,
)


def _t(model: Any) -> Any:
    return model.__table__


@dataclass
class ErasureReport:
    customer_id: str
    pseudonym: str
    found: bool
    rows: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)  # file → lines removed


def pseudonym_of(customer_id: str) -> str:
    return "erased:" + hashlib.sha256(customer_id.encode()).hexdigest()[:20]


def forget(engine: Engine, customer_id: str, files: Sequence[Path] = ()) -> ErasureReport:
    """Erase ``customer_id`` from the store and from ``files`` (JSONL we wrote)."""
    customers = _t(Customer)
    with engine.begin() as conn:
        ids = _person_ids(conn, customer_id)
        found = conn.execute(
            select(customers.c.email, customers.c.phone).where(customers.c.id == ids[0])
        ).first()
        report = ErasureReport(customer_id, pseudonym_of(ids[0]), found is not None)
        traces = [v for v in (found or ()) if v and len(v) >= 5]
        for person_id in ids:
            for name, count in _erase_rows(conn, person_id, pseudonym_of(person_id)).items():
                report.rows[name] = report.rows.get(name, 0) + count
        report.rows.update(_erase_identity(conn, ids, traces))
        # Other people's events may mention her (a referral, a shared cart): scrub those values.
        scrubbed = _scrub_mentions(conn, traces, "[erased]")
        if scrubbed:
            report.rows["events_mentioning"] = scrubbed
    for path in files:
        removed = sum(_scrub_jsonl(path, person_id) for person_id in ids)
        if removed:
            report.files[str(path)] = removed
    return report


def _person_ids(conn: Connection, customer_id: str) -> list[str]:
    """The profile behind ``customer_id`` (it may have been merged into another) first, then
    every id merged into that profile."""
    customers, identities = _t(Customer), _t(Identity)
    live = customer_id
    exists = conn.execute(select(customers.c.id).where(customers.c.id == customer_id)).first()
    if exists is None:
        owner = conn.execute(
            select(identities.c.customer_id).where(
                identities.c.kind == "external_id", identities.c.value == customer_id
            )
        ).scalar_one_or_none()
        live = owner or customer_id
    merged = conn.execute(
        select(identities.c.value)
        .where(identities.c.kind == "external_id", identities.c.customer_id == live)
        .order_by(identities.c.value)
    ).scalars()
    return [live, *(m for m in merged if m != live)]


def _erase_identity(conn: Connection, ids: Sequence[str], traces: Sequence[str]) -> dict[str, int]:
    """Her keys, segment memberships and quarantined rows go; merge audits keep pseudonyms only."""
    rows: dict[str, int] = {}

    def run(name: str, stmt: Any) -> None:
        count = conn.execute(stmt).rowcount or 0
        if count:
            rows[name] = rows.get(name, 0) + count

    identities, members, quarantine = _t(Identity), _t(SegmentMember), _t(Quarantine)
    run("identities", delete(identities).where(identities.c.customer_id.in_(ids)))
    run("segment_members", delete(members).where(members.c.customer_id.in_(ids)))
    as_text = cast(quarantine.c.row, Text)
    mentioned = [as_text.contains(v, autoescape=True) for v in traces]
    run("quarantine", delete(quarantine).where(or_(quarantine.c.customer_id.in_(ids), *mentioned)))
    merges = _t(CustomerMerge)
    for person_id in ids:
        for column in (merges.c.from_id, merges.c.into_id):
            run(
                "customer_merges",
                update(merges)
                .where(column == person_id)
                .values({column.name: pseudonym_of(person_id), "evidence": {}}),
            )
    return rows


def _erase_rows(conn: Connection, customer_id: str, alias: str) -> dict[str, int]:
    rows: dict[str, int] = {}

    def run(name: str, stmt: Any) -> None:
        count = conn.execute(stmt).rowcount or 0
        if count:
            rows[name] = rows.get(name, 0) + count

    customers, tags, outbox = _t(Customer), _t(CustomerTag), _t(OutboxMessage)
    run("customers", delete(customers).where(customers.c.id == customer_id))
    run("customer_tags", delete(tags).where(tags.c.customer_id == customer_id))
    run("outbox_messages", delete(outbox).where(outbox.c.customer_id == customer_id))
    events = _t(Event)
    run(
        "events",
        update(events)
        .where(events.c.customer_id == customer_id)
        .values(
            customer_id=alias,
            properties={},
            # a source id may embed anything the sender put in it: replace it whole
            source_id=concat(f"{alias}:", events.c.seq),
        ),
    )
    for model, name in ((Enrollment, "enrollments"), (SendIntent, "send_intents")):
        table = _t(model)
        values: dict[str, Any] = {"customer_id": alias}
        if name == "enrollments":
            values["entry_key"] = None
        run(name, update(table).where(table.c.customer_id == customer_id).values(**values))
    consents = _t(Consent)
    run(
        "consents",
        update(consents)
        .where(consents.c.customer_id == customer_id)
        .values(customer_id=alias, actor=None),
    )
    # Tick reports keep problem lines and dry-run lists that name customer ids.
    ticks = _t(TickRun)
    changed = []
    for tick_id, counts in conn.execute(select(ticks.c.id, ticks.c.counts)):
        text = json.dumps(counts)
        if customer_id in text:
            changed.append({"tid": tick_id, "counts": json.loads(text.replace(customer_id, alias))})
    if changed:
        conn.execute(
            update(ticks).where(ticks.c.id == bindparam("tid")).values(counts=bindparam("counts")),
            changed,
        )
        rows["tick_runs"] = len(changed)
    return rows


def _scrub_mentions(conn: Connection, values: Sequence[str], alias: str) -> int:
    """Replace each value in every event's properties and source id (a scan; erasure is rare)."""
    events = _t(Event)
    total = 0
    for value in values:
        as_text = cast(events.c.properties, Text)
        replaced = func.replace(as_text, value, alias)
        new = cast(replaced, JSONB) if conn.dialect.name == "postgresql" else replaced
        mentioned = or_(
            as_text.contains(value, autoescape=True),
            events.c.source_id.contains(value, autoescape=True),
        )
        total += (
            conn.execute(
                update(events)
                .where(mentioned)
                .values(
                    properties=new,
                    source_id=func.replace(events.c.source_id, value, alias),
                )
            ).rowcount
            or 0
        )
    return total


def _scrub_jsonl(path: Path, customer_id: str) -> int:
    if not path.exists():
        return 0
    kept: list[str] = []
    removed = 0
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                record = {}
            if record.get("customer_id") == customer_id:
                removed += 1
            else:
                kept.append(line)
    if removed:
        temp = path.with_suffix(path.suffix + ".tmp")
        temp.write_text("".join(kept), encoding="utf-8")
        os.replace(temp, path)
    return removed
