"""Source definitions: ``sources/<id>.yaml``, one source per file (the id is the file's stem).

A source is where customers or events come from (``entity``) and how they are read (``kind``):

- ``csv``: ``path`` (relative to the project root; a glob reads every match in name order),
  ``encoding`` (default utf-8, a byte-order mark is skipped), ``delimiter`` (default ``,``);
- ``parquet``: ``path`` as above;
- ``sql``: any SQLAlchemy database, ``url_env`` (the name of an environment variable holding the
  URL — secrets never live in YAML; a literal ``url`` is accepted only without a password, e.g.
  SQLite) and ``table`` or ``query``.

``columns`` maps our fields onto source columns (customers: ``id`` and any of ``email``, ``phone``,
``first_name``, ``last_name``, ``timezone``, ``locale``, the three consents, ``anonymous_id``;
events: ``customer`` and/or ``anonymous_id``, ``name`` or a fixed ``event_name``, ``timestamp``,
optional ``id`` and ``previous_id``). ``attributes`` (customers) and ``properties`` (events) take a
list of columns or a mapping ``name: column`` / ``name: {column, type}``. ``purchase`` maps
``order_id``, ``amount`` and ``currency`` of purchase events. ``watermark`` names the column whose
largest value is remembered after a successful sync: the next sync reads only rows at or above it.

:func:`parse_source` validates a mapping; :mod:`.loading` turns a file into a source or problems.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from prefect_journeys.definition.model import _check_timezone
from prefect_journeys.segments.rules import CUSTOMER_FIELDS

ID_PATTERN = r"^[a-z][a-z0-9_]*$"
ENV_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
TABLE_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
# rows per batch: see docs/sources.md (GX costs ~0.2 s per validation whatever the size)
DEFAULT_BATCH_SIZE = 200_000
DEFAULT_THRESHOLD = 0.05
ValueType = Literal["auto", "text", "integer", "number", "boolean", "datetime"]
# Checks that need several fields are run by the loader itself (with the line of each field) when
# it validates with this context; a model built in code runs them in its validator.
DEFER_CHECKS = "defer_source_checks"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Model):
    """A source column, optionally converted (``auto`` keeps the source's own type; CSV is text)."""

    column: str = Field(min_length=1)
    type: ValueType = "auto"


class WatermarkSpec(_Model):
    """The column compared with the stored watermark; its type is inferred unless given."""

    column: str = Field(min_length=1)
    type: Literal["datetime", "number", "text"] | None = None


def _column_map(value: Any) -> Any:
    """``[a, b]`` → ``{a: {column: a}, b: {column: b}}``; ``{name: col}`` → ``{name: {column: col}}``."""
    if isinstance(value, list):
        return (
            {item: {"column": item} for item in value}
            if all(isinstance(i, str) for i in value)
            else value
        )
    if isinstance(value, dict):
        return {k: ({"column": v} if isinstance(v, str) else v) for k, v in value.items()}
    return value


def _check_names(value: dict[str, ColumnSpec], what: str) -> dict[str, ColumnSpec]:
    for name in value:
        if not NAME_PATTERN.match(name):
            raise ValueError(f"invalid {what} name {name!r}: use letters, digits, '_' and '-'")
    return value


class CustomerColumns(_Model):
    """Our customer fields → source columns (``id`` is required)."""

    id: str = Field(min_length=1)
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    timezone: str | None = None
    locale: str | None = None
    email_consent: str | None = None
    sms_consent: str | None = None
    whatsapp_consent: str | None = None
    anonymous_id: str | None = None

    def mapped(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class EventColumns(_Model):
    """Our event fields → source columns."""

    customer: str | None = None
    anonymous_id: str | None = None
    previous_id: str | None = None  # alias rows: this earlier id and ``customer`` are one person
    name: str | None = None
    timestamp: str = Field(min_length=1)
    id: str | None = None  # the source's event id: the deduplication key when given

    def mapped(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class PurchaseColumns(_Model):
    """Columns of purchase events (rows named ``event``): the amount becomes the event's value."""

    event: str = "purchase"
    order_id: str | None = None
    amount: str = Field(min_length=1)
    currency: str | None = None

    def mapped(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None and k != "event"}


class Source(_Model):
    """What every source has; :class:`CustomerSource` and :class:`EventSource` add the mapping."""

    id: str = Field(pattern=ID_PATTERN)
    name: str | None = None
    description: str | None = None
    kind: Literal["csv", "parquet", "sql"]
    entity: Literal["customers", "events"]
    path: str | None = Field(default=None, min_length=1)
    encoding: str = "utf-8"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    url_env: str | None = Field(default=None, pattern=ENV_PATTERN)
    url: str | None = Field(default=None, min_length=1)
    table: str | None = None
    query: str | None = Field(default=None, min_length=1)
    watermark: WatermarkSpec | None = None
    batch_size: int = Field(default=DEFAULT_BATCH_SIZE, ge=1, le=1_000_000)
    threshold: float = Field(default=DEFAULT_THRESHOLD, ge=0, le=1)
    default_region: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    timestamp_timezone: str = "UTC"  # zone of timestamps written without an offset
    suite: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")

    _root: Path | None = PrivateAttr(default=None)
    _file: str | None = PrivateAttr(default=None)

    _tz = field_validator("timestamp_timezone")(_check_timezone)

    @field_validator("watermark", mode="before")
    @classmethod
    def _watermark(cls, value: Any) -> Any:
        return {"column": value} if isinstance(value, str) else value

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}: e.g. utf-8, latin-1, cp1252") from None
        return value

    @field_validator("table")
    @classmethod
    def _table(cls, value: str | None) -> str | None:
        if value is not None and not TABLE_PATTERN.match(value):
            raise ValueError(f"invalid table name {value!r}: write 'table' or 'schema.table'")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            parsed = make_url(value)
        except Exception:
            raise ValueError("not a database URL (e.g. sqlite:///data/shop.db)") from None
        if parsed.password:
            raise ValueError(
                "a URL with a password does not belong in a YAML file: put it in an environment"
                " variable and name that variable with 'url_env'"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Source:
        if info.context and info.context.get(DEFER_CHECKS):
            return self
        for _loc, message, _hint in self.inconsistencies():
            raise ValueError(message)
        return self

    # -- checks needing several fields: (location, message, hint)

    def inconsistencies(self) -> list[tuple[tuple[str, ...], str, str | None]]:
        found: list[tuple[tuple[str, ...], str, str | None]] = []
        given = self.model_fields_set
        if self.kind in ("csv", "parquet"):
            if self.path is None:
                found.append(((), f"a {self.kind} source needs 'path'", "path: data/file.csv"))
            for name in ("url_env", "url", "table", "query"):
                if name in given:
                    found.append(((name,), f"'{name}' is for sql sources only", None))
            if self.kind == "parquet":
                for name in ("encoding", "delimiter"):
                    if name in given:
                        found.append(((name,), f"'{name}' is for csv sources only", None))
        else:
            if "path" in given:
                found.append((("path",), "'path' is for csv and parquet sources", None))
            if (self.url_env is None) == (self.url is None):
                found.append(
                    (
                        (),
                        "a sql source needs exactly one of 'url_env' and 'url'",
                        "url_env: SHOP_DATABASE_URL (an environment variable holding the URL)",
                    )
                )
            if (self.table is None) == (self.query is None):
                found.append(((), "a sql source needs exactly one of 'table' and 'query'", None))
            for name in ("encoding", "delimiter"):
                if name in given:
                    found.append(((name,), f"'{name}' is for csv sources only", None))
        return found

    # -- where it lives

    def bind(self, root: Path, file: str | None = None) -> Source:
        """Remember the project root (paths are relative to it) and the file it was read from."""
        self._root = Path(root)
        self._file = file
        return self

    @property
    def root(self) -> Path:
        return self._root if self._root is not None else Path.cwd()

    @property
    def file(self) -> str:
        """The YAML file it was read from (for messages)."""
        return self._file or f"sources/{self.id}.yaml"

    @property
    def suite_name(self) -> str:
        return self.suite or self.entity

    def columns_needed(self) -> dict[str, str]:
        """Every source column the mapping reads → what it is for (for missing-column errors)."""
        raise NotImplementedError


class CustomerSource(Source):
    entity: Literal["customers"]
    columns: CustomerColumns
    attributes: dict[str, ColumnSpec] = Field(default_factory=dict)
    email_verified: bool | str = False  # true: the source vouches for every email; or a column
    phone_verified: bool | str = False

    _cm = field_validator("attributes", mode="before")(lambda v: _column_map(v))

    @field_validator("attributes")
    @classmethod
    def _attribute_names(cls, value: dict[str, ColumnSpec]) -> dict[str, ColumnSpec]:
        _check_names(value, "attribute")
        clash = sorted(set(value) & set(CUSTOMER_FIELDS))
        if clash:
            raise ValueError(
                f"attribute {clash[0]!r} is a customer field: map it under 'columns' or rename it"
                " (segments read the field, not an attribute of that name)"
            )
        return value

    def columns_needed(self) -> dict[str, str]:
        needed = {col: f"columns.{f}" for f, col in self.columns.mapped().items()}
        for name, spec in self.attributes.items():
            needed.setdefault(spec.column, f"attributes.{name}")
        for flag in ("email_verified", "phone_verified"):
            value = getattr(self, flag)
            if isinstance(value, str):
                needed.setdefault(value, flag)
        if self.watermark is not None:
            needed.setdefault(self.watermark.column, "watermark")
        return needed


class EventSource(Source):
    entity: Literal["events"]
    columns: EventColumns
    event_name: str | None = Field(default=None, min_length=1, max_length=120)
    properties: dict[str, ColumnSpec] = Field(default_factory=dict)
    purchase: PurchaseColumns | None = None

    _cm = field_validator("properties", mode="before")(lambda v: _column_map(v))
    _pn = field_validator("properties")(lambda v: _check_names(v, "property"))

    def inconsistencies(self) -> list[tuple[tuple[str, ...], str, str | None]]:
        found = super().inconsistencies()
        if self.columns.customer is None and self.columns.anonymous_id is None:
            found.append(
                (
                    ("columns",),
                    "events need 'columns.customer' (the customer key) or 'columns.anonymous_id'",
                    None,
                )
            )
        if (self.columns.name is None) == (self.event_name is None):
            found.append(
                (
                    ("columns",),
                    "give the event name as exactly one of 'columns.name' (a column) and"
                    " 'event_name' (the same name for every row)",
                    "event_name: purchase",
                )
            )
        if self.columns.previous_id is not None and self.columns.customer is None:
            found.append(
                (("columns", "previous_id"), "'previous_id' needs 'columns.customer'", None)
            )
        return found

    def columns_needed(self) -> dict[str, str]:
        needed = {col: f"columns.{f}" for f, col in self.columns.mapped().items()}
        if self.purchase is not None:
            for f, col in self.purchase.mapped().items():
                needed.setdefault(col, f"purchase.{f}")
        for name, spec in self.properties.items():
            needed.setdefault(spec.column, f"properties.{name}")
        if self.watermark is not None:
            needed.setdefault(self.watermark.column, "watermark")
        return needed


AnySource = Annotated[CustomerSource | EventSource, Field(discriminator="entity")]
_ADAPTER: TypeAdapter[CustomerSource | EventSource] = TypeAdapter(AnySource)


def parse_source(data: Any, *, defer_checks: bool = False) -> CustomerSource | EventSource:
    """Validate a source mapping (raises pydantic's ``ValidationError``)."""
    context = {DEFER_CHECKS: True} if defer_checks else None
    return _ADAPTER.validate_python(data, context=context)


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_THRESHOLD",
    "AnySource",
    "ColumnSpec",
    "CustomerColumns",
    "CustomerSource",
    "EventColumns",
    "EventSource",
    "PurchaseColumns",
    "Source",
    "WatermarkSpec",
    "parse_source",
    "source_engine",
]


def source_engine(source: Source) -> Engine:
    """A read-only SQLAlchemy engine for a ``sql`` source (see :mod:`.connect`)."""
    from prefect_journeys.sources.connect import source_engine as connect

    return connect(source)
