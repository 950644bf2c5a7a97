"""Conditions compiled to SQL: hand-written cases with exact expected sets, on both backends."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter
from sqlalchemy import Engine, event, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from prefect_journeys.segments.rules import Condition, Segment
from prefect_journeys.segments.sql import SqlContext, audience, predicate
from prefect_journeys.store.models import metadata

from .population import T0, seed_rows

CONDITION: TypeAdapter[Any] = TypeAdapter(Condition)
AS_OF = datetime(2024, 6, 1, 12, 0)
DAY = timedelta(days=1)
customers = metadata.tables["customers"]
enrollments = metadata.tables["enrollments"]

CUSTOMERS: list[dict[str, Any]] = [
    {
        "id": "ann",
        "email": "ann@example.com",
        "first_name": "Ann",
        "email_consent": True,
        "created_at": datetime(2024, 1, 10),
        "attributes": {
            "plan": "pro",
            "age": 34,
            "score": 7.5,
            "vip": True,
            "langs": ["en", "fr"],
            "address": {"city": "Paris"},
            "nick": "Annie",
        },
    },
    {
        "id": "bob",
        "email": "bob@example.org",
        "first_name": "bob",
        "created_at": datetime(2024, 3, 5),
        "attributes": {
            "plan": "free",
            "age": "34",
            "vip": False,
            "langs": ["de"],
            "address": {"city": "Berlin"},
            "lucky": [7, 1.5, True, None],
        },
    },
    {
        "id": "cat",
        "email": None,
        "created_at": datetime(2024, 5, 20),
        "attributes": {"plan": None, "age": 19, "score": 10, "langs": "en-US", "address": "n/a"},
    },
    {"id": "dan", "email": "dan@example.com", "created_at": datetime(2023, 12, 31)},
    {
        "id": "eve",
        "email": "eve@Example.com",
        "first_name": "Émile",
        "created_at": datetime(2024, 6, 1),
        "attributes": {"plan": "Pro", "age": 70.0, "vip": "true", "nested": {"deep": {"x": 1}}},
    },
]
TAGS = [("ann", "vip"), ("ann", "beta"), ("bob", "beta"), ("dan", "vip")]
EVENTS: list[dict[str, Any]] = [
    {
        "customer_id": "ann",
        "name": "purchase",
        "occurred_at": AS_OF - DAY,
        "properties": {"sku": "a", "amount": 10},
    },
    {
        "customer_id": "ann",
        "name": "purchase",
        "occurred_at": AS_OF - 40 * DAY,
        "properties": {"sku": "b"},
    },
    {
        "customer_id": "ann",
        "name": "purchase",
        "occurred_at": AS_OF + DAY,
        "properties": {"sku": "a"},
    },  # after as_of: ignored
    {"customer_id": "ann", "name": "page_view", "occurred_at": AS_OF - DAY},
    {
        "customer_id": "bob",
        "name": "purchase",
        "occurred_at": AS_OF - 10 * DAY,
        "properties": {"sku": "a", "amount": "10"},
    },
    {
        "customer_id": "bob",
        "name": "purchase",
        "occurred_at": AS_OF - 20 * DAY,
        "properties": {"sku": "a"},
    },
    {
        "customer_id": "bob",
        "name": "purchase",
        "occurred_at": AS_OF - 25 * DAY,
        "properties": {"sku": "z"},
    },
    {
        "customer_id": "cat",
        "name": "purchase",
        "occurred_at": AS_OF - 60 * DAY,
        "properties": {"sku": "c"},
    },
    {"customer_id": "dan", "name": "purchase", "occurred_at": AS_OF},  # exactly as_of: counted
    {"customer_id": "dan", "name": "purchase", "occurred_at": AS_OF - 30 * DAY},  # window edge
    # engagement (enrollments 1: ann, 2: bob, 3: ann again)
    {
        "customer_id": "ann",
        "name": "message.opened",
        "occurred_at": AS_OF - DAY,
        "enrollment_id": 1,
        "step_id": "s1",
    },
    {
        "customer_id": "bob",
        "name": "message.clicked",
        "occurred_at": AS_OF - DAY,
        "enrollment_id": 2,
        "step_id": "s2",
    },
    {
        "customer_id": "bob",
        "name": "message.delivered",
        "occurred_at": AS_OF - DAY,
        "enrollment_id": 2,
        "step_id": "s1",
    },
    {
        "customer_id": "ann",
        "name": "message.opened",
        "occurred_at": AS_OF + DAY,
        "enrollment_id": 3,
        "step_id": "s1",
    },  # after as_of: ignored
]
ENROLLMENTS = [
    {"id": 1, "customer_id": "ann", "entry_seq": 1},
    {"id": 2, "customer_id": "bob", "entry_seq": 1},
    {"id": 3, "customer_id": "ann", "entry_seq": 2},
]
EVERYONE = {"ann", "bob", "cat", "dan", "eve"}


def attr(attribute: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"attribute": attribute, "op": op, "value": value}


AUDIENCE_CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    # strings
    ("str-eq", attr("plan", "=", "pro"), {"ann"}),
    ("str-eq-prefixed", attr("attributes.plan", "=", "pro"), {"ann"}),
    ("str-ne-missing-matches", attr("plan", "!=", "pro"), {"bob", "cat", "dan", "eve"}),
    ("str-lt-code-points", attr("plan", "<", "p"), {"bob", "eve"}),
    ("str-gt", attr("plan", ">", "Z"), {"ann", "bob"}),
    ("str-ge", attr("plan", ">=", "pro"), {"ann"}),
    ("str-le", attr("plan", "<=", "free"), {"bob", "eve"}),
    ("numeric-looking-string-eq", attr("age", "=", "34"), {"bob"}),
    ("numeric-looking-string-order", attr("age", ">", "3"), {"bob"}),
    ("str-contains-substring", attr("nick", "contains", "nn"), {"ann"}),
    ("str-contains-case-sensitive", attr("nick", "contains", "NN"), set()),
    ("str-contains-both", attr("plan", "contains", "ro"), {"ann", "eve"}),
    ("str-contains-like-wildcards", attr("plan", "contains", "%"), set()),
    # numbers
    ("num-eq", attr("age", "=", 34), {"ann"}),
    ("num-eq-float-int", attr("age", "=", 70), {"eve"}),
    ("num-ne", attr("age", "!=", 34), {"bob", "cat", "dan", "eve"}),
    ("num-gt", attr("age", ">", 30), {"ann", "eve"}),
    ("num-ge", attr("age", ">=", 19), {"ann", "cat", "eve"}),
    ("num-lt", attr("age", "<", 34), {"cat"}),
    ("num-le", attr("age", "<=", 34), {"ann", "cat"}),
    ("float-gt", attr("score", ">", 7.5), {"cat"}),
    ("float-ge", attr("score", ">=", 7.5), {"ann", "cat"}),
    # booleans
    ("bool-true", attr("vip", "=", True), {"ann"}),
    ("bool-false", attr("vip", "=", False), {"bob"}),
    ("bool-ne", attr("vip", "!=", True), {"bob", "cat", "dan", "eve"}),
    ("bool-in", attr("vip", "in", [True, False]), {"ann", "bob"}),
    # in / not_in / null
    ("in", attr("plan", "in", ["pro", "free"]), {"ann", "bob"}),
    ("not-in", attr("plan", "not_in", ["pro", "free"]), {"cat", "dan", "eve"}),
    ("in-typed", attr("age", "in", [34, "19"]), {"ann"}),
    ("in-with-null", attr("plan", "in", ["free", None]), {"bob", "cat", "dan"}),
    ("not-in-with-null", attr("plan", "not_in", ["free", None]), {"ann", "eve"}),
    ("eq-null", attr("plan", "=", None), {"cat", "dan"}),
    ("ne-null", attr("plan", "!=", None), {"ann", "bob", "eve"}),
    # exists
    ("exists", attr("plan", "exists"), {"ann", "bob", "eve"}),
    ("not-exists", attr("plan", "not_exists"), {"cat", "dan"}),
    ("exists-object", attr("address", "exists"), {"ann", "bob", "cat"}),
    # arrays
    ("array-contains-str", attr("langs", "contains", "en"), {"ann", "cat"}),
    ("array-contains-no-substring", attr("langs", "contains", "d"), set()),
    ("array-contains-int", attr("lucky", "contains", 7), {"bob"}),
    ("array-contains-float", attr("lucky", "contains", 1.5), {"bob"}),
    ("array-contains-true", attr("lucky", "contains", True), {"bob"}),
    ("array-contains-null", attr("lucky", "contains", None), {"bob"}),
    ("array-contains-1-is-not-true", attr("lucky", "contains", 1), set()),
    ("array-contains-typed", attr("lucky", "contains", "7"), set()),
    # nested keys
    ("nested-eq", attr("address.city", "=", "Paris"), {"ann"}),
    ("nested-ne", attr("attributes.address.city", "!=", "Paris"), {"bob", "cat", "dan", "eve"}),
    ("nested-deep", attr("nested.deep.x", "=", 1), {"eve"}),
    ("nested-under-string", attr("address.city", "exists"), {"ann", "bob"}),
    # built-in columns
    ("col-eq", attr("email", "=", "ann@example.com"), {"ann"}),
    ("col-ne-null-matches", attr("email", "!=", "ann@example.com"), {"bob", "cat", "dan", "eve"}),
    ("col-contains", attr("email", "contains", "example.com"), {"ann", "dan"}),
    ("col-exists", attr("email", "exists"), {"ann", "bob", "dan", "eve"}),
    ("col-not-exists", attr("email", "not_exists"), {"cat"}),
    ("col-eq-null", attr("email", "=", None), {"cat"}),
    ("col-in", attr("email", "in", ["ann@example.com", "dan@example.com"]), {"ann", "dan"}),
    (
        "col-not-in",
        attr("email", "not_in", ["ann@example.com", "dan@example.com"]),
        {"bob", "cat", "eve"},
    ),
    ("col-lt-code-points", attr("first_name", "<", "B"), {"ann"}),
    ("col-gt-code-points", attr("first_name", ">", "Z"), {"bob", "eve"}),
    ("col-id", attr("id", "=", "cat"), {"cat"}),
    ("consent-true", attr("email_consent", "=", True), {"ann"}),
    ("consent-ne", attr("email_consent", "!=", True), {"bob", "cat", "dan", "eve"}),
    ("consent-false", attr("email_consent", "=", False), {"bob", "cat", "dan", "eve"}),
    ("created-lt", attr("created_at", "<", "2024-01-01"), {"dan"}),
    ("created-ge", attr("created_at", ">=", "2024-03-05T00:00:00"), {"bob", "cat", "eve"}),
    (
        "created-aware",
        attr("created_at", ">", "2024-01-10T00:00:00+02:00"),
        {"ann", "bob", "cat", "eve"},
    ),
    ("created-eq", attr("created_at", "=", "2024-05-20T00:00:00"), {"cat"}),
    # tags
    ("tag-contains", attr("tags", "contains", "vip"), {"ann", "dan"}),
    ("tag-eq", attr("tags", "=", "vip"), {"ann", "dan"}),
    ("tag-ne", attr("tags", "!=", "vip"), {"bob", "cat", "eve"}),
    ("tag-in", attr("tags", "in", ["beta", "nope"]), {"ann", "bob"}),
    ("tag-not-in", attr("tags", "not_in", ["beta"]), {"cat", "dan", "eve"}),
    ("tag-exists", attr("tags", "exists"), {"ann", "bob", "dan"}),
    ("tag-not-exists", attr("tags", "not_exists"), {"cat", "eve"}),
    # performed
    ("performed", {"performed": "purchase"}, {"ann", "bob", "cat", "dan"}),
    ("performed-within", {"performed": "purchase", "within": "30d"}, {"ann", "bob", "dan"}),
    ("performed-within-short", {"performed": "purchase", "within": "5d"}, {"ann", "dan"}),
    (
        "performed-window-edge",
        {"performed": "purchase", "within": "30d", "min_count": 2},
        {"bob"},
    ),
    ("performed-min-3", {"performed": "purchase", "min_count": 3}, {"bob"}),
    ("performed-min-2", {"performed": "purchase", "min_count": 2}, {"ann", "bob", "dan"}),
    (
        "performed-exactly-2",
        {"performed": "purchase", "min_count": 2, "max_count": 2},
        {"ann", "dan"},
    ),
    ("never", {"performed": "purchase", "min_count": 0, "max_count": 0}, {"eve"}),
    ("at-most-1", {"performed": "purchase", "min_count": 0, "max_count": 1}, {"cat", "eve"}),
    (
        "never-within",
        {"performed": "purchase", "within": "30d", "min_count": 0, "max_count": 0},
        {"cat", "eve"},
    ),
    ("min-0-is-everyone", {"performed": "purchase", "min_count": 0}, EVERYONE),
    ("max-below-min", {"performed": "purchase", "min_count": 3, "max_count": 1}, set()),
    ("where", {"performed": "purchase", "where": {"sku": "a"}}, {"ann", "bob"}),
    (
        "where-typed-number",
        {"performed": "purchase", "where": {"sku": "a", "amount": 10}},
        {"ann"},
    ),
    ("where-typed-string", {"performed": "purchase", "where": {"amount": "10"}}, {"bob"}),
    ("where-null-is-missing", {"performed": "purchase", "where": {"sku": None}}, {"dan"}),
    ("where-count", {"performed": "purchase", "where": {"sku": "a"}, "min_count": 2}, {"bob"}),
    ("performed-other", {"performed": "page_view", "within": "2d"}, {"ann"}),
    # composition
    ("all", {"all": [attr("plan", "=", "pro"), {"performed": "purchase"}]}, {"ann"}),
    (
        "any",
        {"any": [attr("tags", "contains", "vip"), attr("age", "<", 20)]},
        {"ann", "cat", "dan"},
    ),
    ("not", {"not": attr("plan", "=", "pro")}, {"bob", "cat", "dan", "eve"}),
    (
        "not-any",
        {"not": {"any": [attr("age", ">", 30), attr("plan", "=", "free")]}},
        {"cat", "dan"},
    ),
    ("not-not", {"not": {"not": attr("age", ">", 30)}}, {"ann", "eve"}),
    (
        "not-all-nullable",
        {"not": {"all": [attr("age", ">", 1), attr("email", "contains", "@")]}},
        {"bob", "cat", "dan"},
    ),
    ("segment", {"segment": "buyers"}, {"ann", "bob", "cat", "dan"}),
    ("not-segment", {"not": {"segment": "vips"}}, {"bob", "cat", "eve"}),
]

SEGMENTS = {
    "vips": Segment(id="vips", rule=CONDITION.validate_python(attr("tags", "contains", "vip"))),
    "buyers": Segment.model_validate(
        {"id": "buyers", "rule": {"any": [{"segment": "vips"}, {"performed": "purchase"}]}}
    ),
}


@pytest.fixture
def world(engine: Engine) -> Engine:
    seed_rows(engine, customers=CUSTOMERS, tags=TAGS, events=EVENTS, enrollments=ENROLLMENTS)
    return engine


def context(engine: Engine, **kw: Any) -> SqlContext:
    return SqlContext(as_of=AS_OF, segments=SEGMENTS, dialect=engine.dialect.name, **kw)


def run_audience(engine: Engine, condition: dict[str, Any]) -> set[str]:
    query = audience(CONDITION.validate_python(condition), context(engine))
    with engine.connect() as conn:
        return set(conn.execute(query).scalars())


@pytest.mark.parametrize(
    ("condition", "expected"),
    [pytest.param(c, e, id=name) for name, c, e in AUDIENCE_CASES],
)
def test_audience(world: Engine, condition: dict[str, Any], expected: set[str]) -> None:
    assert run_audience(world, condition) == expected


def test_predicate_is_two_valued(world: Engine) -> None:
    """As a column, every condition is true or false, never NULL (so NOT is the complement)."""
    ctx = context(world)
    with world.connect() as conn:
        for _name, condition, expected in AUDIENCE_CASES:
            expr = predicate(CONDITION.validate_python(condition), customers.c.id, ctx)
            rows = conn.execute(select(customers.c.id, expr)).all()
            assert all(value in (True, False, 0, 1) for _, value in rows), (condition, rows)
            assert {cid for cid, value in rows if value} == expected, condition


def enrolled(engine: Engine, condition: dict[str, Any]) -> set[int]:
    ctx = context(engine, enrollment_id=enrollments.c.id, journey_id="j")
    expr = predicate(CONDITION.validate_python(condition), enrollments.c.customer_id, ctx)
    with engine.connect() as conn:
        return set(conn.execute(select(enrollments.c.id).where(expr)).scalars())


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        pytest.param({"opened": ["s1"]}, {1}, id="opened"),
        pytest.param({"opened": "s1"}, {1}, id="opened-short"),
        pytest.param({"clicked": ["s1", "s2"]}, {2}, id="clicked"),
        pytest.param({"clicked": ["s1"]}, set(), id="clicked-other-step"),
        pytest.param({"delivered": ["s1"]}, {2}, id="delivered"),
        pytest.param({"not": {"opened": ["s1"]}}, {2, 3}, id="not-opened"),
        pytest.param(
            {"all": [attr("plan", "=", "pro"), {"opened": ["s1"]}]},
            {1},
            id="attribute-and-engagement",
        ),
        pytest.param(attr("plan", "!=", "pro"), {2}, id="attribute-via-enrollment"),
        pytest.param(attr("tags", "contains", "beta"), {1, 2, 3}, id="tags-via-enrollment"),
        pytest.param(attr("langs", "contains", "fr"), {1, 3}, id="array-via-enrollment"),
        pytest.param({"performed": "purchase", "min_count": 3}, {2}, id="performed-via-enrollment"),
        pytest.param({"not": {"segment": "vips"}}, {2}, id="segment-via-enrollment"),
    ],
)
def test_enrollment_predicates(
    world: Engine, condition: dict[str, Any], expected: set[int]
) -> None:
    assert enrolled(world, condition) == expected


def test_attribute_on_enrollment_of_unknown_customer(engine: Engine) -> None:
    """An id without a customers row is a customer with no data (no attributes, no consent)."""
    seed_rows(engine, enrollments=[{"id": 9, "customer_id": "ghost"}])
    assert enrolled(engine, attr("plan", "=", "pro")) == set()
    assert enrolled(engine, {"not": attr("plan", "=", "pro")}) == {9}
    assert enrolled(engine, attr("plan", "!=", "pro")) == {9}
    assert enrolled(engine, attr("email", "not_exists")) == {9}
    assert enrolled(engine, attr("email_consent", "=", False)) == {9}
    assert enrolled(engine, attr("tags", "!=", "vip")) == {9}


def test_customers_alias_is_used_directly() -> None:
    alias = customers.alias("c")
    ctx = SqlContext(as_of=AS_OF)
    expr = predicate(CONDITION.validate_python(attr("plan", "=", "pro")), alias.c.id, ctx)
    sql = str(select(alias.c.id).where(expr).compile(dialect=sqlite.dialect()))
    assert "FROM customers AS c" in sql
    assert "EXISTS" not in sql  # no self-join for the customer's own row


def test_engagement_needs_an_enrollment() -> None:
    with pytest.raises(ValueError, match="engagement conditions need an enrollment"):
        audience(CONDITION.validate_python({"opened": ["s1"]}), SqlContext(as_of=AS_OF))


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        (attr("tags", "<", "vip"), "tags support"),
        (attr("tags", "=", 3), "tags are strings"),
        (attr("email", "=", 5), "email is text"),
        (attr("email_consent", "=", "yes"), "email_consent is true or false"),
        (attr("email_consent", "contains", True), "email_consent is true or false"),
        (attr("created_at", ">", "last week"), "ISO-8601"),
        (attr("created_at", "contains", "2024"), "contains"),
        (attr("age", ">", float("nan")), "not a comparable"),
        ({"performed": "purchase", "where": {'a"b': 1}}, "invalid event property name"),
        ({"segment": "nope"}, "unknown segment 'nope'"),
    ],
)
def test_clear_errors(condition: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        audience(CONDITION.validate_python(condition), SqlContext(as_of=AS_OF, segments=SEGMENTS))


def test_segment_cycle() -> None:
    segments = {
        "a": Segment.model_validate({"id": "a", "rule": {"any": [{"segment": "b"}]}}),
        "b": Segment.model_validate({"id": "b", "rule": {"not": {"segment": "a"}}}),
    }
    with pytest.raises(ValueError, match="segment cycle: a -> b -> a"):
        audience(CONDITION.validate_python({"segment": "a"}), SqlContext(AS_OF, segments))


def test_segment_used_twice_is_not_a_cycle() -> None:
    condition = CONDITION.validate_python({"all": [{"segment": "vips"}, {"segment": "vips"}]})
    audience(condition, SqlContext(as_of=AS_OF, segments=SEGMENTS))


def test_unknown_dialect() -> None:
    with pytest.raises(ValueError, match="unsupported SQL dialect 'mysql'"):
        SqlContext(as_of=AS_OF, dialect="mysql")


def test_aware_as_of_is_converted_to_naive_utc() -> None:
    from datetime import UTC

    ctx = SqlContext(as_of=datetime(2024, 6, 1, 14, tzinfo=UTC))
    assert ctx.as_of == datetime(2024, 6, 1, 14)


def test_event_lookups_use_the_indexes(world: Engine) -> None:
    """The correlated EXISTS on (customer_id, name, occurred_at) is an index search."""
    condition = CONDITION.validate_python(
        {"all": [{"performed": "purchase", "within": "30d"}, {"not": {"performed": "signup"}}]}
    )
    query = audience(condition, context(world))
    with world.connect() as conn:
        if world.dialect.name == "sqlite":
            compiled = query.compile(
                dialect=sqlite.dialect(), compile_kwargs={"render_postcompile": True}
            )
            plan = conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + str(compiled), tuple(compiled.params.values())
            ).all()
            details = " ".join(row[-1] for row in plan)
            assert "ix_events_customer_name_time" in details, details
        else:
            conn.exec_driver_sql("SET enable_seqscan = off")
            compiled = query.compile(dialect=postgresql.dialect())
            plan = conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params).all()
            details = " ".join(row[0] for row in plan)
            assert "ix_events_customer_name_time" in details, details


def test_audience_of_20000_customers_is_one_statement(engine: Engine) -> None:
    rows = [
        {
            "id": f"c{i:05d}",
            "created_at": T0,
            "updated_at": T0,
            "attributes": {"n": i, "plan": "pro" if i % 3 == 0 else "free"},
        }
        for i in range(20_000)
    ]
    with engine.begin() as conn:
        conn.execute(insert(customers), rows)
        conn.execute(
            insert(metadata.tables["customer_tags"]),
            [{"customer_id": f"c{i:05d}", "tag": "vip"} for i in range(0, 20_000, 7)],
        )
        conn.execute(
            insert(metadata.tables["events"]),
            [
                {
                    "source_id": f"e{i}",
                    "customer_id": f"c{i:05d}",
                    "name": "purchase",
                    "occurred_at": AS_OF - DAY,
                    "received_at": AS_OF,
                    "properties": {"sku": "a"},
                }
                for i in range(0, 20_000, 5)
            ],
        )
    condition = CONDITION.validate_python(
        {
            "all": [
                attr("plan", "=", "pro"),
                {
                    "any": [
                        attr("tags", "contains", "vip"),
                        {"performed": "purchase", "within": "7d"},
                    ]
                },
                {"not": attr("n", "<", 100)},
            ]
        }
    )
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.startswith("BEGIN"):  # the store's SQLite engine opens BEGIN IMMEDIATE
            statements.append(statement)

    query = audience(condition, context(engine))
    with engine.connect() as conn:
        event.listen(engine, "before_cursor_execute", count)
        try:
            found = set(conn.execute(query).scalars())
        finally:
            event.remove(engine, "before_cursor_execute", count)
    expected = {
        f"c{i:05d}" for i in range(100, 20_000) if i % 3 == 0 and (i % 7 == 0 or i % 5 == 0)
    }
    assert found == expected
    assert len(statements) == 1
