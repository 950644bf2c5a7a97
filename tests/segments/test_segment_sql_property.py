"""Property test: the SQL compilation agrees with a pure-Python reference evaluator.

Random small populations (typed, missing and look-alike attribute values, tags, events with
properties and times, enrollments with engagement) and random condition trees of depth ≤ 3; the
set SQL selects must equal the set the reference selects, on SQLite and on Postgres.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter
from sqlalchemy import Engine, select

from prefect_journeys.segments.rules import (
    AllRule,
    AnyRule,
    AttributeRule,
    Condition,
    EngagementRule,
    NotRule,
    PerformedRule,
    Segment,
    SegmentRef,
    walk,
)
from prefect_journeys.segments.sql import SqlContext, audience, predicate
from prefect_journeys.store.database import to_utc_naive
from prefect_journeys.store.models import metadata

from .population import clear_rows, seed_rows

CONDITION: TypeAdapter[Any] = TypeAdapter(Condition)
AS_OF = datetime(2024, 6, 1, 12, 0)
TEXT_FIELDS = {"id", "email", "phone", "first_name", "last_name", "timezone", "locale"}
BOOL_FIELDS = {"email_consent", "sms_consent", "whatsapp_consent"}
enrollments = metadata.tables["enrollments"]

SEGMENTS = {
    "tagged": Segment.model_validate(
        {"id": "tagged", "rule": {"attribute": "tags", "op": "contains", "value": "t1"}}
    ),
    "buyers": Segment.model_validate(
        {"id": "buyers", "rule": {"any": [{"segment": "tagged"}, {"performed": "buy"}]}}
    ),
}


# --------------------------------------------------------------------------- reference evaluator

MISSING: Any = object()


@dataclass
class World:
    customers: list[dict[str, Any]]
    tags: set[tuple[str, str]] = field(default_factory=set)
    events: list[dict[str, Any]] = field(default_factory=list)
    enrollments: list[dict[str, Any]] = field(default_factory=list)


def lookup(document: Any, keys: Sequence[str]) -> Any:
    for key in keys:
        if not isinstance(document, dict) or key not in document:
            return MISSING
        document = document[key]
    return document


def json_kind(value: Any) -> str | None:
    if value is MISSING:
        return None
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def same(stored: Any, expected: Any) -> bool:
    """Typed equality of a stored JSON value (never MISSING here) with a rule's scalar."""
    kind = json_kind(stored)
    return (kind == json_kind(expected) and kind != "null" and stored == expected) or (
        expected is None and stored is None
    )


def json_equals(stored: Any, expected: Any) -> bool:
    if expected is None:
        return stored is MISSING or stored is None
    return stored is not MISSING and same(stored, expected)


def compare(left: Any, op: str, right: Any) -> bool:
    return {
        "=": left == right,
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
    }[op]


def eval_json(stored: Any, rule: AttributeRule) -> bool:
    op, value = rule.op, rule.value
    if op == "exists":
        return json_kind(stored) not in (None, "null")
    if op == "not_exists":
        return json_kind(stored) in (None, "null")
    if op == "=":
        return json_equals(stored, value)
    if op == "!=":
        return not json_equals(stored, value)
    if op in ("in", "not_in"):
        assert isinstance(value, list)
        found = any(json_equals(stored, item) for item in value)
        return found if op == "in" else not found
    if op == "contains":
        kind = json_kind(stored)
        if kind == "string" and isinstance(value, str):
            return value in stored
        return kind == "array" and any(same(item, value) for item in stored)
    want = "string" if isinstance(value, str) else "number"
    return json_kind(stored) == want and compare(stored, op, value)


