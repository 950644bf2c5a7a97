"""Upserting a batch of source rows onto profiles: a handful of bulk statements per batch.

1. Each row's external id resolves to its profile (the profile with that id, or the one it was
   merged into); rows for the same profile fold together in order (later values win).
2. Stored profiles are read in chunks and compared: only changed columns are written, grouped
   into one ``executemany`` per set of changed columns; an unchanged row writes nothing.
   Attributes merge key by key into the stored ones.
3. Consent flags: a changed flag writes a consent record (topic ``*``, source
   ``import:<source>``). An import never re-grants a channel whose latest channel-wide record is a
   withdrawal made through another source (an unsubscribe link, an SMS STOP, the CLI): that flag
   keeps its stored value (the customer's own choice outranks a stale CRM field).
4. Keys: the row's email, phone and anonymous ids become ``identities`` rows. A key owned by
   another profile:
   - email/phone, both claims verified → the two profiles are one person: merged;
   - email/phone, only the new claim verified → the key moves to this profile (no merge);
   - email/phone, the new claim unverified → the key stays where it is (no merge): anybody can
     type an address, so an unverified match never merges;
   - anonymous id owned by an anonymous profile (created for that id by :func:`resolve_keys`) →
     folded into this profile; owned by another known customer (a shared device) → left there.
Profiles created concurrently by another transaction are detected (``ON CONFLICT DO NOTHING``
returning nothing) and their rows applied as updates on a second pass.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, select, update

from prefect_journeys.identity.bulk import insert_new, update_by_key
from prefect_journeys.identity.keys import new_customer, owners, profiles_by_external_id
from prefect_journeys.identity.types import (
    CONSENT_FLAGS,
    CONSENTS,
    CUSTOMERS,
    ID_MAX,
    IDENTITIES,
    KEY_MAX,
    PROFILE_FIELDS,
    ProfileRow,
    UpsertCounts,
    among,
    generated_id,
    key_hash,
    lookup_chunks,
)
from prefect_journeys.store.database import to_utc_naive

ALL_TOPICS = "*"
IMPORT_PREFIX = "import:"


@dataclass
class _Profile:
    """The rows of one batch that land on one profile, folded in order."""

    id: str
    rows: list[ProfileRow] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)

    def add(self, row: ProfileRow) -> None:
        self.rows.append(row)
        self.fields.update(row.fields)
        self.attributes.update(row.attributes)


@dataclass(frozen=True)
class _Link:
    """Evidence that two profiles are one person."""

    reason: str
    kind: str
    value: str
    ids: tuple[str, str]
    ref: str | None


def check_rows(rows: Sequence[ProfileRow]) -> None:
    """Reject a batch with a row no profile can hold (one clear line naming the row)."""
    allowed = set(PROFILE_FIELDS)
    for index, row in enumerate(rows):
        where = row.ref or f"row {index + 1}"
        if not row.external_id or not row.external_id.strip():
            raise ValueError(f"{where}: empty external id")
        if len(row.external_id) > ID_MAX:
            raise ValueError(f"{where}: external id longer than {ID_MAX} characters")
        unknown = set(row.fields) - allowed
        if unknown:
            raise ValueError(f"{where}: unknown profile fields {', '.join(sorted(unknown))}")
        for anon in row.anonymous_ids:
            if not anon or len(anon) > KEY_MAX:
                raise ValueError(f"{where}: anonymous id empty or over {KEY_MAX} characters")


def upsert_profiles(
    conn: Connection, rows: Sequence[ProfileRow], *, source: str, now: datetime
) -> UpsertCounts:
    """See the module docstring. Counts are per source row: a row that created a profile is
    ``inserted``; one that changed it ``updated``; one that changed nothing ``unchanged``."""
    check_rows(rows)
    now = to_utc_naive(now)
    counts = UpsertCounts()
    pending: Sequence[ProfileRow] = rows
    for _ in range(3):
        pending = _upsert_once(conn, pending, source, now, counts)
        if not pending:
            return counts
    raise RuntimeError("profiles kept being created concurrently; retry the sync")


def _upsert_once(
    conn: Connection, rows: Sequence[ProfileRow], source: str, now: datetime, counts: UpsertCounts
) -> list[ProfileRow]:
    """One pass; returns the rows whose new profile another transaction created meanwhile."""
    target = profiles_by_external_id(conn, (r.external_id for r in rows))
    profiles: dict[str, _Profile] = {}
    for row in rows:
        pid = target.get(row.external_id, row.external_id)
        profiles.setdefault(pid, _Profile(pid)).add(row)
    known = set(target.values())
    stored = _stored(conn, [pid for pid in profiles if pid in known])
    _keep_withdrawals(conn, profiles, stored)

    fresh = [p for p in profiles.values() if p.id not in stored]
    lost = _insert(conn, fresh, now)
    changes: dict[str, dict[str, Any]] = {}
    for profile in profiles.values():
        if profile.id in stored:
            changes[profile.id] = _changed(stored[profile.id], profile)
    _update(conn, changes, now)

    consent_rows: list[dict[str, Any]] = []
    for profile in profiles.values():
        if profile.id in lost:
            continue
        before = stored.get(profile.id)
        changed = changes.get(profile.id, {}) if before is not None else None
        if changed is None:
            counts.inserted += 1
            counts.updated += len(profile.rows) - 1
        elif changed:
            counts.updated += len(profile.rows)
        else:
            counts.unchanged += len(profile.rows)
        for flag, channel in CONSENT_FLAGS.items():
            value = profile.fields.get(flag)
            if value is None:
                continue
            old = bool(before[flag]) if before is not None else False
            if bool(value) != old:
                consent_rows.append(_consent(profile.id, channel, bool(value), source, now))
    insert_new(conn, CONSENTS, consent_rows)
    counts.consents += len(consent_rows)

    done = [p for p in profiles.values() if p.id not in lost]
    links = _claim_keys(conn, done, source, now)
    counts.merged += _merge_linked(conn, links, source, now)
    return [row for pid in lost for row in profiles[pid].rows]


def _stored(conn: Connection, ids: list[str]) -> dict[str, dict[str, Any]]:
    columns = [CUSTOMERS.c.id, *(CUSTOMERS.c[f] for f in PROFILE_FIELDS), CUSTOMERS.c.attributes]
    out: dict[str, dict[str, Any]] = {}
    for chunk in lookup_chunks(conn, ids):
        for row in conn.execute(select(*columns).where(among(conn, CUSTOMERS.c.id, chunk))):
            out[row.id] = dict(row._mapping)
    return out


def _keep_withdrawals(
    conn: Connection, profiles: Mapping[str, _Profile], stored: Mapping[str, Mapping[str, Any]]
) -> None:
    """Drop a flag that would re-grant a channel the customer withdrew from outside an import."""
    wanted: dict[str, list[str]] = defaultdict(list)  # channel → profile ids
    for pid, before in stored.items():
        for flag, channel in CONSENT_FLAGS.items():
            if profiles[pid].fields.get(flag) and not before[flag]:
                wanted[channel].append(pid)
    for channel, ids in wanted.items():
        flag = next(f for f, c in CONSENT_FLAGS.items() if c == channel)
        for pid in _withdrawn_elsewhere(conn, channel, ids):
            del profiles[pid].fields[flag]


def _withdrawn_elsewhere(conn: Connection, channel: str, ids: Sequence[str]) -> set[str]:
    """Profiles whose latest channel-wide record for ``channel`` is a non-import withdrawal."""
    out: set[str] = set()
    for chunk in lookup_chunks(conn, list(ids)):
        latest = (
            select(CONSENTS.c.customer_id, func.max(CONSENTS.c.id).label("id"))
            .where(
                among(conn, CONSENTS.c.customer_id, chunk),
                CONSENTS.c.channel == channel,
                CONSENTS.c.topic == ALL_TOPICS,
            )
            .group_by(CONSENTS.c.customer_id)
            .subquery()
        )
        query = select(CONSENTS.c.customer_id, CONSENTS.c.granted, CONSENTS.c.source).join(
            latest, and_(latest.c.id == CONSENTS.c.id)
        )
        for customer_id, granted, how in conn.execute(query):
            if not granted and not str(how).startswith(IMPORT_PREFIX):
                out.add(customer_id)
    return out


def _changed(before: Mapping[str, Any], profile: _Profile) -> dict[str, Any]:
    """The columns whose value differs from the stored one (attributes merged key by key)."""
    changed = {k: v for k, v in profile.fields.items() if before[k] != v}
    if profile.attributes:
        old = before["attributes"] or {}
        merged = {**old, **profile.attributes}
        if merged != old:
            changed["attributes"] = merged
    return changed


def _insert(conn: Connection, fresh: Sequence[_Profile], now: datetime) -> set[str]:
    """Insert new profiles; returns the ids another transaction created first (nothing written)."""
    rows = []
    for profile in fresh:
        row = new_customer(profile.id, now)
        row.update(profile.fields)
        row["attributes"] = dict(profile.attributes)
        rows.append(row)
    created = set(insert_new(conn, CUSTOMERS, rows, returning="id"))
    return {p.id for p in fresh} - created


def _update(conn: Connection, changes: Mapping[str, Mapping[str, Any]], now: datetime) -> None:
    """One bulk update per set of changed columns (only those columns are written)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for pid, changed in changes.items():
        if changed:
            groups[tuple(sorted(changed))].append({"id": pid, **changed})
    for batch in groups.values():
        update_by_key(conn, CUSTOMERS, "id", batch, extra={"updated_at": now})


