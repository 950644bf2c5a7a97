"""A validated journey compiled into a frozen :class:`Plan`: what the engine runs.

A plan holds the journey, the templates and named segments it uses, the order in which steps are
processed within a tick, and a content hash. The hash covers everything that changes behaviour
(journey, referenced templates and segments), so editing a template makes a new journey version.
Plans round-trip through JSON so the engine can store old versions and rebuild them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from prefect_journeys.definition import model as m
from prefect_journeys.definition.checks import (
    journey_segment_names,
    journey_template_names,
    segment_closure,
)
from prefect_journeys.definition.durations import format_duration, parse_duration
from prefect_journeys.definition.graph import reverse_postorder
from prefect_journeys.definition.templates import TemplateSpec
from prefect_journeys.segments import rules as r

if TYPE_CHECKING:
    from prefect_journeys.definition.project import LoadedJourney, Project

PLAN_FORMAT = 1
PHASES_BEFORE = m.PHASES_BEFORE
PHASES_AFTER = m.PHASES_AFTER
ENGINE_TASKS = m.ENGINE_TASKS


def _frozen(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True)
class Plan:
    journey: m.Journey
    content_hash: str
    templates: Mapping[str, TemplateSpec] = field(default_factory=lambda: _frozen({}))
    segments: Mapping[str, r.Segment] = field(default_factory=lambda: _frozen({}))
    order: tuple[str, ...] = ()
    source_path: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "templates", _frozen(self.templates))
        object.__setattr__(self, "segments", _frozen(self.segments))
        object.__setattr__(self, "order", tuple(self.order))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Plan):
            return NotImplemented
        return self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    @property
    def journey_id(self) -> str:
        return self.journey.id

    def step(self, step_id: str) -> Any:
        return self.journey.step(step_id)

    @property
    def task_names(self) -> Mapping[str, str]:
        """The Prefect task runs of one tick, in the order they run: the phases before the steps,
        one task per step in processing order, then the phases after."""
        jid = self.journey.id
        names = {key: f"{jid}/{key}" for key in PHASES_BEFORE}
        names.update({step_id: f"{jid}/{step_id}" for step_id in self.order})
        names.update({key: f"{jid}/{key}" for key in PHASES_AFTER})
        return _frozen(names)

    # -- JSON

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "journey": _dump(self.journey),
            "content_hash": self.content_hash,
            "templates": {name: _dump(spec) for name, spec in sorted(self.templates.items())},
            "segments": {name: _dump(seg) for name, seg in sorted(self.segments.items())},
            "order": list(self.order),
            "source_path": self.source_path,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        if data.get("format") != PLAN_FORMAT:
            raise ValueError(f"unsupported plan format {data.get('format')!r}")
        return cls(
            journey=m.Journey.model_validate(data["journey"]),
            content_hash=str(data["content_hash"]),
            templates={
                name: TemplateSpec.model_validate(spec) for name, spec in data["templates"].items()
            },
            segments={name: r.Segment.model_validate(s) for name, s in data["segments"].items()},
            order=tuple(data["order"]),
            source_path=data.get("source_path"),
        )

    # -- words

    def describe(self) -> list[dict[str, str]]:
        """One row per step in processing order: step, kind, stage, targets, does."""
        rows = []
        for step_id in self.order:
            step = self.journey.step(step_id)
            rows.append(
                {
                    "step": step.id,
                    "kind": str(step.kind),
                    "stage": step.stage or "",
                    "targets": ", ".join(step.targets()) or "(end)",
                    "does": describe_step(step),
                }
            )
        return rows


def _dump(value: Any) -> Any:
    return value.model_dump(mode="json", by_alias=True)


def content_hash(
    journey: m.Journey, templates: Mapping[str, TemplateSpec], segments: Mapping[str, r.Segment]
) -> str:
    """sha256 of the canonical JSON of the journey and the templates and segments it uses.

    KPI ``targets`` are left out: they change what the dashboard compares with, not what the
    journey does, so editing them does not start a new version (which would split the figures)."""
    dumped = _dump(journey)
    dumped.pop("targets", None)
    payload = {
        "journey": dumped,
        "templates": {name: _dump(spec) for name, spec in sorted(templates.items())},
        "segments": {name: _dump(seg) for name, seg in sorted(segments.items())},
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def step_order(journey: m.Journey) -> tuple[str, ...]:
    graph = {step.id: [t for t in step.targets() if t != m.EXIT_TARGET] for step in journey.steps}
    return tuple(reverse_postorder(graph, journey.first_step))


def build_plan(
    journey: m.Journey,
    templates: Mapping[str, TemplateSpec],
    segments: Mapping[str, r.Segment],
    source_path: str | None = None,
) -> Plan:
    """A plan from a journey and the project's templates and segments (the used ones are kept)."""
    used_templates = {n: templates[n] for n in journey_template_names(journey) if n in templates}
    used_segments = {
        n: segments[n] for n in segment_closure(journey_segment_names(journey), segments)
    }
    return Plan(
        journey=journey,
        content_hash=content_hash(journey, used_templates, used_segments),
        templates=used_templates,
        segments=used_segments,
        order=step_order(journey),
        source_path=source_path,
    )


