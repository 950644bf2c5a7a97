"""Message templates: ``templates/<name>.yaml`` holding Liquid text for one channel.

A template is compiled once (:func:`compile_template` is cached) and rendered for many customers.
Rendering is strict: a variable that does not exist raises :class:`TemplateRenderError` instead of
printing an empty string, except where the template gives a fallback with the ``default`` filter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import liquid
from liquid.exceptions import LiquidError, UndefinedError
from pydantic import BaseModel, ConfigDict, Field, model_validator

from prefect_journeys.segments.rules import CUSTOMER_FIELDS

# What a template may refer to. `customer.attributes.*` is open (checked when rendering).
TEMPLATE_ROOTS = ("customer", "data", "journey", "step")
CUSTOMER_TEMPLATE_FIELDS = (*CUSTOMER_FIELDS, "attributes", "tags")
JOURNEY_FIELDS = ("id", "name")
STEP_FIELDS = ("id", "stage")
TEXT_FIELDS = ("subject", "preheader", "body")
SMS_MAX_CHARS = 1600  # Twilio's limit for one message body (it splits into segments itself)
_LIQUID_MARKUP = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)

# StrictDefaultUndefined: strict like StrictUndefined, but `{{ x | default: "there" }}` still works,
# which marketing copy relies on for optional attributes.
_ENV = liquid.Environment(undefined=liquid.StrictDefaultUndefined)


class TemplateSpec(BaseModel):
    """One message template. ``name`` is the file stem."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    channel: Literal["email", "sms", "whatsapp", "webhook"]
    subject: str | None = None
    preheader: str | None = None
    body: str
    # a SendGrid dynamic template: recipients of one step share a request (up to 1,000 each);
    # it receives subject, preheader, body (rendered here), first_name, data and the unsubscribe
    # URL as dynamic_template_data
    sendgrid_template_id: str | None = Field(default=None, pattern=r"^d-[0-9a-f]{32}$")

    @model_validator(mode="after")
    def _sms_length(self) -> TemplateSpec:
        if self.channel in ("sms", "whatsapp"):
            fixed = len(_LIQUID_MARKUP.sub("", self.body))
            if fixed > SMS_MAX_CHARS:
                raise ValueError(
                    f"an {self.channel} body is at most {SMS_MAX_CHARS} characters; this one has"
                    f" {fixed} without its variables"
                )
        if self.sendgrid_template_id is not None and self.channel != "email":
            raise ValueError("'sendgrid_template_id' only applies to email templates")
        return self

    @model_validator(mode="after")
    def _email_fields(self) -> TemplateSpec:
        if self.channel == "email" and not self.subject:
            raise ValueError("an email template needs a 'subject'")
        if self.channel != "email":
            extra = [f for f in ("subject", "preheader") if getattr(self, f) is not None]
            if extra:
                raise ValueError(
                    f"{' and '.join(repr(f) for f in extra)} only apply to email templates,"
                    f" not {self.channel}"
                )
        return self


@dataclass(frozen=True)
class RenderedMessage:
    subject: str | None
    preheader: str | None
    body: str


class TemplateRenderError(Exception):
    """Rendering failed, e.g. a customer lacks an attribute the template uses."""

    def __init__(self, template: str, field: str, variable: str | None, reason: str) -> None:
        self.template = template
        self.field = field
        self.variable = variable
        self.reason = reason
        where = f"template '{template}' ({field})"
        if variable:
            super().__init__(f"{where}: '{variable}' is undefined for this customer")
        else:
            super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class Reference:
    """A variable a template reads: its dotted path, the text field and the line in that field."""

    path: tuple[str, ...]
    field: str
    line: int  # 1-based, within the field's text

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class TemplateIssue:
    """A Liquid syntax error or a reference that can never resolve."""

    field: str
    line: int  # 1-based, within the field's text
    message: str
    hint: str | None = None


class CompiledTemplate:
    """A template's Liquid sources parsed once; :meth:`render` is called per customer."""

    def __init__(self, spec: TemplateSpec) -> None:
        self.spec = spec
        self._parts: dict[str, Any] = {}
        for name in TEXT_FIELDS:
            text = getattr(spec, name)
            if text is not None:
                self._parts[name] = _ENV.from_string(text)

    def render(self, context: Mapping[str, Any]) -> RenderedMessage:
        out: dict[str, str | None] = dict.fromkeys(TEXT_FIELDS)
        for name, template in self._parts.items():
            try:
                out[name] = template.render(**context)
            except UndefinedError as exc:
                variable = str(exc.message or "").removesuffix(" is undefined").strip() or None
                raise TemplateRenderError(self.spec.name, name, variable, str(exc)) from None
            except LiquidError as exc:
                raise TemplateRenderError(self.spec.name, name, None, str(exc)) from None
        return RenderedMessage(out["subject"], out["preheader"], out["body"] or "")


@lru_cache(maxsize=1024)
def compile_template(spec: TemplateSpec) -> CompiledTemplate:
    """Parse a template once; later calls with an equal spec return the same object."""
    return CompiledTemplate(spec)


