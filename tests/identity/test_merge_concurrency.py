"""Two merges of overlapping profiles at the same time end consistent (row locks on Postgres)."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import Engine, insert, text

from prefect_journeys.identity.resolve import merge_profiles, resolve_keys
from prefect_journeys.store.writes import insert_events, upsert_customers

from .helpers import T0, all_rows, table

ROUNDS = 8


def _setup(engine: Engine, group: int) -> list[str]:
    ids = [f"g{group}-p{k}" for k in range(3)]
    e = table("enrollments")
    with engine.begin() as conn:
        upsert_customers(
            conn,
            [{"id": cid, "created_at": T0 - timedelta(days=10 - k)} for k, cid in enumerate(ids)],
        )
        insert_events(
            conn,
            [
                {"source_id": f"{cid}:{n}", "customer_id": cid, "name": "page", "occurred_at": T0}
                for cid in ids
                for n in range(5)
            ],
        )
        for cid in ids:  # every profile has entry 1 of the same journey: renumbering must not clash
            conn.execute(
                insert(e).values(
                    journey_id="j",
                    version=1,
                    customer_id=cid,
                    entry_seq=1,
                    triggered_at=T0,
                    entered_at=T0,
                    state="completed",
                    updated_at=T0,
                )
            )
    return ids


def test_overlapping_merges_in_two_threads(engine: Engine) -> None:
    groups = [_setup(engine, g) for g in range(ROUNDS)]
    errors: list[BaseException] = []

    def merge(pair: list[str], barrier: threading.Barrier) -> None:
        try:
            barrier.wait()
            with engine.begin() as conn:
                merge_profiles(conn, pair, reason="test", evidence={}, source="t", now=T0)
        except BaseException as exc:  # reported below
            errors.append(exc)

    for p0, p1, p2 in groups:
        barrier = threading.Barrier(2)
        threads = [
            threading.Thread(target=merge, args=([p1, p2], barrier)),
            threading.Thread(target=merge, args=([p0, p1], barrier)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert errors == []
    with engine.connect() as conn:
        for p0, p1, p2 in groups:
            assert resolve_keys(conn, [p0, p1, p2]) == {p0: p0, p1: p0, p2: p0}
            live = conn.execute(
                text("select id from customers where id in (:a, :b, :c)"),
                {"a": p0, "b": p1, "c": p2},
            ).scalars()
            assert list(live) == [p0]
            events = conn.execute(
                text("select count(*) from events where customer_id = :a"), {"a": p0}
            ).scalar_one()
            assert events == 15
            seqs = conn.execute(
                text("select entry_seq from enrollments where customer_id = :a order by entry_seq"),
                {"a": p0},
            ).scalars()
            assert list(seqs) == [1, 2, 3]
    merges = all_rows(engine, "customer_merges")
    assert len(merges) == 2 * ROUNDS
    # Whichever ran first, p2 merged into p1 or p0, and p1 into p0: never the other way round.
    assert {(m["from_id"][-2:], m["into_id"][-2:]) for m in merges} <= {
        ("p1", "p0"),
        ("p2", "p1"),
        ("p2", "p0"),
    }