def eval_column(customer: Mapping[str, Any], rule: AttributeRule) -> bool:
    name, op = rule.attribute, rule.op
    value: Any = rule.value
    stored = customer.get(name)
    if op == "exists":
        return stored is not None
    if op == "not_exists":
        return stored is None
    if op in ("!=", "not_in"):
        positive = AttributeRule(attribute=name, op="=" if op == "!=" else "in", value=value)
        return not eval_column(customer, positive)
    if op == "in":
        assert isinstance(value, list)
        return any(
            eval_column(customer, AttributeRule(attribute=name, op="=", value=item))
            for item in value
        )
    if value is None:
        return stored is None
    if stored is None:
        return False
    if name == "created_at":
        assert isinstance(value, str)
        value = to_utc_naive(datetime.fromisoformat(value))
    if op == "contains":
        return value in stored
    return compare(stored, op, value)


def eval_performed(world: World, customer_id: str, rule: PerformedRule) -> bool:
    window = rule.window
    count = sum(
        1
        for ev in world.events
        if ev["customer_id"] == customer_id
        and ev["name"] == rule.performed
        and ev["occurred_at"] <= AS_OF
        and (window is None or ev["occurred_at"] > AS_OF - window)
        and all(
            json_equals(lookup(ev["properties"], key.split(".")), value)
            for key, value in rule.where.items()
        )
    )
    return count >= rule.min_count and (rule.max_count is None or count <= rule.max_count)


def evaluate(
    world: World, condition: Any, customer_id: str, enrollment_id: int | None = None
) -> bool:
    def ev(cond: Any) -> bool:
        return evaluate(world, cond, customer_id, enrollment_id)

    if isinstance(condition, AllRule):
        return all(ev(child) for child in condition.all)
    if isinstance(condition, AnyRule):
        return any(ev(child) for child in condition.any)
    if isinstance(condition, NotRule):
        return not ev(condition.not_)
    if isinstance(condition, SegmentRef):
        return ev(SEGMENTS[condition.segment].rule)
    if isinstance(condition, PerformedRule):
        return eval_performed(world, customer_id, condition)
    if isinstance(condition, EngagementRule):
        return any(
            e["enrollment_id"] == enrollment_id
            and e["name"] == f"message.{condition.kind}"
            and e["step_id"] in condition.steps
            and e["occurred_at"] <= AS_OF
            for e in world.events
        )
    assert isinstance(condition, AttributeRule)
    # An id without a customers row: a customer with no data and no consent.
    blank = {"id": customer_id, "email_consent": False, "attributes": {}}
    customer = next((c for c in world.customers if c["id"] == customer_id), blank)
    name, op, value = condition.attribute, condition.op, condition.value
    if name == "tags":
        has = {tag for cid, tag in world.tags if cid == customer_id}
        if op == "exists":
            return bool(has)
        if op == "not_exists":
            return not has
        wanted = set(value) if isinstance(value, list) else {value}
        found = bool(has & wanted)
        return not found if op in ("!=", "not_in") else found
    if name in TEXT_FIELDS | BOOL_FIELDS | {"created_at"}:
        return eval_column(customer, condition)
    keys = name.removeprefix("attributes.").split(".")
    return eval_json(lookup(customer["attributes"], keys), condition)


# --------------------------------------------------------------------------- strategies

strings = st.sampled_from(["", "a", "ab", "b", "B", "é", "1", "10", "2", "true", "a%"])
numbers = st.one_of(st.integers(-3, 12), st.sampled_from([0.5, -1.5, 2.0, 10.25]))
scalars = st.one_of(st.none(), st.booleans(), numbers, strings)
json_values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.fixed_dictionaries({}, optional={"x": scalars}),
)
ATTR_KEYS = ["a", "b", "n"]
TAG_NAMES = ["t1", "t2", "t3"]
TIMES = [AS_OF - timedelta(hours=h) for h in (-5, 0, 1, 24, 47, 48, 200, 720)]
STEPS = ["s1", "s2"]