def render(spec: TemplateSpec, context: Mapping[str, Any]) -> RenderedMessage:
    """Render ``spec`` with ``customer``, ``data``, ``journey`` and ``step`` in ``context``.

    Raises :class:`TemplateRenderError` naming the template and the missing variable.
    """
    try:
        compiled = compile_template(spec)
    except LiquidError as exc:
        raise TemplateRenderError(spec.name, "?", None, f"Liquid syntax error: {exc}") from None
    return compiled.render(context)


def parse_template(name: str, raw: Any) -> TemplateSpec:
    """Build a spec from a template file's parsed YAML (raises pydantic ValidationError)."""
    payload = dict(raw) if isinstance(raw, Mapping) else raw
    if isinstance(payload, dict):
        payload = {"name": name, **payload}
    return TemplateSpec.model_validate(payload)


# ----------------------------------------------------------------------------- static checks


def analyze_template(spec: TemplateSpec) -> tuple[list[Reference], list[TemplateIssue]]:
    """Every global variable the template reads, and its syntax errors / impossible references.

    Locals made by ``assign``, ``capture`` and ``for`` are not globals and are never flagged.
    ``data.*`` references are returned but not judged here: that depends on the send step.
    """
    references: list[Reference] = []
    issues: list[TemplateIssue] = []
    for name in TEXT_FIELDS:
        text = getattr(spec, name)
        if text is None:
            continue
        try:
            analysis = _ENV.from_string(text).analyze()
        except LiquidError as exc:
            token = getattr(exc, "token", None)
            index = getattr(token, "start_index", None)
            end = len(text.rstrip())
            line = _line_of(text, index if isinstance(index, int) and index >= 0 else end)
            issues.append(
                TemplateIssue(
                    name,
                    line,
                    f"Liquid syntax error in {name}: {exc.message or exc}",
                    "close every '{{' with '}}' and every '{% if %}'/'{% for %}' with its end tag",
                )
            )
            continue
        for filter_name, spans in analysis.filters.items():
            if filter_name not in _ENV.filters:
                issues.append(
                    TemplateIssue(
                        name,
                        _line_of(text, spans[0].index) if spans else 1,
                        f"unknown Liquid filter '{filter_name}' in {name}",
                        "see the Liquid filters: upcase, downcase, default, date, round, ...",
                    )
                )
        for variables in analysis.globals.values():
            for variable in variables:
                path = _plain_path(variable.segments)
                references.append(Reference(path, name, _line_of(text, variable.span.index)))
    for ref in references:
        issue = _judge(ref)
        if issue is not None:
            issues.append(issue)
    return references, issues


def check_template(spec: TemplateSpec, declared_data: set[str]) -> list[str]:
    """Plain-word messages for what is wrong with ``spec`` given the step's ``data`` keys."""
    references, issues = analyze_template(spec)
    messages = [f"{i.message} (line {i.line} of {i.field})" for i in issues]
    messages += [
        f"{ref.field} line {ref.line} uses '{ref.dotted}' but the send step's data does not set"
        f" '{ref.path[1]}'"
        for ref in undeclared_data(references, declared_data)
    ]
    return messages


def undeclared_data(references: list[Reference], declared: set[str]) -> list[Reference]:
    """References to ``data.<key>`` whose key the send step does not declare (one per key)."""
    missing: dict[str, Reference] = {}
    for ref in references:
        if ref.path[0] == "data" and len(ref.path) > 1 and ref.path[1] not in declared:
            missing.setdefault(ref.path[1], ref)
    return list(missing.values())


def _judge(ref: Reference) -> TemplateIssue | None:
    root = ref.path[0]
    if root not in TEMPLATE_ROOTS:
        return TemplateIssue(
            ref.field,
            ref.line,
            f"unknown variable '{ref.dotted}'",
            f"templates can use {', '.join(TEMPLATE_ROOTS)}"
            " (e.g. customer.first_name, data.percent)",
        )
    if len(ref.path) < 2:
        return None
    second = ref.path[1]
    known = {
        "customer": CUSTOMER_TEMPLATE_FIELDS,
        "journey": JOURNEY_FIELDS,
        "step": STEP_FIELDS,
    }.get(root)
    if known is not None and second not in known and not second.startswith("["):
        hint = (
            f"customer fields: {', '.join(CUSTOMER_TEMPLATE_FIELDS)};"
            f" custom ones are read as customer.attributes.{second}"
            if root == "customer"
            else f"{root} has: {', '.join(known)}"
        )
        return TemplateIssue(ref.field, ref.line, f"unknown variable '{ref.dotted}'", hint)
    return None


def _plain_path(segments: Any) -> tuple[str, ...]:
    out: list[str] = []
    for segment in segments:
        if isinstance(segment, list):
            out.append("[" + ".".join(str(s) for s in segment) + "]")
        else:
            out.append(str(segment))
    return tuple(out) or ("?",)


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, max(index, 0)) + 1