def compile_journey(loaded: LoadedJourney, project: Project) -> Plan:
    """Compile a loaded journey of ``project`` (check it first: see :meth:`Project.plan`)."""
    return build_plan(loaded.journey, project.templates, project.segments, loaded.file)


# ----------------------------------------------------------------------------- describing in words


def _target(target: str | None) -> str:
    if target is None:
        return "end the journey"
    return "leave the journey" if target == m.EXIT_TARGET else f"go to '{target}'"


def describe_step(step: Any) -> str:
    if isinstance(step, m.SendStep):
        text = f"send {step.send.channel} '{step.send.template}'"
        if step.send.data:
            text += " with " + ", ".join(f"{k}={v}" for k, v in step.send.data.items())
        return text
    if isinstance(step, m.WaitStep):
        wait = step.wait
        if isinstance(wait, m.WaitDuration):
            return f"wait {format_duration(parse_duration(wait.duration))}"
        days = f" on {', '.join(wait.weekdays)}" if wait.weekdays else ""
        return f"wait until {wait.until}{days} (customer's local time)"
    if isinstance(step, m.WaitForStep):
        spec = step.wait_for
        where = f" where {_props(spec.where)}" if spec.where else ""
        return (
            f"wait up to {spec.timeout} for '{spec.event}'{where}; if it happens"
            f" {_target(step.on_event)}, otherwise {_target(step.on_timeout)}"
        )
    if isinstance(step, m.BranchStep):
        parts = [f"if {describe_condition(c.when)}: {_target(c.next)}" for c in step.cases]
        if isinstance(step.branch[-1], m.BranchElse):
            parts.append(f"else: {_target(step.otherwise)}")
        else:
            parts.append("else: end the journey")
        return "; ".join(parts)
    if isinstance(step, m.SplitStep):
        parts = []
        for v in step.split:
            label = f"{v.variant} {v.weight}%"
            if v.is_holdout:
                label += " (holdout)"
            parts.append(f"{label}: {_target(v.next)}")
        if step.mode == "bandit":
            return (
                f"bandit split (Thompson sampling on the goal, floor {step.arm_floor:.0%} per arm;"
                " weights are the starting shares): " + ", ".join(parts)
            )
        return "split: " + ", ".join(parts)
    if isinstance(step, m.UpdateStep):
        update = step.update
        parts = [f"set {_props(update.set)}"] if update.set else []
        if update.add_tags:
            parts.append(f"add tags {', '.join(update.add_tags)}")
        if update.remove_tags:
            parts.append(f"remove tags {', '.join(update.remove_tags)}")
        return "update customer: " + "; ".join(parts)
    if isinstance(step, m.ExitStep):
        reason = f" ({step.exit})" if isinstance(step.exit, str) else ""
        return f"leave the journey{reason}"
    return str(getattr(step, "kind", "step"))


def _props(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def describe_condition(condition: Any) -> str:
    if isinstance(condition, r.AttributeRule):
        if condition.op in ("exists", "not_exists"):
            return f"{condition.attribute} {condition.op.replace('_', ' ')}"
        return f"{condition.attribute} {condition.op} {condition.value}"
    if isinstance(condition, r.PerformedRule):
        text = f"performed '{condition.performed}'"
        if condition.min_count != 1:
            text += f" at least {condition.min_count} times"
        if condition.max_count is not None:
            text += f" at most {condition.max_count} times"
        if condition.within:
            text += f" within {condition.within}"
        return text
    if isinstance(condition, r.EngagementRule):
        return f"{condition.kind} {' or '.join(condition.steps)}"
    if isinstance(condition, r.SegmentRef):
        return f"in segment '{condition.segment}'"
    if isinstance(condition, r.AllRule):
        return "(" + " and ".join(describe_condition(c) for c in condition.all) + ")"
    if isinstance(condition, r.AnyRule):
        return "(" + " or ".join(describe_condition(c) for c in condition.any) + ")"
    if isinstance(condition, r.NotRule):
        return f"not {describe_condition(condition.not_)}"
    return str(condition)
