"""Two imports creating the same new profiles at once: neither fails, nothing is lost or doubled.

On Postgres new profiles are ``COPY``-ed straight into ``customers``; a clash with a profile a
concurrent import created first rolls that COPY back to its savepoint and the rows are applied
through the staging path (the clashing ones as updates on a second pass).
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine

from prefect_journeys.identity.resolve import ProfileRow, UpsertCounts, upsert_profiles

from .helpers import T0, all_rows


def _rows(ids: range, city: str) -> list[ProfileRow]:
    return [
        ProfileRow(
            f"c{i}",
            fields={"email": f"c{i}@example.com", "email_consent": True},
            attributes={"city": city},
        )
        for i in ids
    ]


def test_second_import_waits_then_updates_the_profiles_the_first_created(
    pg_engine: Engine,
) -> None:
    first_inside = threading.Event()
    release = threading.Event()
    results: dict[str, UpsertCounts] = {}
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with pg_engine.begin() as conn:
                results["first"] = upsert_profiles(
                    conn, _rows(range(0, 50), "Paris"), source="a", now=T0
                )
                first_inside.set()
                release.wait(30)  # hold the transaction open: its rows are not committed yet
        except BaseException as exc:  # reported below
            errors.append(exc)
            first_inside.set()

    def second() -> None:
        try:
            with pg_engine.begin() as conn:
                results["second"] = upsert_profiles(
                    conn, _rows(range(25, 100), "Lyon"), source="b", now=T0
                )
        except BaseException as exc:  # reported below
            errors.append(exc)

    a = threading.Thread(target=first)
    a.start()
    assert first_inside.wait(30)
    b = threading.Thread(target=second)
    b.start()
    time.sleep(1.0)  # the second import is now blocked on the first one's uncommitted keys
    assert b.is_alive(), "the second import did not wait for the first one's keys"
    release.set()
    a.join(30)
    b.join(60)
    assert not errors, errors

    customers = {r["id"]: r for r in all_rows(pg_engine, "customers")}
    assert sorted(customers) == sorted(f"c{i}" for i in range(100))
    # the overlap (c25..c49) was created by the first import, then updated by the second
    assert {customers[f"c{i}"]["attributes"]["city"] for i in range(25, 50)} == {"Lyon"}
    assert {customers[f"c{i}"]["attributes"]["city"] for i in range(0, 25)} == {"Paris"}
    assert results["first"].inserted == 50
    assert results["second"].inserted == 50 and results["second"].updated == 25
    identities = all_rows(pg_engine, "identities", kind="email")
    assert len(identities) == 100  # one email identity per profile, none doubled
    consents = all_rows(pg_engine, "consents")
    assert len(consents) == 100  # one grant per profile: the second import changed no flag
