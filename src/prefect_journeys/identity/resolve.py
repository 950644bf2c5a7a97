"""Identity resolution: which profile a key belongs to; upserting source rows onto profiles.

INTERFACE (agreed between sources/, segments/ and identity/; the bodies are being written).
A profile is a ``customers`` row. Its ``id`` is the first external id it was known by; other keys
live in ``identities`` (kind, normalised value) → customer_id. All functions run inside the
caller's transaction (``conn``) and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

IdentityKind = str  # "external_id" | "email" | "phone" | "anonymous_id"


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


def upsert_profiles(
    conn: Connection, rows: Sequence[ProfileRow], *, source: str, now: datetime
) -> UpsertCounts:
    """Insert new profiles, update changed ones (unchanged rows are counted, not written), add
    their identities, merge profiles that turn out to be one person (same verified email/phone),
    and record a consent row (source ``import:<source>``) whenever a consent flag changes."""
    raise NotImplementedError


def resolve_keys(
    conn: Connection,
    keys: Iterable[str],
    *,
    kind: IdentityKind = "external_id",
    create: bool = False,
    source: str | None = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """Map keys of ``kind`` to profile ids. Unknown keys are left out, or, with ``create``, get a
    new bare profile (id = the key for external ids)."""
    raise NotImplementedError


def merge_profiles(
    conn: Connection,
    ids: Sequence[str],
    *,
    reason: str,
    evidence: Mapping[str, Any],
    source: str | None,
    now: datetime,
) -> str:
    """Merge the given profiles into one (the survivor is chosen deterministically) and return
    its id; records one ``customer_merges`` row per profile merged away."""
    raise NotImplementedError


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
    are one person. Merges their profiles if both exist, else links the key. Returns the id."""
    raise NotImplementedError
