"""merge_profiles and alias: everything moves, consent never widens, the merge is audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert, text

from prefect_journeys.compliance import consent
from prefect_journeys.identity.resolve import (
    UnknownProfileError,
    alias,
    merge_profiles,
    resolve_keys,
)
from prefect_journeys.store.writes import add_tags, insert_events, upsert_customers

from .helpers import T0, all_rows, customer, identities, row, table, upsert


def _profile(engine: Engine, cid: str, days_ago: int, **fields: Any) -> None:
    with engine.begin() as conn:
        upsert_customers(conn, [{"id": cid, "created_at": T0 - timedelta(days=days_ago), **fields}])


def _merge(engine: Engine, *ids: str, reason: str = "test") -> str:
    with engine.begin() as conn:
        return merge_profiles(
            conn, list(ids), reason=reason, evidence={"ticket": 7}, source="cli", now=T0
        )


def _enroll(engine: Engine, cid: str, journey: str, seq: int, state: str = "completed") -> int:
    e, i = table("enrollments"), table("send_intents")
    with engine.begin() as conn:
        eid = conn.execute(
            insert(e)
            .values(
                journey_id=journey,
                version=1,
                customer_id=cid,
                entry_seq=seq,
                triggered_at=T0,
                entered_at=T0,
                state=state,
                step_id="s" if state == "active" else None,
                updated_at=T0,
            )
            .returning(e.c.id)
        ).scalar_one()
        conn.execute(
            insert(i).values(
                journey_id=journey,
                version=1,
                step_id="hello",
                customer_id=cid,
                entry_seq=seq,
                enrollment_id=eid,
                channel="email",
                template="hello",
                status="sent",
                due_at=T0,
                created_at=T0,
            )
        )
    return int(eid)


def _seed(engine: Engine, cid: str, n: int) -> None:
    """One of everything that names a customer."""
    q, sm, ob = table("quarantine"), table("segment_members"), table("outbox_messages")
    with engine.begin() as conn:
        insert_events(
            conn,
            [
                {"source_id": f"{cid}:{k}", "customer_id": cid, "name": "page", "occurred_at": T0}
                for k in range(n)
            ],
        )
        add_tags(conn, [(cid, "shared"), (cid, f"own-{cid}")])
        conn.execute(insert(sm).values(segment_id="vip", customer_id=cid, refreshed_at=T0))
        conn.execute(insert(sm).values(segment_id=f"seg-{cid}", customer_id=cid, refreshed_at=T0))
        conn.execute(
            insert(q).values(
                kind="audience",
                target="journey:j/hello",
                customer_id=cid,
                created_at=T0,
                reasons=[],
                row={},
            )
        )
        conn.execute(
            insert(ob).values(
                intent_id=len(cid) * 1000 + n,
                channel="email",
                customer_id=cid,
                body="hi",
                created_at=T0,
            )
        )


def test_everything_moves_to_the_earliest_profile(engine: Engine) -> None:
    _profile(engine, "old", 30, first_name="Ann", attributes={"plan": "pro", "city": "Bonn"})
    _profile(
        engine,
        "new",
        2,
        first_name="Annie",
        last_name="Lee",
        email="ann@example.com",
        attributes={"city": "Köln", "pets": 2},
    )
    upsert(engine, [row("new", anonymous_ids=("dev-9",))])
    _seed(engine, "old", 2)
    _seed(engine, "new", 3)
    _enroll(engine, "old", "welcome", 1)
    _enroll(engine, "new", "welcome", 1)
    _enroll(engine, "new", "welcome", 2)
    _enroll(engine, "new", "winback", 1)

    survivor = _merge(engine, "new", "old")  # argument order does not matter
    assert survivor == "old"
    assert customer(engine, "new") is None
    kept = customer(engine, "old")
    assert kept is not None
    assert (kept["first_name"], kept["last_name"], kept["email"]) == (
        "Ann",
        "Lee",
        "ann@example.com",
    )
    assert kept["attributes"] == {"plan": "pro", "city": "Bonn", "pets": 2}
    with engine.connect() as conn:
        for name in (
            "events",
            "customer_tags",
            "segment_members",
            "quarantine",
            "outbox_messages",
            "enrollments",
            "send_intents",
            "identities",
            "consents",
        ):
            left = conn.execute(text(f"select count(*) from {name} where customer_id = 'new'"))
            assert left.scalar_one() == 0, name
    assert {r["tag"] for r in all_rows(engine, "customer_tags")} == {"shared", "own-old", "own-new"}
    assert {r["segment_id"] for r in all_rows(engine, "segment_members")} == {
        "vip",
        "seg-old",
        "seg-new",
    }
    seqs = sorted((r["journey_id"], r["entry_seq"]) for r in all_rows(engine, "enrollments"))
    assert seqs == [("welcome", 1), ("welcome", 2), ("welcome", 3), ("winback", 1)]
    intent_seqs = sorted(
        (r["journey_id"], r["entry_seq"]) for r in all_rows(engine, "send_intents")
    )
    assert intent_seqs == seqs  # each intent follows its enrollment's new number
    keys = identities(engine)
    assert keys[("external_id", "new")] == ("old", True)
    assert keys[("anonymous_id", "dev-9")][0] == "old"
    (merge,) = all_rows(engine, "customer_merges")
    assert (merge["from_id"], merge["into_id"], merge["reason"], merge["source"]) == (
        "new",
        "old",
        "test",
        "cli",
    )
    assert merge["evidence"] == {"ticket": 7, "profiles": ["new", "old"]}
    assert merge["moved"] == {
        "events": 3,
        "customer_tags": 2,
        "segment_members": 2,
        "quarantine": 1,
        "outbox_messages": 1,
        "enrollments": 3,
        "send_intents": 3,
        "identities": 1,
    }
    # Merging again, by either id, finds one profile: nothing to do.
    assert _merge(engine, "old", "new") == "old"
    assert len(all_rows(engine, "customer_merges")) == 1


def test_survivor_ties_on_created_at_break_by_id(engine: Engine) -> None:
    for cid in ("m", "k", "z"):
        _profile(engine, cid, 5)
    assert _merge(engine, "z", "m", "k") == "k"
    assert sorted(r["from_id"] for r in all_rows(engine, "customer_merges")) == ["m", "z"]


def test_unknown_id_is_a_clear_error_and_nothing_changes(engine: Engine) -> None:
    _profile(engine, "a", 1)
    with pytest.raises(UnknownProfileError, match="no profile 'ghost'"):
        _merge(engine, "a", "ghost")
    assert customer(engine, "a") is not None


def _consents(engine: Engine, cid: str) -> list[tuple[str, str, bool, str]]:
    with engine.connect() as conn:
        return [
            (r["channel"], r["topic"], r["granted"], r["source"])
            for r in consent.history(conn, cid)
        ]


def test_merge_never_widens_consent(engine: Engine) -> None:
    _profile(engine, "early", 10, email_consent=True, sms_consent=True)
    _profile(engine, "late", 1, email_consent=True, sms_consent=False, whatsapp_consent=True)
    with engine.begin() as conn:
        # early unsubscribed from email; late granted it again afterwards (a later record).
        consent.record(conn, "early", "email", False, source="unsubscribe_link")
        consent.record(conn, "late", "email", True, source="signup_form")
        consent.record(conn, "late", "email", True, source="form", topic="news")
    _merge(engine, "early", "late")
    merged = customer(engine, "early")
    assert merged is not None
    # email: early's withdrawal stands; sms: late's flag says no; whatsapp: early's flag says no.
    assert (merged["email_consent"], merged["sms_consent"], merged["whatsapp_consent"]) == (
        False,
        False,
        False,
    )
    with engine.connect() as conn:
        assert consent.decisions(conn, ["early"], "email", "news") == {"early": False}
        assert consent.decisions(conn, ["early"], "email", "other") == {"early": False}
    (merge,) = all_rows(engine, "customer_merges")
    assert (merge["moved"]["consents"], merge["moved"]["consents_withdrawn"]) == (2, 1)
    history = _consents(engine, "early")
    assert history[-1] == (
        "email",
        "*",
        False,
        "merge",
    )  # the withdrawal, re-stated after the grant
    assert len(history) == 4  # both histories kept, one withdrawal appended


def test_an_anonymous_profile_does_not_withdraw_the_customers_consent(engine: Engine) -> None:
    with engine.begin() as conn:
        anon = resolve_keys(
            conn, ["dev-1"], kind="anonymous_id", create=True, now=T0 - timedelta(days=9)
        )
    upsert(engine, [row("cus", email="c@example.com", email_consent=True, sms_consent=True)])
    assert upsert(engine, [row("cus", anonymous_ids=("dev-1",))]).merged == 1
    kept = customer(engine, "cus")
    assert kept is not None and kept["email_consent"] and kept["sms_consent"]
    assert customer(engine, anon["dev-1"]) is None


def test_alias_links_or_merges(engine: Engine) -> None:
    with engine.begin() as conn:
        # Neither known: a profile for the user, the anonymous id linked to it.
        assert alias(conn, "anon-1", "u1", source="events", now=T0) == "u1"
        # Only the previous id known (as an anonymous id): the user id is linked to it.
        assert alias(conn, "anon-1", "u1-again", source="events", now=T0) == "u1"
        assert resolve_keys(conn, ["u1-again"]) == {"u1-again": "u1"}
        # Both known: merged, reason alias.
        conn.execute(
            insert(table("customers")).values(
                id="u2",
                email_consent=False,
                sms_consent=False,
                whatsapp_consent=False,
                attributes={},
                created_at=T0 + timedelta(days=1),
                updated_at=T0,
            )
        )
        assert alias(conn, "u2", "u1", source="events", now=T0) == "u1"
    (merge,) = all_rows(engine, "customer_merges")
    assert (merge["from_id"], merge["into_id"], merge["reason"]) == ("u2", "u1", "alias")
    assert merge["evidence"]["previous_id"] == "u2"
    assert identities(engine)[("anonymous_id", "anon-1")][0] == "u1"
