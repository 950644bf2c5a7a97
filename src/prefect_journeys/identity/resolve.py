"""Identity resolution: which profile a key belongs to; upserting source rows onto profiles.

The agreed interface (sources/, segments/ and identity/ code against it). A profile is a
``customers`` row. Its ``id`` is the first external id it was known by; other keys live in
``identities`` (kind, normalised value) → customer_id. All functions run inside the caller's
transaction (``conn``) and never commit. The bodies live in :mod:`.keys` (lookups),
:mod:`.upsert` (batches of source rows) and :mod:`.merge` (merges and aliases).
"""

from __future__ import annotations

from prefect_journeys.identity.keys import resolve_keys
from prefect_journeys.identity.merge import UnknownProfileError, alias, merge_profiles
from prefect_journeys.identity.types import IdentityKind, ProfileRow, UpsertCounts
from prefect_journeys.identity.upsert import upsert_profiles

__all__ = [
    "IdentityKind",
    "ProfileRow",
    "UnknownProfileError",
    "UpsertCounts",
    "alias",
    "merge_profiles",
    "resolve_keys",
    "upsert_profiles",
]
