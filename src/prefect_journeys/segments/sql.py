"""Compile conditions (:mod:`prefect_journeys.segments.rules`) to SQL that runs inside the store.

:func:`predicate` turns a condition into a boolean SQL expression correlated on a customer id
column (``customers.c.id``, ``enrollments.c.customer_id``, ...); :func:`audience` is the
``SELECT customers.id FROM customers WHERE …`` for a condition. Nothing is evaluated in Python: a
whole audience is one SQL statement.

Both store dialects are supported. The expressions differ between them (SQLite ``json_type`` /
``json_extract`` / ``json_each``; Postgres JSONB ``->``, ``jsonb_typeof``, ``@>``), so the caller
says which one it compiles for with ``SqlContext.dialect`` (``"sqlite"``, the default, or
``"postgresql"``; pass ``engine.dialect.name``).

Semantics
---------

Attribute rules (``{attribute: …, op: …, value: …}``):

- The attribute is a built-in customer column when it is one of ``CUSTOMER_FIELDS``; ``tags`` means
  the ``customer_tags`` table; anything else is a key of the JSON ``attributes`` (the
  ``attributes.`` prefix is optional, dots walk into nested objects: ``address.city``).
- Comparisons are typed by the rule's ``value``: a number matches only JSON numbers (compared
  numerically; ``1 = 1.0``), a string only JSON strings (compared as text, ordering by code point),
  a boolean only JSON ``true``/``false``. A stored value of another type does not match: the string
  ``"42"`` is not ``= 42`` nor ``> 10``, and it never makes the query fail.
- A *missing* attribute (key absent, or JSON ``null``) never matches ``=``, ``<``, ``<=``, ``>``,
  ``>=``, ``in`` or ``contains``. The negative operators are the exact complements of the positive
  ones: ``!=`` is "not ``=``" and ``not_in`` is "not ``in``", so both match a customer without the
  attribute (like "does not equal" in Braze or Customer.io). ``not_exists`` is "not ``exists``".
- ``value: null``: ``= null`` matches a missing attribute (same as ``not_exists``), ``!= null``
  a present one; a ``null`` inside an ``in`` list does the same for its element.
- ``exists``: the key is present and its value is not JSON ``null`` (for built-in columns: the
  column is not NULL).
- ``contains``: substring (case-sensitive) when the stored value is a string and ``value`` a string;
  element membership (typed as above) when the stored value is a JSON array.
- ``tags``: ``contains`` / ``=`` (has the tag), ``!=`` (does not have it), ``in`` (has any of them),
  ``not_in`` (has none of them), ``exists`` (has at least one tag), ``not_exists`` (has none).
  Ordering operators are an error.
- Built-in columns compare directly; the value must fit the column (text columns take strings,
  ``*_consent`` booleans, ``created_at`` an ISO-8601 date or datetime string, aware values are
  converted to naive UTC); anything else raises ``ValueError`` when compiling.

Performed rules (``{performed: name, within, min_count, max_count, where}``) count the customer's
events named ``performed`` with ``occurred_at <= as_of`` (and ``> as_of - within``) whose
properties equal every ``where`` entry (typed as above; dotted keys are nested; ``null`` means
missing). The count must lie in ``[min_count, max_count]`` (no upper bound when ``max_count`` is
null); ``min_count: 0, max_count: 0`` means "never performed". ``min_count: 1`` without a maximum
compiles to ``EXISTS`` and ``max_count: 0`` to ``NOT EXISTS`` (both use the
``(customer_id, name, occurred_at)`` index), other bounds to a correlated ``COUNT``.

Engagement rules (``{opened: [steps]}``…) look for a ``message.<kind>`` event of the same
enrollment (``SqlContext.enrollment_id``, a correlated ``enrollments.id`` column) from one of the
steps, at or before ``as_of``. They raise ``ValueError`` without an enrollment.

When ``customer_id`` is another table's column (``enrollments.c.customer_id``), attribute rules
look the customer up by primary key; an id with no customers row is judged as a customer with no
data (every attribute missing, NULL fields, no consent, no tags, no events).

``{segment: name}`` compiles the named segment's rule (from ``SqlContext.segments``); an unknown
name or a cycle raises ``ValueError``. A segment backed by a SQL query against a source compiles to
``EXISTS (SELECT 1 FROM segment_members WHERE segment_id = name AND customer_id = <id>)``: its
membership as the tick's ``segments`` phase last refreshed it (:mod:`.refresh`).
``all`` / ``any`` / ``not`` are ``AND`` / ``OR`` / ``NOT``. :func:`predicate` is two-valued (never
SQL NULL), so ``not`` is the exact complement.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Numeric,
    Select,
    String,
    Table,
    Text,
    and_,
    case,
    cast,
    collate,
    exists,
    false,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnClause
from sqlalchemy.sql.selectable import Alias

from prefect_journeys.segments.rules import (
    CUSTOMER_FIELDS,
    AllRule,
    AnyRule,
    AttributeRule,
    EngagementRule,
    NotRule,
    PerformedRule,
    Scalar,
    Segment,
    SegmentRef,
)
from prefect_journeys.store.database import to_utc_naive
from prefect_journeys.store.models import metadata

__all__ = ["SqlContext", "audience", "predicate"]

Dialect = Literal["sqlite", "postgresql"]

customers: Table = metadata.tables["customers"]
customer_tags: Table = metadata.tables["customer_tags"]
events: Table = metadata.tables["events"]
segment_members: Table = metadata.tables["segment_members"]

_TEXT_FIELDS = frozenset({"id", "email", "phone", "first_name", "last_name", "timezone", "locale"})
_BOOL_FIELDS = frozenset({"email_consent", "sms_consent", "whatsapp_consent"})
_ORDERING = ("<", "<=", ">", ">=")


@dataclass(frozen=True)
class SqlContext:
    """What a condition is compiled against.

    ``as_of``: naive UTC; ``within`` windows count back from it and later events are ignored.
    ``segments``: named segments for ``{segment: name}``.
    ``enrollment_id``: a correlated ``enrollments.id`` column, needed by engagement conditions.
    ``journey_id``: the journey being evaluated (informational; the enrollment already fixes it).
    ``dialect``: ``"sqlite"`` or ``"postgresql"`` (``engine.dialect.name``).
    """

    as_of: datetime
    segments: Mapping[str, Segment] = field(default_factory=dict)
    enrollment_id: ColumnElement[Any] | None = None
    journey_id: str | None = None
    dialect: str = "sqlite"

    def __post_init__(self) -> None:
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError(
                f"unsupported SQL dialect {self.dialect!r}: segments compile for 'sqlite' "
                "or 'postgresql'"
            )
        if self.as_of.tzinfo is not None:
            object.__setattr__(self, "as_of", to_utc_naive(self.as_of))


def predicate(
    condition: Any, customer_id: ColumnElement[Any], ctx: SqlContext
) -> ColumnElement[bool]:
    """A boolean SQL expression (never NULL) for ``condition``, correlated on ``customer_id``."""
    expr, nullable = _Compiler(ctx, customer_id).compile(condition)
    return func.coalesce(expr, false()) if nullable else expr


def properties_match(
    properties: ColumnElement[Any], where: Mapping[str, Scalar], dialect: str
) -> ColumnElement[bool]:
    """Every ``where`` event property equal (typed, dotted keys nested, null = missing); true
    when ``where`` is empty. The one meaning of ``where:`` for performed conditions, entries,
    ``wait_for`` and goals."""
    pg = dialect == "postgresql"
    parts = [
        _json_equals(_json_value(properties, _key_path(key, what="event property"), pg), value)[0]
        for key, value in where.items()
    ]
    return and_(true(), *parts)


def audience(condition: Any, ctx: SqlContext) -> Select[tuple[str]]:
    """``SELECT customers.id FROM customers WHERE <condition>``."""
    expr, _ = _Compiler(ctx, customers.c.id).compile(condition)
    return select(customers.c.id).where(expr)


# --------------------------------------------------------------------------- compiler


class _Compiler:
    """Compiles one condition tree; returns ``(expression, may_be_null)`` pairs.

    Leaves may yield SQL NULL where the answer is "no" (a missing attribute compared with ``=``);
    AND/OR keep that meaning, and every negation coalesces its operand to false first.
    """

    def __init__(self, ctx: SqlContext, customer_id: ColumnElement[Any]) -> None:
        self.ctx = ctx
        self.customer_id = customer_id
        self.pg = ctx.dialect == "postgresql"
        self.expanding: list[str] = []
        # The customers row the customer id belongs to, when it is one (no join needed).
        self.own_customers = _customers_of(customer_id)

    def compile(self, condition: Any) -> tuple[ColumnElement[bool], bool]:
        if isinstance(condition, AttributeRule):
            return self.attribute(condition)
        if isinstance(condition, PerformedRule):
            return self.performed(condition), False
        if isinstance(condition, EngagementRule):
            return self.engagement(condition), False
        if isinstance(condition, SegmentRef):
            return self.segment(condition)
        if isinstance(condition, AllRule):
            parts = [self.compile(child) for child in condition.all]
            return and_(*(p for p, _ in parts)), any(n for _, n in parts)
        if isinstance(condition, AnyRule):
            parts = [self.compile(child) for child in condition.any]
            return or_(*(p for p, _ in parts)), any(n for _, n in parts)
        if isinstance(condition, NotRule):
            return _negate(*self.compile(condition.not_)), False
        raise TypeError(f"not a condition: {condition!r}")

    # ---- segments

    def segment(self, ref: SegmentRef) -> tuple[ColumnElement[bool], bool]:
        name = ref.segment
        if name in self.expanding:
            cycle = " -> ".join([*self.expanding[self.expanding.index(name) :], name])
            raise ValueError(f"segment cycle: {cycle}")
        found = self.ctx.segments.get(name)
        if found is None:
            known = ", ".join(sorted(self.ctx.segments)) or "none"
            raise ValueError(f"unknown segment {name!r} (known segments: {known})")
        if found.is_sql:
            return self.materialised(name), False
        self.expanding.append(name)
        try:
            return self.compile(found.rule)
        finally:
            self.expanding.pop()

    def materialised(self, name: str) -> ColumnElement[bool]:
        """A SQL-backed segment: its members as last refreshed (``segment_members``)."""
        member = segment_members.alias()
        return (
            exists()
            .where(member.c.segment_id == name, member.c.customer_id == self.customer_id)
            .correlate_except(member)
        )

    # ---- events

    def performed(self, rule: PerformedRule) -> ColumnElement[bool]:
        if rule.max_count is not None and rule.max_count < rule.min_count:
            return false()
        if rule.min_count == 0 and rule.max_count is None:
            return true()
        ev = events.alias()
        conditions: list[ColumnElement[bool]] = [
            ev.c.customer_id == self.customer_id,
            ev.c.name == rule.performed,
            ev.c.occurred_at <= self.ctx.as_of,
        ]
        window = rule.window
        if window is not None:
            conditions.append(ev.c.occurred_at > self.ctx.as_of - window)
        conditions.append(properties_match(ev.c.properties, rule.where, self.ctx.dialect))
        if rule.max_count == 0:
            return ~exists().where(*conditions).correlate_except(ev)
        if rule.min_count == 1 and rule.max_count is None:
            return exists().where(*conditions).correlate_except(ev)
        count = (
            select(func.count())
            .select_from(ev)
            .where(*conditions)
            .correlate_except(ev)
            .scalar_subquery()
        )
        if rule.max_count is None:
            return count >= rule.min_count
        return count.between(rule.min_count, rule.max_count)

    def engagement(self, rule: EngagementRule) -> ColumnElement[bool]:
        if self.ctx.enrollment_id is None:
            raise ValueError("engagement conditions need an enrollment")
        ev = events.alias()
        return (
            exists()
            .where(
                ev.c.enrollment_id == self.ctx.enrollment_id,
                ev.c.name == f"message.{rule.kind}",
                ev.c.step_id.in_(list(rule.steps)),
                ev.c.occurred_at <= self.ctx.as_of,
            )
            .correlate_except(ev)
        )

    # ---- attributes

    def attribute(self, rule: AttributeRule) -> tuple[ColumnElement[bool], bool]:
        if rule.attribute == "tags":
            return self.tags(rule), False
        if self.own_customers is not None:
            return self.on_row(rule, self.own_customers.c)
        # Correlated on another table's customer id: look the customer row up by primary key.
        # An id without a customers row is judged as a customer with no data at all (no
        # attributes, NULL fields, no consent), so `!=` stays the complement of `=` there too.
        row = customers.alias()
        expr, _ = self.on_row(rule, row.c)
        found = exists().where(row.c.id == self.customer_id, expr).correlate_except(row)
        blank, blank_nullable = self.on_row(rule, self.blank_customer())
        if blank_nullable:
            blank = func.coalesce(blank, false())
        absent = ~exists().where(row.c.id == self.customer_id).correlate_except(row)
        return or_(found, and_(absent, blank)), False

    def on_row(self, rule: AttributeRule, columns: Any) -> tuple[ColumnElement[bool], bool]:
        name = rule.attribute
        if name in CUSTOMER_FIELDS:
            return _column_rule(columns[name], name, rule, self.pg)
        path = _key_path(name.removeprefix("attributes."), what="attribute")
        return _json_rule(_json_value(columns["attributes"], path, self.pg), rule)

    def blank_customer(self) -> dict[str, Any]:
        """Stand-in column values for a customer id that has no customers row."""
        columns: dict[str, Any] = {name: cast(null(), Text) for name in _TEXT_FIELDS}
        columns.update({name: false() for name in _BOOL_FIELDS})
        columns["id"] = self.customer_id
        columns["created_at"] = cast(null(), DateTime)
        columns["attributes"] = cast(null(), JSONB if self.pg else Text)
        return columns

    def tags(self, rule: AttributeRule) -> ColumnElement[bool]:
        op, value = rule.op, rule.value
        wanted: list[Any] | None
        if op in ("exists", "not_exists"):
            wanted = None
        elif op in ("=", "!=", "contains"):
            wanted = [value]
        elif op in ("in", "not_in"):
            wanted = list(value) if isinstance(value, list) else [value]
        else:
            raise ValueError(
                f"tags support contains, =, !=, in, not_in, exists and not_exists, not '{op}'"
            )
        if wanted is not None and not all(isinstance(tag, str) for tag in wanted):
            raise ValueError(f"tags are strings: {value!r} is not a tag name")
        tag = customer_tags.alias()
        conditions: list[ColumnElement[bool]] = [tag.c.customer_id == self.customer_id]
        if wanted is not None:
            conditions.append(tag.c.tag == wanted[0] if len(wanted) == 1 else tag.c.tag.in_(wanted))
        has = exists().where(*conditions).correlate_except(tag)
        return ~has if op in ("!=", "not_in", "not_exists") else has


def _customers_of(customer_id: ColumnElement[Any]) -> Any:
    """The customers table (or alias) when ``customer_id`` is its ``id`` column, else None."""
    if not isinstance(customer_id, ColumnClause) or customer_id.name != "id":
        return None
    table = customer_id.table
    if table is customers:
        return table
    if isinstance(table, Alias) and table.element is customers:
        return table
    return None


def _negate(expr: ColumnElement[bool], nullable: bool) -> ColumnElement[bool]:
    return not_(func.coalesce(expr, false()) if nullable else expr)


# --------------------------------------------------------------------------- built-in columns


def _column_rule(
    column: Any, name: str, rule: AttributeRule, pg: bool
) -> tuple[ColumnElement[bool], bool]:
    op, value = rule.op, rule.value
    if op == "exists":
        return column.is_not(None), False
    if op == "not_exists":
        return column.is_(None), False
    if op in ("!=", "not_in"):
        positive = AttributeRule(attribute=name, op="=" if op == "!=" else "in", value=value)
        return _negate(*_column_rule(column, name, positive, pg)), False
    if op == "in":
        values = value if isinstance(value, list) else [value]
        return _any_of([_column_rule(column, name, _eq(name, item), pg) for item in values])
    if value is None:
        if op == "=":
            return column.is_(None), False
        raise ValueError(f"operator '{op}' on {name} needs a value")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name}: {value!r} is not a comparable value")
    if name in _BOOL_FIELDS:
        if op != "=" or not isinstance(value, bool):
            raise ValueError(
                f"{name} is true or false: compare it with =, !=, in or not_in and a boolean"
            )
        return (column.is_(true()) if value else column.is_(false())), False
    if name == "created_at":
        if op == "contains":
            raise ValueError("created_at is a datetime: 'contains' does not apply to it")
        return _compare(column, op, _datetime_value(value)), True
    if not isinstance(value, str):
        raise ValueError(f"{name} is text: compare it with a string (write {str(value)!r})")
    if op == "contains":
        return _substring(column, value, pg), True
    if op in _ORDERING:
        return _compare(_code_point_order(column, pg), op, value), True
    return column == value, True


def _eq(name: str, value: Any) -> AttributeRule:
    return AttributeRule(attribute=name, op="=", value=value)


def _datetime_value(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            return to_utc_naive(datetime.fromisoformat(value))
        except ValueError:
            pass
    raise ValueError(
        f"created_at compares with an ISO-8601 datetime such as '2024-05-01T12:00:00', "
        f"not {value!r}"
    )


# --------------------------------------------------------------------------- JSON values


_SQLITE_TYPES: dict[str, tuple[str, ...]] = {
    "null": ("null",),
    "bool": ("true", "false"),
    "number": ("integer", "real"),
    "string": ("text",),
    "array": ("array",),
}
_PG_TYPES: dict[str, tuple[str, ...]] = {
    "null": ("null",),
    "bool": ("boolean",),
    "number": ("number",),
    "string": ("string",),
    "array": ("array",),
}


def _key_path(name: str, *, what: str) -> tuple[str, ...]:
    keys = tuple(name.split("."))
    if not all(keys) or any('"' in key or "\\" in key for key in keys):
        raise ValueError(
            f"invalid {what} name {name!r}: use dot-separated keys without quotes or backslashes"
        )
    return keys


@dataclass(frozen=True)
class _JsonValue:
    """The JSON value at ``keys`` inside a JSON column (SQL NULL type when the key is absent)."""

    document: Any
    keys: tuple[str, ...]
    pg: bool

    @property
    def node(self) -> Any:
        """Postgres: the JSONB value (``doc -> 'a' -> 'b'``; text keys never index arrays)."""
        node = self.document
        for key in self.keys:
            node = node.op("->", return_type=JSONB)(_text(key))
        return node

    @property
    def sqlite_path(self) -> str:
        return "$" + "".join(f'."{key}"' for key in self.keys)

    def json_type(self) -> ColumnElement[str]:
        if self.pg:
            return func.jsonb_typeof(self.node, type_=String)
        return func.json_type(self.document, self.sqlite_path, type_=String)

    def is_type(self, kind: str) -> ColumnElement[bool]:
        names = (_PG_TYPES if self.pg else _SQLITE_TYPES)[kind]
        kind_of = self.json_type()
        return kind_of == names[0] if len(names) == 1 else kind_of.in_(names)

    def present(self) -> ColumnElement[bool]:
        """Key present and not JSON null (never SQL NULL)."""
        return func.coalesce(self.json_type(), "null") != "null"

    def text(self) -> ColumnElement[str]:
        """The string value (NULL for any other type)."""
        if self.pg:
            parent = _JsonValue(self.document, self.keys[:-1], True).node
            raw = parent.op("->>", return_type=Text)(_text(self.keys[-1]))
        else:
            raw = func.json_extract(self.document, self.sqlite_path, type_=Text)
        return case((self.is_type("string"), raw))

    def number(self) -> ColumnElement[Any]:
        """The numeric value (NULL for any other type; the cast never sees a non-number)."""
        raw = (
            cast(self.node, Numeric)
            if self.pg
            else func.json_extract(self.document, self.sqlite_path, type_=Numeric)
        )
        return case((self.is_type("number"), raw))

    def equals(self, value: Scalar) -> tuple[ColumnElement[bool], bool]:
        """Typed equality; ``None`` means missing (absent or JSON null)."""
        if value is None:
            return ~self.present(), False
        _check_scalar(value)
        if isinstance(value, bool):
            if self.pg:
                return self.node == _jsonb(value), True
            return self.json_type() == ("true" if value else "false"), True
        if self.pg:
            # JSONB equality is typed already ('"1"' != '1') and numeric across 1 / 1.0.
            return self.node == _jsonb(value), True
        if isinstance(value, str):
            return self.text() == value, True
        return self.number() == value, True

    def has_element(self, value: Scalar) -> ColumnElement[bool]:
        """A JSON array with an element equal (typed) to ``value``."""
        _check_scalar(value)
        if self.pg:
            return and_(self.is_type("array"), self.node.op("@>")(_jsonb([value])))
        element = func.json_each(self.document, self.sqlite_path).table_valued("value", "type")
        kind, item = element.c.type, element.c.value
        match: ColumnElement[bool]
        if value is None:
            match = kind == "null"
        elif isinstance(value, bool):
            match = kind == ("true" if value else "false")
        elif isinstance(value, str):
            match = and_(kind == "text", item == value)
        else:
            match = and_(kind.in_(("integer", "real")), item == value)
        found = select(literal(1)).select_from(element).where(match).correlate_except(element)
        return and_(self.is_type("array"), found.exists())


def _json_value(document: Any, keys: tuple[str, ...], pg: bool) -> _JsonValue:
    return _JsonValue(document, keys, pg)


def _json_equals(value: _JsonValue, expected: Scalar) -> tuple[ColumnElement[bool], bool]:
    return value.equals(expected)


def _json_rule(value: _JsonValue, rule: AttributeRule) -> tuple[ColumnElement[bool], bool]:
    op, expected = rule.op, rule.value
    if op == "exists":
        return value.present(), False
    if op == "not_exists":
        return ~value.present(), False
    if op == "=":
        return value.equals(_scalar(expected))
    if op == "!=":
        return _negate(*value.equals(_scalar(expected))), False
    if op in ("in", "not_in"):
        items = expected if isinstance(expected, list) else [expected]
        found = _any_of([value.equals(item) for item in items])
        return found if op == "in" else (_negate(*found), False)
    if op == "contains":
        target = _scalar(expected)
        member = value.has_element(target)
        if isinstance(target, str):
            return or_(_substring(value.text(), target, value.pg), member), True
        return member, True
    if op in _ORDERING:
        target = _scalar(expected)
        _check_scalar(target)
        if isinstance(target, str):
            return _compare(_code_point_order(value.text(), value.pg), op, target), True
        return _compare(value.number(), op, target), True
    raise ValueError(f"unsupported operator {op!r}")


# --------------------------------------------------------------------------- helpers


def _scalar(value: Scalar | list[Scalar]) -> Scalar:
    if isinstance(value, list):
        raise ValueError("this operator compares with one value, not a list")
    return value


def _check_scalar(value: Scalar) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value!r} is not a comparable number")


def _text(value: str) -> ColumnElement[str]:
    return cast(literal(value, Text), Text)


def _jsonb(value: Any) -> ColumnElement[Any]:
    return cast(literal(json.dumps(value), Text), JSONB)


def _any_of(parts: Sequence[tuple[ColumnElement[bool], bool]]) -> tuple[ColumnElement[bool], bool]:
    return or_(*(p for p, _ in parts)), any(n for _, n in parts)


def _substring(haystack: Any, needle: str, pg: bool) -> ColumnElement[bool]:
    """Case-sensitive substring test (LIKE is case-insensitive on SQLite and needs escaping)."""
    position = func.strpos(haystack, needle) if pg else func.instr(haystack, needle)
    return position > 0


def _code_point_order(expr: Any, pg: bool) -> Any:
    """Text ordered by code point on both backends (SQLite's default BINARY; "C" on Postgres)."""
    return collate(expr, "C") if pg else expr


def _compare(left: Any, op: str, right: Any) -> ColumnElement[bool]:
    if op == "=":
        return left == right
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    if op == ">=":
        return left >= right
    raise ValueError(f"unsupported operator {op!r}")
