"""Small reads and writes shared by the identity tests (real store, no mocks)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from prefect_journeys.identity.resolve import ProfileRow, UpsertCounts, upsert_profiles
from prefect_journeys.store import metadata

T0 = datetime(2026, 3, 2, 9, 0)


def table(name: str) -> Any:
    return metadata.tables[name]


def upsert(
    engine: Engine, rows: list[ProfileRow], at: datetime = T0, source: str = "crm"
) -> UpsertCounts:
    with engine.begin() as conn:
        return upsert_profiles(conn, rows, source=source, now=at)


def all_rows(
    engine: Engine, name: str, order: str | None = None, **where: Any
) -> list[dict[str, Any]]:
    t = table(name)
    query = select(t).where(*[t.c[k] == v for k, v in where.items()])
    if order:
        query = query.order_by(t.c[order])
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def customer(engine: Engine, customer_id: str) -> dict[str, Any] | None:
    found = all_rows(engine, "customers", id=customer_id)
    return found[0] if found else None


def identities(engine: Engine) -> dict[tuple[str, str], tuple[str, bool]]:
    return {
        (r["kind"], r["value"]): (r["customer_id"], r["verified"])
        for r in all_rows(engine, "identities")
    }


def row(cid: str, **kw: Any) -> ProfileRow:
    """A profile row with ``fields`` given as keyword arguments (plus the ProfileRow options)."""
    options = {
        k: kw.pop(k)
        for k in ("attributes", "email_verified", "phone_verified", "anonymous_ids", "ref")
        if k in kw
    }
    return ProfileRow(external_id=cid, fields=kw, **options)
