"""The suppression list: hashed addresses that must not be contacted (again).

Scope ``all`` (hard bounces, invalid numbers, SMS opt-outs, provider opt-out errors) blocks every
message; scope ``marketing`` (unsubscribes, spam reports) blocks marketing messages only. Entries
keep no address, so they survive a customer's erasure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Literal

from sqlalchemy import Connection, delete, select

from prefect_journeys.compliance.addresses import AddressKind, address_hash
from prefect_journeys.store.database import utcnow
from prefect_journeys.store.models import Suppression

SUPPRESSIONS = Suppression.__table__  # type: ignore[attr-defined]
Scope = Literal["all", "marketing"]
# Why an address is suppressed → the scope that reason implies.
REASON_SCOPE: dict[str, Scope] = {
    "unsubscribe": "marketing",
    "spamreport": "marketing",
    "bounce": "all",
    "invalid_address": "all",
    "sms_stop": "all",
    "provider_opted_out": "all",
    "manual": "all",
}


def suppress(
    conn: Connection,
    kind: AddressKind,
    address: str,
    reason: str,
    *,
    source: str | None = None,
    scope: Scope | None = None,
) -> bool:
    """Add an address (idempotent). True when it was not yet suppressed in that scope."""
    return suppress_hashes(conn, [(address_hash(kind, address), kind)], reason, source, scope) > 0


def suppress_hashes(
    conn: Connection,
    hashes: Iterable[tuple[str, AddressKind]],
    reason: str,
    source: str | None = None,
    scope: Scope | None = None,
) -> int:
    from prefect_journeys.engine.sqlbits import insert_ignore, run_count

    rows = [
        {
            "address_hash": h,
            "kind": kind,
            "scope": scope or REASON_SCOPE.get(reason, "all"),
            "reason": reason,
            "source": source,
            "created_at": utcnow(),
        }
        for h, kind in dict(hashes).items()
    ]
    if not rows:
        return 0
    stmt = insert_ignore(conn, SUPPRESSIONS).values(rows)
    return run_count(conn, stmt, SUPPRESSIONS.c.id)


def lift(conn: Connection, kind: AddressKind, address: str, scope: Scope = "marketing") -> int:
    """Remove an entry (a customer re-subscribed). Returns the number of rows removed."""
    h = address_hash(kind, address)
    query = delete(SUPPRESSIONS).where(
        SUPPRESSIONS.c.address_hash == h, SUPPRESSIONS.c.scope == scope
    )
    return conn.execute(query).rowcount or 0


def scopes_of(conn: Connection, hashes: Iterable[str]) -> dict[str, set[str]]:
    """Suppression scopes per address hash, for the hashes that have any."""
    wanted = sorted(set(hashes))
    found: dict[str, set[str]] = defaultdict(set)
    for start in range(0, len(wanted), 900):
        chunk = wanted[start : start + 900]
        query: Any = select(SUPPRESSIONS.c.address_hash, SUPPRESSIONS.c.scope).where(
            SUPPRESSIONS.c.address_hash.in_(chunk)
        )
        for h, scope in conn.execute(query):
            found[h].add(scope)
    return dict(found)
