"""Conditions and segments as data.

A condition is one of (each written as a mapping with one distinguishing key):

- ``{attribute: plan, op: "=", value: pro}`` — a customer field (``email``, ``phone``, ``timezone``,
  ``locale``, ``first_name``, ``last_name``, ``email_consent``, ``sms_consent``, ``whatsapp_consent``,
  ``created_at``), ``tags``, or any custom attribute (``attributes.<name>`` or the bare name).
  Operators: ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``in``, ``not_in``, ``exists``,
  ``not_exists``, ``contains``.
- ``{performed: purchase, within: 60d, min_count: 1, max_count: null, where: {prop: value}}`` —
  the customer performed an event (``within`` counts back from the tick's ``as_of``).
- ``{opened: [step ids]}``, ``{clicked: ...}``, ``{delivered: ...}`` — engagement with a message
  sent by an earlier step of the same journey, in the same enrollment.
- ``{segment: name}`` — a reusable named segment (``segments/<name>.yaml``): a rule of its own,
  or a read-only SQL query against a named source (see :class:`Segment`).
- ``{all: [...]}``, ``{any: [...]}``, ``{not: {...}}``.

These are plain pydantic models; :mod:`prefect_journeys.segments.sql` compiles them to SQL.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    Tag,
    field_validator,
    model_serializer,
    model_validator,
)

from prefect_journeys.definition.durations import parse_duration
from prefect_journeys.segments.query import query_issue

Op = Literal["=", "!=", "<", "<=", ">", ">=", "in", "not_in", "exists", "not_exists", "contains"]
Scalar = str | int | float | bool | None

CUSTOMER_FIELDS = (
    "id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "timezone",
    "locale",
    "email_consent",
    "sms_consent",
    "whatsapp_consent",
    "created_at",
)


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AttributeRule(_Rule):
    attribute: str = Field(min_length=1)
    op: Op = "="
    value: Scalar | list[Scalar] = None

    @field_validator("attribute")
    @classmethod
    def _name(cls, value: str) -> str:
        name = value.removeprefix("attributes.")
        if not name or not all(
            part.replace("_", "a").replace("-", "a").isalnum() for part in name.split(".")
        ):
            raise ValueError(f"invalid attribute name {value!r}: use letters, digits, '_' and '-'")
        return value

    def model_post_init(self, __context: Any) -> None:
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"operator '{self.op}' needs a list value, e.g. value: [a, b]")
        if self.op not in ("in", "not_in", "exists", "not_exists") and isinstance(self.value, list):
            raise ValueError(f"operator '{self.op}' compares with one value, not a list")
        if self.op in ("<", "<=", ">", ">=") and (
            self.value is None or isinstance(self.value, bool)
        ):
            raise ValueError(f"operator '{self.op}' needs a number or a string value")


class PerformedRule(_Rule):
    performed: str = Field(min_length=1)
    within: str | None = None
    min_count: int = Field(default=1, ge=0)
    max_count: int | None = Field(default=None, ge=0)
    where: dict[str, Scalar] = Field(default_factory=dict)

    @field_validator("within")
    @classmethod
    def _within(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @property
    def window(self) -> timedelta | None:
        return parse_duration(self.within) if self.within else None


EngagementKind = Literal["delivered", "opened", "clicked"]


class EngagementRule(_Rule):
    """Engagement with messages sent by earlier steps of the same journey and enrollment."""

    kind: EngagementKind
    steps: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return _engagement(value)


class SegmentRef(_Rule):
    segment: str = Field(min_length=1)


class AllRule(_Rule):
    all: list[Condition] = Field(min_length=1)


class AnyRule(_Rule):
    any: list[Condition] = Field(min_length=1)


class NotRule(_Rule):
    not_: Condition = Field(alias="not")
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _engagement(value: Any) -> Any:
    """Turn ``{clicked: [a, b]}`` into an EngagementRule mapping."""
    if isinstance(value, dict) and len(value) == 1:
        ((kind, steps),) = value.items()
        if kind in ("delivered", "opened", "clicked"):
            listed = [steps] if isinstance(steps, str) else steps
            return {"kind": kind, "steps": listed}
    return value


_KEYS = {
    "attribute": "attribute",
    "performed": "performed",
    "segment": "segment",
    "all": "all",
    "any": "any",
    "not": "not",
    "delivered": "engagement",
    "opened": "engagement",
    "clicked": "engagement",
    "kind": "engagement",
}


def condition_kind(value: Any) -> str | None:
    """Which kind of condition a raw mapping is (None when it is none of them)."""
    if isinstance(value, BaseModel):
        return {
            AttributeRule: "attribute",
            PerformedRule: "performed",
            SegmentRef: "segment",
            AllRule: "all",
            AnyRule: "any",
            NotRule: "not",
            EngagementRule: "engagement",
        }.get(type(value))
    if isinstance(value, dict):
        for key in value:
            if key in _KEYS:
                return _KEYS[key]
    return None


Condition = Annotated[
    Annotated[AttributeRule, Tag("attribute")]
    | Annotated[PerformedRule, Tag("performed")]
    | Annotated[SegmentRef, Tag("segment")]
    | Annotated[AllRule, Tag("all")]
    | Annotated[AnyRule, Tag("any")]
    | Annotated[NotRule, Tag("not")]
    | Annotated[EngagementRule, Tag("engagement")],
    Discriminator(
        condition_kind,
        custom_error_type="invalid_condition",
        custom_error_message=(
            "not a condition: use one of attribute, performed, opened, clicked, delivered, "
            "segment, all, any, not"
        ),
    ),
]

for _model in (AllRule, AnyRule, NotRule):
    _model.model_rebuild()


DEFAULT_QUERY_TIMEOUT = "60s"


class Segment(BaseModel):
    """A reusable named segment (``segments/<id>.yaml``): a ``rule`` evaluated in the store, or a
    read-only SQL ``query`` run in the database of a SQL ``source`` that returns customer keys
    (one column), materialised into ``segment_members`` at the start of each tick.

    Exactly one of ``rule`` and ``query``; ``source`` goes with ``query``. ``timeout`` (default
    60s) bounds the query. The optional fields are left out when dumped, so a rule segment keeps
    the same JSON (and journey content hash) it had before SQL segments existed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str | None = None
    description: str | None = None
    rule: Condition | None = None
    source: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")
    query: str | None = None
    timeout: str | None = None

    @field_validator("query")
    @classmethod
    def _read_only(cls, value: str | None) -> str | None:
        if value is not None:
            issue = query_issue(value)
            if issue is not None:
                raise ValueError(str(issue))
        return value

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Segment:
        if self.rule is not None and self.query is not None:
            raise ValueError(
                "a segment has either a 'rule' or a 'query' (with a 'source'), not both"
            )
        if self.rule is None and self.query is None:
            raise ValueError(
                "a segment needs a 'rule', or a 'source' and a read-only SQL 'query' returning"
                " customer keys"
            )
        if self.query is not None and self.source is None:
            raise ValueError("a segment 'query' needs the 'source' (a SQL source id) it runs in")
        if self.query is None and self.source is not None:
            raise ValueError("'source' only goes with a 'query'; a 'rule' runs in the store")
        if self.query is None and self.timeout is not None:
            raise ValueError("'timeout' only goes with a 'query'")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for key in ("rule", "source", "query", "timeout"):
            if data.get(key) is None:
                data.pop(key, None)
        return data

    @property
    def is_sql(self) -> bool:
        """Backed by a query against a source (members come from ``segment_members``)."""
        return self.query is not None

    @property
    def query_timeout(self) -> timedelta:
        return parse_duration(self.timeout or DEFAULT_QUERY_TIMEOUT)


def walk(condition: Any) -> list[Any]:
    """Every condition in a tree, depth first (the root included)."""
    found = [condition]
    if isinstance(condition, AllRule):
        for child in condition.all:
            found += walk(child)
    elif isinstance(condition, AnyRule):
        for child in condition.any:
            found += walk(child)
    elif isinstance(condition, NotRule):
        found += walk(condition.not_)
    return found
