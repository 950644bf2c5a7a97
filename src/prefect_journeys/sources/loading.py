"""Read ``sources/<id>.yaml`` into a :class:`~.model.Source`, or into problems with file and line.

Never raises on bad input: the project loader (``definition/project.py``) reports the problems, so
``journeys validate`` names source mistakes like journey mistakes.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from prefect_journeys.definition import checks
from prefect_journeys.definition.errors import Problem
from prefect_journeys.definition.yamlsource import YamlSource, read_yaml
from prefect_journeys.sources.model import CustomerSource, EventSource, parse_source

ENTITIES = ("customers", "events")


def load_source(
    path: Path, root: Path, file: str
) -> tuple[CustomerSource | EventSource | None, YamlSource, list[Problem]]:
    """The source defined in ``path`` (its id is the file's stem), its YAML and its problems."""
    yaml = read_yaml(path, file)
    if yaml.problems:
        return None, yaml, list(yaml.problems)
    data = yaml.data
    if not isinstance(data, dict):
        found = "nothing" if data is None else type(data).__name__
        return (
            None,
            yaml,
            [
                Problem(
                    file,
                    yaml.line(()),
                    None,
                    f"expected a mapping describing one source (kind, entity, ...), found {found}",
                    "see docs/sources.md",
                )
            ],
        )
    if "id" in data and data["id"] != path.stem:
        return (
            None,
            yaml,
            [yaml.problem(("id",), f"a source's id is its file name: '{path.stem}'")],
        )
    entity = data.get("entity")
    if entity not in ENTITIES:
        message = (
            "missing required field 'entity'"
            if entity is None
            else f"entity {entity!r} is neither 'customers' nor 'events'"
        )
        return None, yaml, [yaml.problem(("entity",), message, hint="entity: customers")]
    try:
        source = parse_source({**data, "id": path.stem}, defer_checks=True)
    except ValidationError as exc:
        return None, yaml, checks.validation_problems(yaml, exc)
    problems = [
        yaml.problem(loc, message, hint=hint) for loc, message, hint in source.inconsistencies()
    ]
    if problems:
        return None, yaml, problems
    source.bind(root, file)
    return source, yaml, []


__all__ = ["load_source"]
