"""Which profile a key belongs to: chunked lookups over ``customers`` and ``identities``.

A profile's own ``customers.id`` is its external id; every other key (an email, a phone, an
anonymous id, the id of a profile merged away) is an ``identities`` row pointing at the profile.
Lookups are a few ``IN (…)`` queries per thousand keys, never one query per key.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from prefect_journeys.identity.bulk import insert_new
from prefect_journeys.identity.normalize import normalize_email, normalize_phone
from prefect_journeys.identity.types import (
    CUSTOMERS,
    ID_MAX,
    IDENTITIES,
    KEY_MAX,
    KINDS,
    IdentityKind,
    among,
    distinct,
    generated_id,
    lookup_chunks,
)
from prefect_journeys.store.database import to_utc_naive, utcnow


def existing_profiles(conn: Connection, ids: Iterable[str]) -> set[str]:
    """The ids among ``ids`` that are ``customers`` rows."""
    found: set[str] = set()
    for chunk in lookup_chunks(conn, distinct(ids)):
        query = select(CUSTOMERS.c.id).where(among(conn, CUSTOMERS.c.id, chunk))
        found.update(conn.execute(query).scalars())
    return found


def owners(conn: Connection, kind: str, values: Iterable[str]) -> dict[str, tuple[str, bool]]:
    """value → (customer id, verified) for the ``identities`` rows of ``kind`` among ``values``."""
    found: dict[str, tuple[str, bool]] = {}
    for chunk in lookup_chunks(conn, distinct(values)):
        query = select(IDENTITIES.c.value, IDENTITIES.c.customer_id, IDENTITIES.c.verified).where(
            IDENTITIES.c.kind == kind, among(conn, IDENTITIES.c.value, chunk)
        )
        for value, customer_id, verified in conn.execute(query):
            found[value] = (customer_id, bool(verified))
    return found


def profiles_by_external_id(conn: Connection, ids: Iterable[str]) -> dict[str, str]:
    """external id → profile id: the profile with that id, else the one it was merged into."""
    wanted = distinct(ids)
    out = {i: i for i in existing_profiles(conn, wanted)}
    rest = [i for i in wanted if i not in out]
    if rest:
        out.update({v: owner for v, (owner, _) in owners(conn, "external_id", rest).items()})
    return out


def canonical_key(kind: IdentityKind, key: str) -> str | None:
    """The stored form of a key of ``kind`` (emails and phones normalised), None if it is none."""
    if kind == "email":
        return normalize_email(key)
    if kind == "phone":
        return normalize_phone(key)
    value = key.strip()
    return value or None


def resolve_keys(
    conn: Connection,
    keys: Iterable[str],
    *,
    kind: IdentityKind = "external_id",
    create: bool = False,
    source: str | None = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """Map keys of ``kind`` to profile ids (the result is keyed by the keys as given).

    Emails and phones are normalised before the lookup (a key that is not a valid address is
    left out). Unknown keys are left out, or, with ``create``, get a new bare profile: id = the
    key for external ids; for other kinds a generated id (``anon_…``, ``email_…``, ``phone_…``,
    a hash: no address in an id) plus an unverified identity row; an email or phone profile also
    gets the address in its column. Creation is ``INSERT … ON CONFLICT DO NOTHING`` followed by
    a re-read, so two syncs creating the same key concurrently end with one profile.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown identity kind {kind!r}; use one of {', '.join(KINDS)}")
    given: dict[str, str] = {}  # key as given → canonical value
    for key in keys:
        value = canonical_key(kind, key)
        if value is not None:
            limit = ID_MAX if kind == "external_id" else KEY_MAX
            if len(value) > limit:
                raise ValueError(f"{kind} key longer than {limit} characters: {value[:40]}…")
            given[key] = value
    values = distinct(given.values())
    if kind == "external_id":
        found = profiles_by_external_id(conn, values)
    else:
        found = {v: owner for v, (owner, _) in owners(conn, kind, values).items()}
    missing = [v for v in values if v not in found]
    if create and missing:
        _create(conn, kind, missing, source, to_utc_naive(now) if now else utcnow())
        if kind == "external_id":
            found.update(profiles_by_external_id(conn, missing))
        else:
            found.update({v: o for v, (o, _) in owners(conn, kind, missing).items()})
    return {key: found[value] for key, value in given.items() if value in found}


def _create(
    conn: Connection, kind: IdentityKind, values: list[str], source: str | None, now: datetime
) -> None:
    """Bare profiles (and identity rows) for unknown keys; rows that exist already are skipped."""
    profiles: list[dict[str, Any]] = []
    identities: list[dict[str, Any]] = []
    for value in values:
        row = new_customer(value if kind == "external_id" else generated_id(kind, value), now)
        if kind in ("email", "phone"):
            row[kind] = value
        profiles.append(row)
        if kind != "external_id":
            identities.append(
                {
                    "kind": kind,
                    "value": value,
                    "customer_id": row["id"],
                    "verified": False,
                    "source": source,
                    "created_at": now,
                }
            )
    insert_new(conn, CUSTOMERS, profiles)
    insert_new(conn, IDENTITIES, identities)


def new_customer(customer_id: str, now: datetime) -> dict[str, Any]:
    """A ``customers`` row with every column (nothing known yet, no consent)."""
    return {
        "id": customer_id,
        "email": None,
        "phone": None,
        "first_name": None,
        "last_name": None,
        "timezone": None,
        "locale": None,
        "email_consent": False,
        "sms_consent": False,
        "whatsapp_consent": False,
        "attributes": {},
        "created_at": now,
        "updated_at": now,
    }


__all__ = [
    "canonical_key",
    "existing_profiles",
    "new_customer",
    "owners",
    "profiles_by_external_id",
    "resolve_keys",
]
