"""Semantic checks: every problem of a journey file, in plain words, with a line and a step id.

Two sources of problems feed one list:

- pydantic validation errors, whose locations are mapped to lines and whose messages are rewritten
  (:func:`validation_problems`), and
- cross-step rules pydantic cannot see (:func:`journey_problems`): ids, targets, reachability,
  loops without a wait, split weights, stages, templates, segments, engagement conditions.

Graph rules run on the raw YAML, so they are reported even when some steps fail validation; rules
that need a step's meaning run on each step that validates on its own.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from prefect_journeys.definition import model as m
from prefect_journeys.definition.errors import Problem
from prefect_journeys.definition.graph import loops_without, reachable
from prefect_journeys.definition.templates import Reference, TemplateIssue, TemplateSpec
from prefect_journeys.definition.yamlsource import Loc, YamlSource
from prefect_journeys.segments import rules as r

RESERVED_STEP_IDS = (m.EXIT_TARGET, *m.ENGINE_TASKS)
PAUSING_KINDS = ("wait", "wait_for")
_STEP_ADAPTER: TypeAdapter[Any] = TypeAdapter(m.Step)
_SCALAR_LABELS = {"str", "int", "float", "bool", "none"}


# ----------------------------------------------------------------------------- pydantic errors


def _field_vocabulary() -> list[str]:
    names: set[str] = set()
    todo: list[type[BaseModel]] = [m.Journey, r.Segment, TemplateSpec]
    seen: set[type[BaseModel]] = set()
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        for name, info in cls.model_fields.items():
            names.add(info.alias or name)
        for value in vars(m).values():
            if isinstance(value, type) and issubclass(value, BaseModel):
                todo.append(value)
        for value in vars(r).values():
            if isinstance(value, type) and issubclass(value, BaseModel):
                todo.append(value)
    names.update(("delivered", "opened", "clicked"))
    return sorted(names)


_VOCABULARY = _field_vocabulary()


@dataclass
class _Error:
    tokens: list[
        tuple[str, Any]
    ]  # ("key", k) follows the data, ("alt", label) names a union member
    path: Loc  # the part of the location that exists in the data
    field: str | None  # the missing field, for "missing" errors
    raw: Mapping[str, Any]


def _resolve(data: Any, loc: Loc, kind: str) -> _Error | None:
    missing = None
    if kind == "missing" and loc and isinstance(loc[-1], str):
        loc, missing = loc[:-1], loc[-1]
    tokens: list[tuple[str, Any]] = []
    path: list[Any] = []
    current = data
    for position, part in enumerate(loc):
        if position == 2 and _in_step(loc) and part in m.STEP_KINDS:
            tokens.append(("alt", part))  # pydantic's tag for the kind of step, not a key
            continue
        if (isinstance(current, dict) and part in current) or (
            isinstance(current, list)
            and isinstance(part, int)
            and not isinstance(part, bool)
            and 0 <= part < len(current)
        ):
            current = current[part]
        else:
            tokens.append(("alt", part))
            continue
        tokens.append(("key", part))
        path.append(part)
    return _Error(tokens, tuple(path), missing, {})


def _shallow_type_error(error: _Error, depth: int) -> bool:
    kind = str(error.raw.get("type", ""))
    return len(error.tokens) == depth + 1 and (
        kind.endswith("_type")
        or kind.endswith("_parsing")
        or kind in ("literal_error", "none_required", "is_instance_of")
    )


def _select(errors: list[_Error], depth: int = 0) -> list[_Error]:
    """Keep, at each union, only the errors of the member the input most likely meant."""
    done = [e for e in errors if len(e.tokens) <= depth]
    groups: dict[tuple[str, Any], list[_Error]] = {}
    for error in errors:
        if len(error.tokens) > depth:
            groups.setdefault(error.tokens[depth], []).append(error)
    out = list(done)
    alternatives = {t: g for t, g in groups.items() if t[0] == "alt"}
    for token, group in groups.items():
        if token[0] == "key":
            out += _select(group, depth + 1)
    if len(alternatives) == 1:
        ((_, group),) = alternatives.items()
        out += _select(group, depth + 1)
    elif alternatives:
        labels = {str(t[1]) for t in alternatives}
        shallow = {
            t: all(_shallow_type_error(e, depth) for e in g) for t, g in alternatives.items()
        }
        if all(shallow.values()) and labels <= _SCALAR_LABELS:
            first = next(iter(alternatives.values()))[0]
            first.raw = {
                **first.raw,
                "type": "scalar",
                "msg": "expected a single value (text, number, true/false or null)",
            }
            out.append(first)
        else:
            best = min(alternatives, key=lambda t: (shallow[t], len(alternatives[t])))
            out += _select(alternatives[best], depth + 1)
    return out


def _dotted(path: Loc) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _plain(error: _Error) -> tuple[str, str | None]:
    raw = error.raw
    kind = str(raw.get("type", ""))
    msg = str(raw.get("msg", "")).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    msg = msg.replace("Input should be", "expected").replace("Input should have", "expected")
    value = raw.get("input")
    if kind == "missing":
        return f"missing required field '{error.field}'", f"add '{error.field}: ...'"
    if kind == "extra_forbidden":
        key = error.path[-1] if error.path else value
        close = difflib.get_close_matches(str(key), _VOCABULARY, n=1, cutoff=0.75)
        hint = f"did you mean '{close[0]}'?" if close else "remove it or check its indentation"
        return f"unknown field '{key}'", hint
    if kind == "string_pattern_mismatch":
        return (
            f"invalid id {_short(value)}",
            "use lowercase letters, digits and '_', starting with a letter (e.g. 'send_offer')",
        )
    if kind == "invalid_step":
        return msg, "give the step one key that says what it does, e.g. 'send: {...}' or 'wait: 1d'"
    if kind == "invalid_condition":
        return (
            msg,
            "e.g. {attribute: plan, op: '=', value: pro} or {performed: purchase, within: 30d}",
        )
    if kind == "too_short" and error.path == ("steps",):
        return "a journey needs at least one step", "add a list of steps under 'steps:'"
    if kind in ("value_error", "scalar", "assertion_error"):
        return msg, None
    if kind == "model_type" or kind == "dict_type":
        return f"expected a mapping (key: value lines), got {_short(value)}", None
    if kind == "list_type":
        return f"expected a list ('- item' lines), got {_short(value)}", None
    return f"{msg[:1].lower()}{msg[1:]}, got {_short(value)}", None


def validation_problems(
    source: YamlSource,
    error: ValidationError,
    *,
    step_of: Callable[[Loc], str | None] = lambda loc: None,
    skip: Callable[[_Error], bool] = lambda e: False,
) -> list[Problem]:
    """Pydantic errors as problems on ``source`` (whose ``data`` was validated)."""
    resolved: list[_Error] = []
    for raw in error.errors(include_url=False):
        found = _resolve(source.data, tuple(raw["loc"]), str(raw["type"]))
        if found is not None:
            found.raw = raw
            resolved.append(found)
    problems: list[Problem] = []
    for item in _select(resolved):
        if skip(item):
            continue
        message, hint = _plain(item)
        step = step_of(item.path)
        where = item.path[2:] if step is not None or _in_step(item.path) else item.path
        prefix = _dotted(where)
        if prefix and item.raw.get("type") != "extra_forbidden":
            message = f"{prefix}: {message}"
        problems.append(Problem(source.file, source.line(item.path), step, message, hint))
    return _unique(problems)


def _in_step(path: Loc) -> bool:
    return len(path) >= 2 and path[0] == "steps" and isinstance(path[1], int)


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


# ----------------------------------------------------------------------------- journey checks


@dataclass
class Catalog:
    """What the project offers a journey: templates and named segments, with their files."""

    templates: Mapping[str, TemplateSpec] = field(default_factory=dict)
    template_files: Mapping[str, str] = field(default_factory=dict)  # name → display file
    template_references: Mapping[str, list[tuple[Reference, int | None]]] = field(
        default_factory=dict
    )  # name → (reference, line in the template file)
    template_issues: Mapping[str, list[tuple[TemplateIssue, int | None]]] = field(
        default_factory=dict
    )
    broken_templates: frozenset[str] = frozenset()  # files that exist but do not load
    segments: Mapping[str, r.Segment] = field(default_factory=dict)
    segment_files: Mapping[str, str] = field(default_factory=dict)
    broken_segments: frozenset[str] = frozenset()


@dataclass
class _StepNode:
    index: int
    raw: Any
    id: str | None
    kind: str | None
    targets: list[tuple[str, Loc]]
    model: Any | None = None

    @property
    def loc(self) -> Loc:
        return ("steps", self.index)


def _raw_targets(index: int, raw: Any) -> list[tuple[str, Loc]]:
    base: Loc = ("steps", index)
    found: list[tuple[str, Loc]] = []
    if not isinstance(raw, dict):
        return found
    for key in ("next", "on_event", "on_timeout"):
        if isinstance(raw.get(key), str):
            found.append((raw[key], (*base, key)))
    for listed, keys in (("branch", ("next", "else")), ("split", ("next",))):
        items = raw.get(listed)
        if isinstance(items, list):
            for j, item in enumerate(items):
                if isinstance(item, dict):
                    for key in keys:
                        if isinstance(item.get(key), str):
                            found.append((item[key], (*base, listed, j, key)))
    return found


def step_nodes(data: Any) -> list[_StepNode]:
    steps = data.get("steps") if isinstance(data, dict) else None
    if not isinstance(steps, list):
        return []
    nodes = []
    for index, raw in enumerate(steps):
        step_id = raw.get("id") if isinstance(raw, dict) else None
        node = _StepNode(
            index,
            raw,
            step_id if isinstance(step_id, str) and step_id else None,
            m.step_kind(raw),
            _raw_targets(index, raw),
        )
        try:
            node.model = _STEP_ADAPTER.validate_python(raw)
        except (ValidationError, ValueError, TypeError):
            node.model = None
        nodes.append(node)
    return nodes


def step_id_at(data: Any) -> Callable[[Loc], str | None]:
    steps = data.get("steps") if isinstance(data, dict) else None

    def find(path: Loc) -> str | None:
        if isinstance(steps, list) and _in_step(path) and path[1] < len(steps):
            raw = steps[path[1]]
            step_id = raw.get("id") if isinstance(raw, dict) else None
            return step_id if isinstance(step_id, str) and step_id else None
        return None

    return find


def _suggest(word: str, choices: list[str], fallback: str) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'? " + fallback if close else fallback


def journey_problems(
    source: YamlSource, journey: m.Journey | None, catalog: Catalog
) -> list[Problem]:
    """Cross-step problems of one journey file (its pydantic errors are reported separately)."""
    return _JourneyChecker(source, journey, catalog).run()


class _JourneyChecker:
    def __init__(self, source: YamlSource, journey: m.Journey | None, catalog: Catalog) -> None:
        self.source = source
        self.journey = journey
        self.catalog = catalog
        self.data = source.data if isinstance(source.data, dict) else {}
        self.nodes = step_nodes(self.data)
        self.problems: list[Problem] = []
        self.ids = [n.id for n in self.nodes if n.id is not None]
        self.by_id = {n.id: n for n in reversed(self.nodes) if n.id is not None}
        self.graph: dict[str, list[str]] = {}
        for node in self.nodes:
            if node.id is not None and node.id not in self.graph:
                self.graph[node.id] = [t for t, _ in node.targets if t in self.by_id]

    def add(
        self, loc: Loc, message: str, *, step: str | None = None, hint: str | None = None
    ) -> None:
        self.problems.append(self.source.problem(loc, message, step=step, hint=hint))

    def run(self) -> list[Problem]:
        self.check_ids()
        self.check_targets()
        self.check_reachability()
        self.check_loops()
        self.check_splits()
        self.check_stages()
        self.check_kpi_targets()
        self.check_sends()
        self.check_segments()
        self.check_engagement()
        return _unique(self.problems)

    # -- ids and graph

    def check_ids(self) -> None:
        first: dict[str, int] = {}
        for node in self.nodes:
            if node.id is None:
                if isinstance(node.raw, dict) and "id" in node.raw:
                    continue  # a wrong type: pydantic reports it
                self.add(
                    node.loc,
                    f"step #{node.index + 1} has no 'id'",
                    hint="give every step a unique id, e.g. 'id: send_welcome'",
                )
                continue
            if node.id in RESERVED_STEP_IDS:
                self.add(
                    (*node.loc, "id"),
                    f"'{node.id}' is a reserved name and cannot be a step id",
                    step=node.id,
                    hint=f"rename the step; reserved: {', '.join(RESERVED_STEP_IDS)}",
                )
            if node.id in first:
                self.add(
                    (*node.loc, "id"),
                    f"duplicate step id '{node.id}' (also used by step #{first[node.id] + 1},"
                    f" line {self.source.line(('steps', first[node.id]))})",
                    step=node.id,
                    hint="step ids must be unique within a journey: rename one of them",
                )
            else:
                first[node.id] = node.index

    def check_targets(self) -> None:
        for node in self.nodes:
            for target, loc in node.targets:
                if target != m.EXIT_TARGET and target not in self.by_id:
                    self.add(
                        loc,
                        f"'{loc[-1]}' points to '{target}', which is not a step of this journey",
                        step=node.id,
                        hint=_suggest(
                            target,
                            self.ids,
                            "use a step id of this journey, or 'exit' to leave the journey",
                        ),
                    )

    def check_reachability(self) -> None:
        if not self.nodes or self.nodes[0].id is None:
            return
        reached = reachable(self.graph, self.nodes[0].id)
        reported: set[str] = set()
        for node in self.nodes[1:]:
            if node.id is not None and node.id not in reached and node.id not in reported:
                reported.add(node.id)
                self.add(
                    node.loc,
                    f"this step can never be reached from the first step '{self.nodes[0].id}'",
                    step=node.id,
                    hint="point a 'next' (or a branch, split or wait_for target) at it,"
                    " or remove it",
                )

    def check_loops(self) -> None:
        pausing = [n.id for n in self.nodes if n.id is not None and n.kind in PAUSING_KINDS]
        for loop in loops_without(self.graph, pausing):
            node = self.by_id[loop[0]]
            self.add(
                node.loc,
                f"steps {' → '.join(loop)} form a loop with no wait or wait_for step",
                step=node.id,
                hint="put a 'wait' or 'wait_for' step inside the loop, or break it;"
                " otherwise a customer would cycle forever",
            )

    def check_splits(self) -> None:
        for node in self.nodes:
            variants = node.raw.get("split") if isinstance(node.raw, dict) else None
            if not isinstance(variants, list):
                continue
            if node.raw.get("mode") == "bandit" and not self.data.get("goal"):
                self.add(
                    (*node.loc, "mode"),
                    "a bandit split needs a journey 'goal': it allocates by goal conversion",
                    step=node.id,
                    hint="add a 'goal: {event: ...}' to the journey, or use 'mode: random'",
                )
            weights = [v.get("weight") for v in variants if isinstance(v, dict)]
            if weights and all(type(w) is int for w in weights):
                total = sum(w for w in weights if isinstance(w, int))
                if total != 100:
                    self.add(
                        (*node.loc, "split"),
                        f"split weights sum to {total}, not 100",
                        step=node.id,
                        hint="make the weights add up to 100 (they are percentages)",
                    )
            seen: set[str] = set()
            for j, variant in enumerate(variants):
                name = variant.get("variant") if isinstance(variant, dict) else None
                if isinstance(name, str):
                    if name in seen:
                        self.add(
                            (*node.loc, "split", j, "variant"),
                            f"variant '{name}' appears twice in this split",
                            step=node.id,
                            hint="give each variant its own name",
                        )
                    seen.add(name)

    # -- meaning of steps

    def _stages(self) -> tuple[str, ...]:
        if self.journey is not None:
            return self.journey.settings.stages
        try:
            return m.Settings.model_validate(self.data.get("settings") or {}).stages
        except (ValidationError, ValueError, TypeError):
            return m.DEFAULT_STAGES

    def check_stages(self) -> None:
        stages = self._stages()
        for node in self.nodes:
            stage = node.raw.get("stage") if isinstance(node.raw, dict) else None
            if isinstance(stage, str) and stage not in stages:
                self.add(
                    (*node.loc, "stage"),
                    f"unknown stage '{stage}'",
                    step=node.id,
                    hint=_suggest(
                        stage,
                        list(stages),
                        f"stages are {', '.join(stages)} (change them in settings.stages)",
                    ),
                )

    def check_kpi_targets(self) -> None:
        """``targets.stages`` must name stages of the journey, ``targets.steps`` its step ids
        (rates outside 0..1 and unknown keys are pydantic's to report)."""
        targets = self.data.get("targets")
        if not isinstance(targets, dict):
            return
        stages = self._stages()
        by_stage = targets.get("stages")
        for stage in by_stage if isinstance(by_stage, dict) else {}:
            if stage not in stages:
                self.add(
                    ("targets", "stages", stage),
                    f"targets.stages names unknown stage '{stage}'",
                    hint=_suggest(
                        str(stage),
                        list(stages),
                        f"stages are {', '.join(stages)} (change them in settings.stages)",
                    ),
                )
        by_step = targets.get("steps")
        for step in by_step if isinstance(by_step, dict) else {}:
            if step not in self.by_id:
                self.add(
                    ("targets", "steps", step),
                    f"targets.steps names '{step}', which is not a step of this journey",
                    hint=_suggest(str(step), self.ids, "use a step id of this journey"),
                )

    def check_compliance(self, node: _StepNode, spec: m.SendSpec) -> None:
        """A marketing email through a real provider must carry List-Unsubscribe and an address."""
        settings = self.journey.settings if self.journey else None
        if settings is None or spec.channel != "email" or spec.transactional:
            return
        provider, _ = m.parse_sender(settings.sender("email"))
        if provider != "outbox" and settings.compliance is None:
            self.add(
                (*node.loc, "send"),
                f"marketing email through {provider} needs a one-click unsubscribe link"
                " (List-Unsubscribe) and a postal address, and settings.compliance is not set",
                step=node.id,
                hint="add settings.compliance: {postal_address: '...', unsubscribe_url:"
                " 'https://.../unsubscribe'}, or mark a receipt-like step 'transactional: true'",
            )

    def check_sends(self) -> None:
        cat = self.catalog
        for node in self.nodes:
            if not isinstance(node.model, m.SendStep):
                continue
            spec = node.model.send
            self.check_compliance(node, spec)
            loc = (*node.loc, "send", "template")
            name = spec.template
            if name in cat.broken_templates:
                self.add(
                    loc,
                    f"template '{name}' has problems of its own (see {cat.template_files[name]})",
                    step=node.id,
                    hint="fix the template file",
                )
                continue
            template = cat.templates.get(name)
            if template is None:
                self.add(
                    loc,
                    f"unknown template '{name}'",
                    step=node.id,
                    hint=_suggest(name, sorted(cat.templates), f"create templates/{name}.yaml"),
                )
                continue
            if template.channel != spec.channel:
                self.add(
                    (*node.loc, "send", "channel"),
                    f"template '{name}' is a {template.channel} template but this step sends"
                    f" by {spec.channel}",
                    step=node.id,
                    hint=f"use channel: {template.channel}, or a {spec.channel} template",
                )
            file = cat.template_files.get(name, f"templates/{name}.yaml")
            for issue, line in cat.template_issues.get(name, []):
                if issue.message.startswith("unknown variable"):
                    self.add(
                        loc,
                        f"template '{name}' uses an {issue.message} ({file}:{line})",
                        step=node.id,
                        hint=issue.hint,
                    )
            declared = {str(k) for k in spec.data}
            reported: set[str] = set()
            for ref, line in cat.template_references.get(name, []):
                if ref.path[0] != "data" or len(ref.path) < 2:
                    continue
                key = ref.path[1]
                if key in declared or key in reported:
                    continue
                reported.add(key)
                self.add(
                    (*node.loc, "send"),
                    f"template '{name}' uses '{ref.dotted}' ({file}:{line}) but this step's"
                    f" send.data does not set '{key}'",
                    step=node.id,
                    hint=f"add 'data: {{{key}: ...}}' under 'send'",
                )

    # -- segments and conditions

    def _segment_known(self, name: str, loc: Loc, step: str | None) -> None:
        cat = self.catalog
        if name in cat.segments or name in cat.broken_segments:
            return
        self.add(
            loc,
            f"unknown segment '{name}'",
            step=step,
            hint=_suggest(name, sorted(cat.segments), f"create segments/{name}.yaml"),
        )

    def _conditions(self, condition: Any, loc: Loc, step: str | None) -> None:
        for rule, at in walk_with_loc(condition, loc):
            if isinstance(rule, r.SegmentRef):
                self._segment_known(rule.segment, (*at, "segment"), step)

    def check_segments(self) -> None:
        journey = self.journey
        entry = journey.entry if journey is not None else _try(m.Entry, self.data.get("entry"))
        if entry is not None:
            if isinstance(entry.segment, str):
                self._segment_known(entry.segment, ("entry", "segment"), None)
            elif entry.segment is not None:
                self._conditions(entry.segment, ("entry", "segment"), None)
                for rule, at in walk_with_loc(entry.segment, ("entry", "segment")):
                    if isinstance(rule, r.EngagementRule):
                        self.add(
                            at,
                            f"'{rule.kind}' conditions only work in a branch step:"
                            " at entry nothing has been sent yet",
                            hint="move this condition to a branch step after the send",
                        )
        rules = journey.exit if journey is not None else _try(m.ExitRules, self.data.get("exit"))
        if rules is not None:
            leaving = rules.on_leaving_segment
            if isinstance(leaving, str):
                self._segment_known(leaving, ("exit", "on_leaving_segment"), None)
            elif leaving is True and entry is not None and entry.segment is None:
                self.add(
                    ("exit", "on_leaving_segment"),
                    "exit.on_leaving_segment is true but the entry has no segment to leave",
                    hint="name a segment (on_leaving_segment: <segment>) or add entry.segment",
                )
        for node in self.nodes:
            if isinstance(node.model, m.BranchStep):
                for j, case in enumerate(node.model.branch):
                    if isinstance(case, m.BranchCase):
                        self._conditions(case.when, (*node.loc, "branch", j, "when"), node.id)

    def check_engagement(self) -> None:
        for node in self.nodes:
            if not isinstance(node.model, m.BranchStep) or node.id is None:
                continue
            for j, case in enumerate(node.model.branch):
                if not isinstance(case, m.BranchCase):
                    continue
                for rule, at in walk_with_loc(case.when, (*node.loc, "branch", j, "when")):
                    if isinstance(rule, r.EngagementRule):
                        self._engagement(node, rule, at)

    def _engagement(self, node: _StepNode, rule: r.EngagementRule, loc: Loc) -> None:
        for name in rule.steps:
            target = self.by_id.get(name)
            if target is None:
                self.add(
                    loc,
                    f"'{rule.kind}' names '{name}', which is not a step of this journey",
                    step=node.id,
                    hint=_suggest(name, self.ids, "name send steps that run before this branch"),
                )
            elif not isinstance(target.model, m.SendStep):
                self.add(
                    loc,
                    f"'{rule.kind}' names '{name}', which is a {target.kind} step, not a send step",
                    step=node.id,
                    hint="engagement conditions look at messages sent by send steps",
                )
            elif node.id not in reachable(self.graph, name) or name == node.id:
                self.add(
                    loc,
                    f"'{rule.kind}' names '{name}', but no path leads from '{name}' to this branch",
                    step=node.id,
                    hint=f"only sends that can happen before this branch can have been {rule.kind}",
                )


def _try(cls: type[BaseModel], raw: Any) -> Any:
    if raw is None:
        raw = {}
    try:
        return cls.model_validate(raw)
    except (ValidationError, ValueError, TypeError):
        return None


def walk_with_loc(condition: Any, loc: Loc) -> Iterator[tuple[Any, Loc]]:
    """Every condition of a tree with its location in the YAML (like :func:`rules.walk`)."""
    yield condition, loc
    if isinstance(condition, r.AllRule):
        for k, child in enumerate(condition.all):
            yield from walk_with_loc(child, (*loc, "all", k))
    elif isinstance(condition, r.AnyRule):
        for k, child in enumerate(condition.any):
            yield from walk_with_loc(child, (*loc, "any", k))
    elif isinstance(condition, r.NotRule):
        yield from walk_with_loc(condition.not_, (*loc, "not"))


# ----------------------------------------------------------------------------- named segments


def segment_problems(
    sources: Mapping[str, YamlSource], segments: Mapping[str, r.Segment], broken: frozenset[str]
) -> list[Problem]:
    """Unknown references, engagement conditions and reference loops among named segments."""
    problems: list[Problem] = []
    refs: dict[str, list[str]] = {}
    for name, segment in segments.items():
        source = sources[name]
        refs[name] = []
        for rule, at in walk_with_loc(segment.rule, ("rule",)):
            if isinstance(rule, r.SegmentRef):
                refs[name].append(rule.segment)
                if rule.segment not in segments and rule.segment not in broken:
                    problems.append(
                        source.problem(
                            (*at, "segment"),
                            f"segment '{name}' uses unknown segment '{rule.segment}'",
                            hint=_suggest(
                                rule.segment,
                                sorted(segments),
                                f"create segments/{rule.segment}.yaml",
                            ),
                        )
                    )
            elif isinstance(rule, r.EngagementRule):
                problems.append(
                    source.problem(
                        at,
                        f"'{rule.kind}' conditions name steps of one journey and cannot be used"
                        " in a named segment",
                        hint="put this condition in the journey's branch step instead",
                    )
                )
    for loop in loops_without(refs, ()):
        name = loop[0]
        problems.append(
            sources[name].problem(
                ("rule",),
                f"segments {' → '.join([*loop, loop[0]])} refer to each other in a loop",
                hint="a segment cannot include itself, directly or through others",
            )
        )
    return problems


def segment_closure(names: list[str], segments: Mapping[str, r.Segment]) -> list[str]:
    """``names`` and every named segment they use, transitively, in first-seen order."""
    out: list[str] = []
    todo = list(names)
    while todo:
        name = todo.pop(0)
        if name in out or name not in segments:
            continue
        out.append(name)
        todo += [c.segment for c in r.walk(segments[name].rule) if isinstance(c, r.SegmentRef)]
    return out


def journey_segment_names(journey: m.Journey) -> list[str]:
    """Named segments a journey refers to directly."""
    names: list[str] = []
    conditions: list[Any] = []
    if isinstance(journey.entry.segment, str):
        names.append(journey.entry.segment)
    elif journey.entry.segment is not None:
        conditions.append(journey.entry.segment)
    if isinstance(journey.exit.on_leaving_segment, str):
        names.append(journey.exit.on_leaving_segment)
    for step in journey.steps:
        if isinstance(step, m.BranchStep):
            conditions += [case.when for case in step.cases]
    for condition in conditions:
        names += [c.segment for c in r.walk(condition) if isinstance(c, r.SegmentRef)]
    return list(dict.fromkeys(names))


def journey_template_names(journey: m.Journey) -> list[str]:
    return list(dict.fromkeys(s.send.template for s in journey.steps if isinstance(s, m.SendStep)))
