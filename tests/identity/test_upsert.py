"""upsert_profiles and resolve_keys on SQLite and the real Postgres."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, text

from prefect_journeys.compliance import consent
from prefect_journeys.identity.resolve import resolve_keys
from prefect_journeys.identity.types import generated_id

from .helpers import T0, all_rows, customer, identities, row, upsert


def test_insert_then_rerun_writes_nothing(engine: Engine) -> None:
    rows = [
        row(
            f"c{i}",
            email=f"c{i}@example.com",
            first_name="Ann",
            email_consent=True,
            attributes={"plan": "pro", "n": i},
        )
        for i in range(2500)  # more than one lookup chunk
    ]
    first = upsert(engine, rows)
    assert (first.inserted, first.updated, first.unchanged) == (2500, 0, 0)
    assert first.consents == 2500  # a granted flag on a new profile is a consent decision
    again = upsert(engine, rows, at=T0 + timedelta(days=1))
    assert (again.inserted, again.updated, again.unchanged, again.consents) == (0, 0, 2500, 0)
    stored = customer(engine, "c7")
    assert stored is not None
    assert stored["updated_at"] == T0  # an unchanged row is not written
    assert stored["email"] == "c7@example.com" and stored["attributes"] == {"plan": "pro", "n": 7}
    assert identities(engine)[("email", "c7@example.com")] == ("c7", False)


def test_update_changes_only_mapped_columns_and_merges_attributes(engine: Engine) -> None:
    upsert(
        engine, [row("ann", email="ann@example.com", first_name="Ann", attributes={"a": 1, "b": 2})]
    )
    later = T0 + timedelta(hours=1)
    counts = upsert(engine, [row("ann", last_name="Lee", attributes={"b": 3, "c": 4})], at=later)
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 1, 0)
    stored = customer(engine, "ann")
    assert stored is not None
    assert stored["first_name"] == "Ann" and stored["last_name"] == "Lee"
    assert stored["email"] == "ann@example.com"  # not mapped by the second source: untouched
    assert stored["attributes"] == {"a": 1, "b": 3, "c": 4}
    assert stored["updated_at"] == later and stored["created_at"] == T0
    # Same attribute values again: unchanged.
    assert upsert(engine, [row("ann", attributes={"c": 4})]).unchanged == 1


def test_consent_flag_change_writes_a_record_but_never_undoes_an_unsubscribe(
    engine: Engine,
) -> None:
    upsert(engine, [row("bob", email="bob@example.com", email_consent=True, sms_consent=False)])
    upsert(engine, [row("bob", email_consent=False)], at=T0 + timedelta(hours=1))
    with engine.connect() as conn:
        records = consent.history(conn, "bob")
    assert [(r["channel"], r["granted"], r["source"]) for r in records] == [
        ("email", True, "import:crm"),
        ("email", False, "import:crm"),
    ]
    # An import may grant again after an import withdrew...
    upsert(engine, [row("bob", email_consent=True)], at=T0 + timedelta(hours=2))
    assert customer(engine, "bob")["email_consent"] is True  # type: ignore[index]
    # ...but not after the customer unsubscribed through us.
    with engine.begin() as conn:
        consent.record(conn, "bob", "email", False, source="unsubscribe_link")
    counts = upsert(engine, [row("bob", email_consent=True)], at=T0 + timedelta(hours=3))
    assert (counts.updated, counts.unchanged, counts.consents) == (0, 1, 0)
    assert customer(engine, "bob")["email_consent"] is False  # type: ignore[index]


def test_rows_for_one_profile_fold_in_order(engine: Engine) -> None:
    counts = upsert(
        engine, [row("dup", first_name="A"), row("dup", first_name="B", locale="de-DE")]
    )
    assert (counts.inserted, counts.updated) == (1, 1)
    stored = customer(engine, "dup")
    assert stored is not None and (stored["first_name"], stored["locale"]) == ("B", "de-DE")


def test_verified_email_on_both_sides_merges(engine: Engine) -> None:
    upsert(engine, [row("web-1", email="eve@example.com", email_verified=True, first_name="Eve")])
    later = T0 + timedelta(days=1)
    counts = upsert(
        engine,
        [
            row(
                "crm-9",
                email="eve@example.com",
                email_verified=True,
                last_name="Stone",
                ref="crm.csv:2",
            )
        ],
        at=later,
    )
    assert (counts.inserted, counts.merged) == (1, 1)
    # web-1 was created first: it survives, crm-9 is now one of its keys.
    assert customer(engine, "crm-9") is None
    stored = customer(engine, "web-1")
    assert stored is not None and (stored["first_name"], stored["last_name"]) == ("Eve", "Stone")
    with engine.connect() as conn:
        assert resolve_keys(conn, ["crm-9", "web-1"]) == {"crm-9": "web-1", "web-1": "web-1"}
    (merge,) = all_rows(engine, "customer_merges")
    assert (merge["from_id"], merge["into_id"], merge["reason"]) == (
        "crm-9",
        "web-1",
        "verified_email",
    )
    assert "eve@example.com" not in str(merge["evidence"])  # hashes only
    assert merge["evidence"]["links"][0]["ref"] == "crm.csv:2"
    # Later data for crm-9 lands on the survivor and counts as an update, not a new profile.
    again = upsert(engine, [row("crm-9", locale="en-GB")], at=later + timedelta(days=1))
    assert (again.inserted, again.updated) == (0, 1)
    assert customer(engine, "web-1")["locale"] == "en-GB"  # type: ignore[index]


def test_unverified_matches_never_merge(engine: Engine) -> None:
    upsert(engine, [row("a", email="same@example.com", phone="+447700900123")])
    upsert(engine, [row("b", email="same@example.com", phone="+447700900123", email_verified=True)])
    # Only one claim verified: no merge; the verified claim takes the email key.
    assert customer(engine, "a") is not None and customer(engine, "b") is not None
    keys = identities(engine)
    assert keys[("email", "same@example.com")] == ("b", True)
    assert keys[("phone", "+447700900123")] == ("a", False)  # unverified: stays where it was
    assert all_rows(engine, "customer_merges") == []


def test_anonymous_profile_is_folded_but_a_shared_device_is_not(engine: Engine) -> None:
    with engine.begin() as conn:
        anon = resolve_keys(conn, ["dev-1"], kind="anonymous_id", create=True, now=T0)["dev-1"]
    assert anon == generated_id("anonymous_id", "dev-1")
    counts = upsert(engine, [row("kim", anonymous_ids=("dev-1",))], at=T0 + timedelta(hours=1))
    assert counts.merged == 1
    # The anonymous profile was first, yet the known customer keeps her id.
    assert customer(engine, anon) is None
    with engine.connect() as conn:
        assert resolve_keys(conn, [anon]) == {anon: "kim"}
        assert resolve_keys(conn, ["dev-1"], kind="anonymous_id") == {"dev-1": "kim"}
    # A second known customer on the same device does not merge with the first.
    assert upsert(engine, [row("lou", anonymous_ids=("dev-1",))]).merged == 0
    assert customer(engine, "lou") is not None


def test_resolve_keys_lookup_and_create(engine: Engine) -> None:
    upsert(engine, [row("ann", email="ann@example.com", phone="+447700900123")])
    with engine.begin() as conn:
        assert resolve_keys(conn, ["ANN@Example.com ", "nobody@example.com"], kind="email") == {
            "ANN@Example.com ": "ann"
        }
        assert resolve_keys(conn, ["+44 7700 900123"], kind="phone") == {"+44 7700 900123": "ann"}
        made = resolve_keys(conn, ["new-1", "ann"], create=True, source="events", now=T0)
        assert made == {"new-1": "new-1", "ann": "ann"}
        by_mail = resolve_keys(conn, ["zed@example.com"], kind="email", create=True, now=T0)
        # Creating again finds the same profile (idempotent).
        assert resolve_keys(conn, ["zed@example.com"], kind="email", create=True) == by_mail
        assert resolve_keys(conn, ["not an email"], kind="email", create=True) == {}
    zed = customer(engine, by_mail["zed@example.com"])
    assert zed is not None and zed["email"] == "zed@example.com"
    assert "zed" not in zed["id"]  # no address in a generated id
    with pytest.raises(ValueError, match="unknown identity kind"), engine.connect() as conn:
        resolve_keys(conn, ["x"], kind="twitter")


def test_bad_rows_are_rejected_before_anything_is_written(engine: Engine) -> None:
    with pytest.raises(ValueError, match=r"crm.csv:3: unknown profile fields shoe_size"):
        upsert(engine, [row("ok"), row("bad", shoe_size=42, ref="crm.csv:3")])
    with pytest.raises(ValueError, match="row 1: empty external id"):
        upsert(engine, [row(" ")])
    assert all_rows(engine, "customers") == []


def test_sqlite_fast_writes_store_what_sqlalchemy_stores(sqlite_engine: Engine) -> None:
    """Times, booleans and JSON written by the bulk path are byte-identical to ORM writes (the
    engine compares times as text on SQLite)."""
    from prefect_journeys.store.writes import upsert_customers

    at = T0.replace(microsecond=120)
    with sqlite_engine.begin() as conn:
        upsert_customers(
            conn,
            [
                {
                    "id": "orm",
                    "email_consent": True,
                    "attributes": {"a": [1, "é"]},
                    "created_at": at,
                    "updated_at": at,
                }
            ],
        )
    upsert(sqlite_engine, [row("bulk", email_consent=True, attributes={"a": [1, "é"]})], at=at)
    query = text(
        "select typeof(created_at), created_at, typeof(email_consent), email_consent,"
        " typeof(attributes), attributes from customers order by id"
    )
    with sqlite_engine.connect() as conn:
        bulk, orm = conn.execute(query).all()
    assert tuple(bulk) == tuple(orm)