def _consent(pid: str, channel: str, granted: bool, source: str, now: datetime) -> dict[str, Any]:
    return {
        "customer_id": pid,
        "channel": channel,
        "topic": ALL_TOPICS,
        "granted": granted,
        "recorded_at": now,
        "source": f"{IMPORT_PREFIX}{source}",
        "actor": None,
        "text": None,
    }


def _claims(profile: _Profile) -> list[tuple[str, str, bool, str | None]]:
    """(kind, value, verified, ref) of every key the profile's rows name, in row order."""
    out: list[tuple[str, str, bool, str | None]] = []
    for row in profile.rows:
        email, phone = row.fields.get("email"), row.fields.get("phone")
        if email:
            out.append(("email", str(email), row.email_verified, row.ref))
        if phone:
            out.append(("phone", str(phone), row.phone_verified, row.ref))
        out.extend(("anonymous_id", anon, False, row.ref) for anon in row.anonymous_ids)
    return out


def _claim_keys(
    conn: Connection, profiles: Sequence[_Profile], source: str, now: datetime
) -> list[_Link]:
    """Write the identity rows the profiles' keys call for; return the links that merge."""
    claims = [(p.id, *claim) for p in profiles for claim in _claims(p)]
    known: dict[tuple[str, str], tuple[str, bool]] = {}
    for kind in ("email", "phone", "anonymous_id"):
        values = [value for _, k, value, _, _ in claims if k == kind]
        if values:
            known.update({(kind, v): o for v, o in owners(conn, kind, values).items()})
    inserts: dict[tuple[str, str], dict[str, Any]] = {}
    repoint: dict[tuple[str, str], dict[str, Any]] = {}
    links: list[_Link] = []
    for pid, kind, value, verified, ref in claims:
        key = (kind, value)
        if len(value) > KEY_MAX:
            continue  # cannot be a key (the profile column still holds it)
        owner = known.get(key)
        if owner is None:
            known[key] = (pid, verified)
            inserts[key] = {
                "kind": kind,
                "value": value,
                "customer_id": pid,
                "verified": verified,
                "source": source,
                "created_at": now,
            }
            continue
        owner_id, owner_verified = owner
        if owner_id == pid:
            if verified and not owner_verified:
                known[key] = (pid, True)
                _set_owner(inserts, repoint, key, pid, source)
            continue
        if kind == "anonymous_id":
            if owner_id == generated_id(kind, value):
                links.append(_Link("anonymous_id", kind, value, (pid, owner_id), ref))
        elif verified and owner_verified:
            links.append(_Link(f"verified_{kind}", kind, value, (pid, owner_id), ref))
        elif verified:
            known[key] = (pid, True)
            _set_owner(inserts, repoint, key, pid, source)
    insert_new(conn, IDENTITIES, list(inserts.values()))
    if repoint:
        stmt = (
            update(IDENTITIES)
            .where(IDENTITIES.c.kind == bindparam("k"), IDENTITIES.c.value == bindparam("v"))
            .values(customer_id=bindparam("pid"), verified=True, source=bindparam("src"))
        )
        conn.execute(stmt, list(repoint.values()))
    return links


