"""What identity resolution passes around: a source's profile row, upsert counts, table handles."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, String, any_, func, literal, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnElement

from prefect_journeys.store.models import (
    Consent,
    Customer,
    CustomerMerge,
    CustomerTag,
    Identity,
)

IdentityKind = str  # "external_id" | "email" | "phone" | "anonymous_id"
KINDS = ("external_id", "email", "phone", "anonymous_id")

CUSTOMERS = Customer.__table__  # type: ignore[attr-defined]
IDENTITIES = Identity.__table__  # type: ignore[attr-defined]
MERGES = CustomerMerge.__table__  # type: ignore[attr-defined]
CONSENTS = Consent.__table__  # type: ignore[attr-defined]
TAGS = CustomerTag.__table__  # type: ignore[attr-defined]

# The Customer columns a source may map (everything but id, attributes and the timestamps).
PROFILE_FIELDS = (
    "email",
    "phone",
    "first_name",
    "last_name",
    "timezone",
    "locale",
    "email_consent",
    "sms_consent",
    "whatsapp_consent",
)
CONSENT_FLAGS = {"email_consent": "email", "sms_consent": "sms", "whatsapp_consent": "whatsapp"}
ID_MAX = 200  # customers.id
KEY_MAX = 320  # identities.value
CHUNK = 900  # rows per statement where each row binds parameters
LOOKUP_CHUNK = 20_000  # keys per lookup (one bound array or JSON text, however many keys)

T = TypeVar("T")


@dataclass(frozen=True)
class ProfileRow:
    """One customer row from a source, mapped, normalised and validated.

    ``fields``: only the Customer columns the source maps (email, phone, first_name, last_name,
    timezone, locale, email_consent, sms_consent, whatsapp_consent), already normalised (email
    lower-cased canonical, phone E.164). Unmapped columns are left untouched on update.
    ``attributes``: custom attributes; on update they are merged key by key into the stored ones.
    ``email_verified``: the source vouches for the email (e.g. double opt-in): a verified email
    shared with another profile merges the two.
    """

    external_id: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    attributes: Mapping[str, Any] = field(default_factory=dict)
    email_verified: bool = False
    phone_verified: bool = False
    anonymous_ids: tuple[str, ...] = ()
    ref: str | None = None  # where the row came from (file:line, row key), for merge evidence


@dataclass
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: int = 0  # profiles merged away while upserting
    consents: int = 0  # consent records written for changed consent flags

    def add(self, other: UpsertCounts) -> None:
        for name in ("inserted", "updated", "unchanged", "merged", "consents"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def lookup_chunks(conn: Connection, values: Sequence[T]) -> Iterator[Sequence[T]]:
    """``values`` in pieces sized for :func:`among`."""
    del conn  # one size fits both backends: the keys travel as one parameter
    return chunks(values, LOOKUP_CHUNK)


def among(conn: Connection, column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    """``column`` is one of ``values``, with the keys bound as ONE parameter: ``= ANY(:array)`` on
    Postgres, ``IN (SELECT value FROM json_each(:json))`` on SQLite. A plain ``IN (…)`` binds a
    parameter per key, and building and parsing such statements cost more than the lookups."""
    if conn.dialect.name == "postgresql":
        return column == any_(literal(list(values), ARRAY(String)))
    keys: Any = select(literal_column("value")).select_from(
        func.json_each(literal(json.dumps(list(values))))
    )
    return column.in_(keys)


def key_hash(kind: str, value: str) -> str:
    """A short, stable stand-in for a key in evidence and generated ids (never the raw value)."""
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()[:24]


GENERATED_PREFIX = {"email": "email_", "phone": "phone_", "anonymous_id": "anon_"}


def generated_id(kind: str, value: str) -> str:
    """The id of a profile created for a key that is not an external id (no address in it)."""
    return GENERATED_PREFIX[kind] + key_hash(kind, value)


def distinct(values: Iterable[T]) -> list[T]:
    return list(dict.fromkeys(values))
