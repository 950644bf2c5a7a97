"""Merging profiles that turn out to be one person, in the caller's transaction, audited.

- The survivor is the profile created first (earliest ``created_at``, then the smallest id),
  whatever order the ids come in; a known customer always survives a profile that was made only
  for a key (an anonymous id or an address seen in an event, ``anon_…``/``email_…``/``phone_…``),
  so a customer keeps her own id when her earlier anonymous browsing is folded in.
- Everything of each loser moves to the survivor: events, tags (union), consents (see
  :mod:`~prefect_journeys.identity.merge_consent`), identities, segment memberships, quarantine
  entries, outbox messages, enrollments and send intents (see
  :mod:`~prefect_journeys.identity.merge_journeys`). The loser's id becomes an ``external_id``
  identity of the survivor, so later data for the old id lands on the survivor.
- Profile columns: the survivor's non-null values win, the loser fills the gaps; attributes are
  merged with the survivor's winning; consent flags follow the merged consent decision.
- The loser's ``customers`` row is deleted and one ``customer_merges`` row records the merge: who
  into whom, why, the evidence (ids, key kinds and hashes: no addresses) and rows moved per table.
- On Postgres the profiles' rows are locked (``SELECT … FOR UPDATE`` in id order) first, so two
  merges of overlapping profiles run one after the other; the second sees the first's result (an
  id merged away meanwhile resolves to its survivor). SQLite serialises writers anyway.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, literal, select, true, update

from prefect_journeys.engine.sqlbits import EV, OUTBOX, insert_ignore
from prefect_journeys.identity.keys import owners, profiles_by_external_id
from prefect_journeys.identity.merge_consent import merge_consents
from prefect_journeys.identity.merge_journeys import move_journeys
from prefect_journeys.identity.types import (
    CUSTOMERS,
    IDENTITIES,
    MERGES,
    PROFILE_FIELDS,
    TAGS,
    distinct,
    generated_id,
)
from prefect_journeys.store.database import to_utc_naive
from prefect_journeys.store.models import Quarantine, SegmentMember

QUARANTINE = Quarantine.__table__  # type: ignore[attr-defined]
SEGMENT_MEMBERS = SegmentMember.__table__  # type: ignore[attr-defined]
CONTACT_FIELDS = tuple(f for f in PROFILE_FIELDS if not f.endswith("_consent"))
_GENERATED = re.compile(r"(anon|email|phone)_[0-9a-f]{24}")


class UnknownProfileError(ValueError):
    """An id given to a merge names no profile (nor a profile merged away)."""


def merge_profiles(
    conn: Connection,
    ids: Sequence[str],
    *,
    reason: str,
    evidence: Mapping[str, Any],
    source: str | None,
    now: datetime,
) -> str:
    """Merge the given profiles into one and return the survivor's id (see the module
    docstring); records one ``customer_merges`` row per profile merged away. Ids of profiles
    merged away before resolve to their survivor; merging a profile with itself is a no-op."""
    now = to_utc_naive(now)
    rows = _lock(conn, distinct(ids))
    generated = {r["id"]: _generated(conn, r["id"]) for r in rows}
    ordered = sorted(rows, key=lambda r: (generated[r["id"]], r["created_at"], r["id"]))
    survivor = ordered[0]
    for loser in ordered[1:]:
        moved = _absorb(conn, survivor, loser, generated, source, now)
        conn.execute(
            insert(MERGES).values(
                from_id=loser["id"],
                into_id=survivor["id"],
                reason=reason,
                evidence={**evidence, "profiles": sorted(r["id"] for r in rows)},
                moved=moved,
                source=source,
                merged_at=now,
            )
        )
    return str(survivor["id"])


def _lock(conn: Connection, ids: list[str]) -> list[dict[str, Any]]:
    """The live profiles behind ``ids``, locked on Postgres; re-resolved until stable."""
    wanted = ids
    for _ in range(10):
        live = profiles_by_external_id(conn, wanted)
        unknown = [i for i in wanted if i not in live]
        if unknown:
            raise UnknownProfileError(f"no profile {', '.join(map(repr, unknown))}")
        targets = sorted(set(live.values()))
        query = select(CUSTOMERS).where(CUSTOMERS.c.id.in_(targets)).order_by(CUSTOMERS.c.id)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        rows = [dict(r._mapping) for r in conn.execute(query)]
        if len(rows) == len(targets):
            return rows
        wanted = targets  # some were merged away while we waited for the lock: follow them
    raise RuntimeError(f"profiles {', '.join(ids)} kept changing during the merge; retry")


def _absorb(
    conn: Connection,
    survivor: dict[str, Any],
    loser: dict[str, Any],
    generated: Mapping[str, bool],
    source: str | None,
    now: datetime,
) -> dict[str, int]:
    """Move everything of ``loser`` to ``survivor`` (updated in place); rows moved per table."""
    sid, lid = survivor["id"], loser["id"]
    moved: dict[str, int] = {}

    def count(name: str, n: int | None) -> None:
        if n:
            moved[name] = moved.get(name, 0) + int(n)

    moved.update(move_journeys(conn, lid, sid, now))
    flags, consents, withdrawn = merge_consents(
        conn,
        (sid, survivor, generated[sid]),
        (lid, loser, generated[lid]),
        now,
    )
    count("consents", consents)
    count("consents_withdrawn", withdrawn)
    count("events", _rekey(conn, EV, lid, sid))
    count("customer_tags", _union(conn, TAGS, lid, sid))
    count("segment_members", _union(conn, SEGMENT_MEMBERS, lid, sid))
    count("quarantine", _rekey(conn, QUARANTINE, lid, sid))
    count("outbox_messages", _rekey(conn, OUTBOX, lid, sid))
    count("identities", _rekey(conn, IDENTITIES, lid, sid))
    conn.execute(
        insert_ignore(conn, IDENTITIES).values(
            kind="external_id",
            value=lid,
            customer_id=sid,
            verified=True,
            source=source,
            created_at=now,
        )
    )
    values: dict[str, Any] = {
        f: survivor[f] if survivor[f] is not None else loser[f] for f in CONTACT_FIELDS
    }
    values.update(flags)
    values["attributes"] = {**(loser["attributes"] or {}), **(survivor["attributes"] or {})}
    values["updated_at"] = now
    conn.execute(update(CUSTOMERS).where(CUSTOMERS.c.id == sid).values(values))
    survivor.update(values)
    conn.execute(delete(CUSTOMERS).where(CUSTOMERS.c.id == lid))
    return moved


def _rekey(conn: Connection, table: Any, loser: str, survivor: str) -> int:
    result = conn.execute(
        update(table).where(table.c.customer_id == loser).values(customer_id=survivor)
    )
    return int(result.rowcount or 0)


def _union(conn: Connection, table: Any, loser: str, survivor: str) -> int:
    """Copy the loser's rows of a (key, customer_id) table to the survivor, drop the loser's."""
    columns = [c.name for c in table.columns]
    exprs = [literal(survivor) if c == "customer_id" else table.c[c] for c in columns]
    # SQLite needs a WHERE in INSERT … SELECT … ON CONFLICT (parsing ambiguity).
    query = select(*exprs).where(table.c.customer_id == loser, true())
    conn.execute(insert_ignore(conn, table).from_select(columns, query))
    result = conn.execute(delete(table).where(table.c.customer_id == loser))
    return int(result.rowcount or 0)


def _generated(conn: Connection, customer_id: str) -> bool:
    """Whether the profile was made only for a key (its id is that key's generated id)."""
    if not _GENERATED.fullmatch(customer_id):
        return False
    query = select(IDENTITIES.c.kind, IDENTITIES.c.value).where(
        IDENTITIES.c.customer_id == customer_id, IDENTITIES.c.kind != "external_id"
    )
    return any(generated_id(kind, value) == customer_id for kind, value in conn.execute(query))


def alias(
    conn: Connection,
    previous_id: str,
    user_id: str,
    *,
    source: str | None,
    now: datetime,
    evidence: Mapping[str, Any] | None = None,
) -> str:
    """An explicit alias (Segment spec ``alias``/``identify`` with an anonymous id): the two keys
    are one person. ``previous_id`` is looked up as an external id, then as an anonymous id;
    ``user_id`` as an external id. Both known → their profiles merge (reason ``alias``); one
    known → the other key is linked to it (``previous_id`` as an anonymous id, ``user_id`` as an
    external id); neither → a bare profile ``user_id`` with ``previous_id`` linked. Returns the
    profile id."""
    now = to_utc_naive(now)
    user = profiles_by_external_id(conn, [user_id]).get(user_id)
    previous = profiles_by_external_id(conn, [previous_id]).get(previous_id)
    if previous is None:
        owner = owners(conn, "anonymous_id", [previous_id]).get(previous_id)
        previous = owner[0] if owner else None
    facts = {"previous_id": previous_id, "user_id": user_id, **(evidence or {})}
    if user is not None and previous is not None:
        if user == previous:
            return user
        return merge_profiles(
            conn, [previous, user], reason="alias", evidence=facts, source=source, now=now
        )
    if user is None and previous is not None:
        _link(conn, "external_id", user_id, previous, source, now)
        return previous
    if user is None:
        from prefect_journeys.identity.keys import resolve_keys

        user = resolve_keys(conn, [user_id], create=True, source=source, now=now)[user_id]
    _link(conn, "anonymous_id", previous_id, user, source, now)
    return user


def _link(
    conn: Connection, kind: str, value: str, customer_id: str, source: str | None, now: datetime
) -> None:
    conn.execute(
        insert_ignore(conn, IDENTITIES).values(
            kind=kind,
            value=value,
            customer_id=customer_id,
            verified=False,
            source=source,
            created_at=now,
        )
    )


__all__ = ["UnknownProfileError", "alias", "merge_profiles"]