@st.composite
def worlds(draw: st.DrawFn) -> World:
    count = draw(st.integers(1, 6))
    customers: list[dict[str, Any]] = []
    for i in range(count):
        attributes = draw(st.fixed_dictionaries({}, optional={k: json_values for k in ATTR_KEYS}))
        customers.append(
            {
                "id": f"c{i}",
                "email": draw(st.sampled_from([None, "a@x.io", "b@x.io", "A@y.io", "é@x.io"])),
                "first_name": draw(st.sampled_from([None, "Ann", "ann", "Bo", "Émile"])),
                "email_consent": draw(st.booleans()),
                "created_at": draw(st.sampled_from(TIMES)),
                "attributes": attributes,
            }
        )
    ids: list[str] = [c["id"] for c in customers]
    tags: set[tuple[str, str]] = draw(
        st.sets(st.tuples(st.sampled_from(ids), st.sampled_from(TAG_NAMES)), max_size=6)
    )
    enrollment_rows = [
        {"id": n + 1, "customer_id": cid, "entry_seq": 1}
        for n, cid in enumerate(draw(st.lists(st.sampled_from([*ids, "ghost"]), max_size=4)))
    ]
    enrollment_rows = [{**row, "entry_seq": row["id"]} for row in enrollment_rows]
    events: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 10))):
        events.append(
            {
                "customer_id": draw(st.sampled_from(ids)),
                "name": draw(st.sampled_from(["buy", "view"])),
                "occurred_at": draw(st.sampled_from(TIMES)),
                "properties": draw(
                    st.fixed_dictionaries({}, optional={"p": json_values, "q": scalars})
                ),
                "enrollment_id": None,
                "step_id": None,
            }
        )
    for row in enrollment_rows:
        for _ in range(draw(st.integers(0, 2))):
            events.append(
                {
                    "customer_id": row["customer_id"],
                    "name": draw(
                        st.sampled_from(["message.delivered", "message.opened", "message.clicked"])
                    ),
                    "occurred_at": draw(st.sampled_from(TIMES)),
                    "properties": {},
                    "enrollment_id": row["id"],
                    "step_id": draw(st.sampled_from(STEPS)),
                }
            )
    return World(customers, set(tags), events, enrollment_rows)


def attribute_rules() -> st.SearchStrategy[dict[str, Any]]:
    names = st.sampled_from(["a", "b", "n", "n.x", "attributes.a", "zz"])
    scalar_ops = st.sampled_from(["=", "!=", "contains"])
    json_rules = st.one_of(
        st.builds(
            lambda a, o, v: {"attribute": a, "op": o, "value": v}, names, scalar_ops, scalars
        ),
        st.builds(
            lambda a, o, v: {"attribute": a, "op": o, "value": v},
            names,
            st.sampled_from(["<", "<=", ">", ">="]),
            st.one_of(numbers, strings),
        ),
        st.builds(
            lambda a, o, v: {"attribute": a, "op": o, "value": v},
            names,
            st.sampled_from(["in", "not_in"]),
            st.lists(scalars, min_size=1, max_size=3),
        ),
        st.builds(
            lambda a, o: {"attribute": a, "op": o},
            names,
            st.sampled_from(["exists", "not_exists"]),
        ),
    )
    tag_rules = st.one_of(
        st.builds(
            lambda o, v: {"attribute": "tags", "op": o, "value": v},
            st.sampled_from(["contains", "=", "!="]),
            st.sampled_from(TAG_NAMES),
        ),
        st.builds(
            lambda o, v: {"attribute": "tags", "op": o, "value": v},
            st.sampled_from(["in", "not_in"]),
            st.lists(st.sampled_from(TAG_NAMES), min_size=1, max_size=2),
        ),
        st.builds(
            lambda o: {"attribute": "tags", "op": o}, st.sampled_from(["exists", "not_exists"])
        ),
    )
    text_values = st.sampled_from(["a@x.io", "A", "Ann", "ann", "x.io", "é", "B", "b"])
    column_rules = st.one_of(
        st.builds(
            lambda a, o, v: {"attribute": a, "op": o, "value": v},
            st.sampled_from(["email", "first_name"]),
            st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "contains"]),
            text_values,
        ),
        st.builds(
            lambda a, o, v: {"attribute": a, "op": o, "value": v},
            st.sampled_from(["email", "first_name"]),
            st.sampled_from(["in", "not_in"]),
            st.lists(st.one_of(st.none(), text_values), min_size=1, max_size=2),
        ),
        st.builds(
            lambda a, o: {"attribute": a, "op": o},
            st.sampled_from(["email", "first_name", "email_consent", "created_at"]),
            st.sampled_from(["exists", "not_exists"]),
        ),
        st.builds(
            lambda o, v: {"attribute": "email_consent", "op": o, "value": v},
            st.sampled_from(["=", "!="]),
            st.booleans(),
        ),
        st.builds(
            lambda o, v: {"attribute": "created_at", "op": o, "value": v.isoformat()},
            st.sampled_from(["=", "!=", "<", "<=", ">", ">="]),
            st.sampled_from(TIMES),
        ),
    )
    return st.one_of(json_rules, tag_rules, column_rules)


