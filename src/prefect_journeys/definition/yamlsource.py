"""Read YAML keeping the line of every mapping key and sequence item.

Pydantic reports errors at a location such as ``('steps', 3, 'wait_for', 'timeout')``; the line map
turns that into ``journeys/x.yaml:17``. Syntax errors and duplicate keys become problems, never
exceptions.

The resolver follows YAML 1.2 rather than PyYAML's YAML 1.1 defaults, because 1.1 surprises people
writing journeys: ``09:30`` stays the text ``"09:30"`` (not the number 570), ``on``/``yes``/``no``
stay text, and dates stay text. Only ``true``/``false``, decimal numbers and ``null`` are typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from prefect_journeys.definition.errors import Problem

Loc = tuple[Any, ...]

_RETYPED = {
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:timestamp",
}


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 style scalars (see the module docstring)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _RETYPED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$"), list("-+0123456789")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


@dataclass
class YamlSource:
    """A parsed YAML file: its data (None when unreadable), line maps and reading problems."""

    file: str
    data: Any = None
    lines: dict[Loc, int] = field(default_factory=dict)
    value_lines: dict[Loc, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def line(self, loc: Loc) -> int | None:
        """1-based line of ``loc`` (mapping key or sequence item), else of its nearest parent."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get(())

    def value_line(self, loc: Loc) -> int | None:
        """1-based line where the value at ``loc`` starts (a block scalar's first content line)."""
        found = self.value_lines.get(tuple(loc))
        return found if found is not None else self.line(loc)

    def problem(
        self, loc: Loc, message: str, *, step: str | None = None, hint: str | None = None
    ) -> Problem:
        return Problem(self.file, self.line(loc), step, message, hint)


def load_yaml(text: str, file: str) -> YamlSource:
    """Parse ``text``; any failure becomes a problem on the returned source."""
    source = YamlSource(file)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        source.problems.append(_syntax_problem(file, exc))
        return source
    except Exception as exc:  # a reader error (bad characters) or anything else PyYAML throws
        source.problems.append(Problem(file, None, None, f"cannot read YAML: {exc}"))
        return source
    if node is None:
        source.lines[()] = 1
        return source
    source.lines[()] = node.start_mark.line + 1
    try:
        _Walker(source).walk(node, ())
        source.data = _Loader("").construct_document(node)
    except yaml.MarkedYAMLError as exc:
        source.problems.append(_syntax_problem(file, exc))
    except RecursionError:
        source.problems.append(Problem(file, None, None, "YAML nests too deeply to read"))
    except Exception as exc:
        source.problems.append(Problem(file, None, None, f"cannot read YAML: {exc}"))
    return source


def read_yaml(path: Path, file: str | None = None) -> YamlSource:
    """Read and parse a file; ``file`` is the name used in problems (default: the path)."""
    name = file if file is not None else str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return YamlSource(name, problems=[Problem(name, None, None, f"cannot read file: {exc}")])
    return load_yaml(text, name)


def _syntax_problem(file: str, exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    what = " ".join(part for part in (exc.context, exc.problem) if part)
    return Problem(
        file,
        line,
        None,
        f"YAML syntax error: {what or exc}",
        "check indentation, unclosed quotes or brackets, and a ': ' after every key",
    )


class _Walker:
    """Record lines for every key and item; report duplicate keys. Each node is visited once."""

    def __init__(self, source: YamlSource) -> None:
        self.source = source
        self.seen: set[int] = set()
        self.keys = _Loader("")

    def walk(self, node: Node, loc: Loc) -> None:
        if id(node) in self.seen:  # an alias: its lines are those of the anchor
            return
        self.seen.add(id(node))
        if isinstance(node, MappingNode):
            firsts: dict[Any, int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self._key(key_node)
                line = key_node.start_mark.line + 1
                if key is _UNHASHABLE:
                    continue
                if key in firsts:
                    self.source.problems.append(
                        Problem(
                            self.source.file,
                            line,
                            None,
                            f"key {key!r} appears twice in the same mapping"
                            f" (first on line {firsts[key]})",
                            "remove one of them; YAML would silently keep only the last",
                        )
                    )
                    continue
                firsts[key] = line
                self.source.lines[(*loc, key)] = line
                self._value_line((*loc, key), value_node)
                self.walk(value_node, (*loc, key))
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                self.source.lines[(*loc, index)] = item.start_mark.line + 1
                self._value_line((*loc, index), item)
                self.walk(item, (*loc, index))

    def _value_line(self, loc: Loc, node: Node) -> None:
        line = node.start_mark.line + 1
        if isinstance(node, ScalarNode) and node.style in ("|", ">"):
            line += 1  # block scalar: the content starts below the indicator
        self.source.value_lines[loc] = line

    def _key(self, node: Node) -> Any:
        try:
            key = self.keys.construct_object(node, deep=True)
            hash(key)
        except Exception:
            return _UNHASHABLE
        return key


_UNHASHABLE = object()
