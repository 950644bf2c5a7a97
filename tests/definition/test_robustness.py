"""The loader never raises, whatever a journey file contains."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefect_journeys.definition.project import Project, validate_paths
from prefect_journeys.definition.yamlsource import load_yaml

from .helpers import FIXTURE, make_project

VALID = yaml.safe_load((FIXTURE / "journeys" / "welcome_series.yaml").read_text())
ODD_VALUES: list[Any] = [None, 0, -1, 1.5, True, "", "exit", "3x", [], {}, [1, {}], {"a": [None]}]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


ALL_PATHS = [p for p in _paths(VALID) if p]


def _mangle(data: Any, path: tuple[Any, ...], action: str, new: Any) -> Any:
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "duplicate" and isinstance(parent, list):
        parent.insert(last, copy.deepcopy(parent[last]))
    elif action == "rename" and isinstance(parent, dict):
        parent[f"{last}x"] = parent.pop(last)
    else:
        parent[last] = new
    return data


mangles = st.lists(
    st.tuples(
        st.sampled_from(ALL_PATHS),
        st.sampled_from(["delete", "duplicate", "rename", "replace"]),
        st.sampled_from(ODD_VALUES) | st.text(max_size=8) | st.integers(),
    ),
    min_size=1,
    max_size=4,
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(mangles)
def test_mangled_journeys_never_raise(tmp_path: Path, edits: list[Any]) -> None:
    data = copy.deepcopy(VALID)
    for path, action, new in edits:
        try:
            data = _mangle(data, path, action, new)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or retyped the path
    root = make_project(Path(tempfile.mkdtemp(dir=tmp_path)), {"j": yaml.safe_dump(data)})
    project = Project.load(root)
    for problem in project.problems:
        assert "internal error" not in problem.message, str(problem)
    validate_paths([root])


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_random_text_never_raises(text: str) -> None:
    source = load_yaml(text, "x.yaml")
    assert all(p.file == "x.yaml" for p in source.problems)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}\n '\"&*!|>#%")), max_size=120))
def test_random_yaml_like_text_in_a_project(tmp_path: Path, text: str) -> None:
    root = make_project(Path(tempfile.mkdtemp(dir=tmp_path)), {"j": text})
    project = Project.load(root)
    for problem in project.problems:
        assert "internal error" not in problem.message, str(problem)