def _set_owner(
    inserts: dict[tuple[str, str], dict[str, Any]],
    repoint: dict[tuple[str, str], dict[str, Any]],
    key: tuple[str, str],
    pid: str,
    source: str,
) -> None:
    """A verified claim takes the key: in the pending insert, or as an update of the stored row."""
    if key in inserts:
        inserts[key].update(customer_id=pid, verified=True)
    else:
        repoint[key] = {"k": key[0], "v": key[1], "pid": pid, "src": source}


def _merge_linked(conn: Connection, links: Sequence[_Link], source: str, now: datetime) -> int:
    """Merge each group of linked profiles (union-find over the links); returns profiles merged."""
    if not links:
        return 0
    from prefect_journeys.identity.merge import merge_profiles

    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for link in links:
        a, b = link.ids
        parent[find(a)] = find(b)
    groups: dict[str, list[_Link]] = defaultdict(list)
    for link in links:
        groups[find(link.ids[0])].append(link)
    merged = 0
    for group in groups.values():
        ids = sorted({i for link in group for i in link.ids})
        evidence = {
            "links": [
                {
                    "kind": link.kind,
                    "key_hash": key_hash(link.kind, link.value),
                    "ids": list(link.ids),
                    "ref": link.ref,
                }
                for link in group
            ]
        }
        reason = ",".join(sorted({link.reason for link in group}))
        merge_profiles(conn, ids, reason=reason, evidence=evidence, source=source, now=now)
        merged += len(ids) - 1
    return merged


__all__ = ["check_rows", "upsert_profiles"]