def performed_rules() -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda name, within, lo, hi, where: {
            "performed": name,
            "within": within,
            "min_count": lo,
            "max_count": hi,
            "where": where,
        },
        st.sampled_from(["buy", "view", "never_seen"]),
        st.sampled_from([None, "1d", "2d", "30d"]),
        st.integers(0, 3),
        st.one_of(st.none(), st.integers(0, 3)),
        st.fixed_dictionaries({}, optional={"p": scalars, "q": scalars}),
    )


def conditions(engagement: bool) -> st.SearchStrategy[dict[str, Any]]:
    leaves = [
        attribute_rules(),
        performed_rules(),
        st.builds(lambda s: {"segment": s}, st.sampled_from(sorted(SEGMENTS))),
    ]
    if engagement:
        leaves.append(
            st.builds(
                lambda kind, steps: {kind: steps},
                st.sampled_from(["delivered", "opened", "clicked"]),
                st.lists(st.sampled_from(STEPS), min_size=1, max_size=2, unique=True),
            )
        )
    leaf = st.one_of(*leaves)
    level: st.SearchStrategy[dict[str, Any]] = leaf
    for _ in range(3):
        children = st.lists(level, min_size=1, max_size=3)
        level = st.one_of(
            leaf,
            st.builds(lambda c: {"all": c}, children),
            st.builds(lambda c: {"any": c}, children),
            st.builds(lambda c: {"not": c}, level),
        )
    return level


# --------------------------------------------------------------------------- the property


def check(engine: Engine, world: World, raw_conditions: list[dict[str, Any]]) -> None:
    clear_rows(engine)
    seed_rows(
        engine,
        customers=world.customers,
        tags=sorted(world.tags),
        events=world.events,
        enrollments=world.enrollments,
    )
    with engine.connect() as conn:
        for raw in raw_conditions:
            condition = CONDITION.validate_python(raw)
            uses_engagement = any(isinstance(c, EngagementRule) for c in walk(condition))
            ctx = SqlContext(
                as_of=AS_OF,
                segments=SEGMENTS,
                enrollment_id=enrollments.c.id,
                dialect=engine.dialect.name,
            )
            if not uses_engagement:
                got = set(conn.execute(audience(condition, ctx)).scalars())
                want = {c["id"] for c in world.customers if evaluate(world, condition, c["id"])}
                assert got == want, (raw, got, want)
            expr = predicate(condition, enrollments.c.customer_id, ctx)
            got_ids = set(conn.execute(select(enrollments.c.id).where(expr)).scalars())
            want_ids = {
                e["id"]
                for e in world.enrollments
                if evaluate(world, condition, e["customer_id"], e["id"])
            }
            assert got_ids == want_ids, (raw, got_ids, want_ids)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(world=worlds(), raw=st.lists(conditions(engagement=False), min_size=1, max_size=3))
def test_sql_matches_reference(engine: Engine, world: World, raw: list[dict[str, Any]]) -> None:
    check(engine, world, raw)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(world=worlds(), raw=st.lists(conditions(engagement=True), min_size=1, max_size=3))
def test_sql_matches_reference_in_enrollments(
    engine: Engine, world: World, raw: list[dict[str, Any]]
) -> None:
    check(engine, world, raw)
