"""Erasure reaches the identity tables: keys, merge audits, quarantine, segment memberships."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import Engine, MetaData, insert, select

from prefect_journeys.compliance.erasure import forget, pseudonym_of
from prefect_journeys.store.writes import insert_events

from .helpers import T0, all_rows, row, table, upsert

EMAIL, PHONE = "grace.hopper@example.com", "+447700900777"


def _dump(engine: Engine) -> str:
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        return json.dumps(
            {t: [list(r) for r in conn.execute(select(meta.tables[t]))] for t in meta.tables},
            default=str,
        )


def test_forget_by_a_merged_away_id_erases_the_whole_person(engine: Engine) -> None:
    upsert(engine, [row("gh-web", email=EMAIL, email_verified=True, anonymous_ids=("dev-gh",))])
    upsert(
        engine,
        [row("gh-crm", email=EMAIL, email_verified=True, phone=PHONE, ref="crm.csv:9")],
        at=T0 + timedelta(days=1),
    )
    upsert(engine, [row("someone-else", email="other@example.com")])
    q, sm = table("quarantine"), table("segment_members")
    with engine.begin() as conn:
        insert_events(
            conn,
            [{"source_id": "gh:1", "customer_id": "gh-web", "name": "page", "occurred_at": T0}],
        )
        conn.execute(insert(sm).values(segment_id="vip", customer_id="gh-web", refreshed_at=T0))
        conn.execute(
            insert(sm).values(segment_id="vip", customer_id="someone-else", refreshed_at=T0)
        )
        conn.execute(  # a rejected source row: holds her address but names no profile
            insert(q).values(
                kind="sync",
                target="source:crm",
                row_ref="crm.csv:12",
                reasons=["phone not E.164"],
                row={"email": EMAIL, "phone": "07"},
                created_at=T0,
            )
        )
        conn.execute(
            insert(q).values(
                kind="audience",
                target="journey:j/hello",
                customer_id="gh-web",
                reasons=["x"],
                row={},
                created_at=T0,
            )
        )
    assert len(all_rows(engine, "customer_merges")) == 1
    before = _dump(engine)
    assert EMAIL in before and "gh-crm" in before

    report = forget(engine, "gh-crm")  # the id that was merged away
    assert report.found and report.pseudonym == pseudonym_of("gh-web")
    assert report.rows["identities"] == 4  # email, phone, anonymous id, the old id gh-crm
    after = _dump(engine)
    for trace in (EMAIL, PHONE, "gh-web", "gh-crm", "dev-gh", "crm.csv:9"):
        assert trace not in after, trace
    (merge,) = all_rows(engine, "customer_merges")
    assert (merge["from_id"], merge["into_id"]) == (pseudonym_of("gh-crm"), pseudonym_of("gh-web"))
    assert merge["evidence"] == {} and merge["moved"]  # counts stay for the audit
    assert [r["customer_id"] for r in all_rows(engine, "segment_members")] == ["someone-else"]
    assert all_rows(engine, "quarantine") == []
    assert [r["customer_id"] for r in all_rows(engine, "events")] == [pseudonym_of("gh-web")]
    assert {r["customer_id"] for r in all_rows(engine, "identities")} == {"someone-else"}
