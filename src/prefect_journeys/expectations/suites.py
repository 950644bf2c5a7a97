"""Expectation suites as GX 1.x JSON files: find them, check them, build them.

A suite ``<name>`` is ``<project>/expectations/<name>.json`` when that file exists, else the default
packaged with prefect-journeys (``prefect_journeys/expectations/defaults/<name>.json``). The file is
the shape of ``ExpectationSuite.to_json_dict()`` without ids::

    {"name": "customers", "notes": "...", "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"},
         "meta": {"reason": "missing", "counts_toward_threshold": true}}]}

Every expectation is checked before GX sees it (GX itself logs and silently drops an unknown type),
so a broken file is a :class:`SuiteError` naming the file and what is wrong: bad JSON (with line
and column), an unknown expectation type, a missing or invalid argument. Dynamic values are GX
suite parameters (``{"$PARAMETER": "name"}``), supplied at validation time.

Great Expectations is imported only when a suite is built (the import takes seconds).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULTS_DIR = Path(__file__).parent / "defaults"
PROJECT_DIR = "expectations"
INDEX_KEY = "pj_index"  # meta key (in memory only): the expectation's position in the file
_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")
# Expectations whose behaviour depends on an argument that GX would otherwise default silently.
_REQUIRED_BY_SUFFIX = {
    "_match_regex": ("regex",),
    "_not_match_regex": ("regex",),
    "_match_regex_list": ("regex_list",),
    "_not_match_regex_list": ("regex_list",),
    "_be_in_set": ("value_set",),
    "_not_be_in_set": ("value_set",),
}


class SuiteError(Exception):
    """A suite file that cannot be used: the message names the file and what is wrong."""


@dataclass(frozen=True)
class SuiteSpec:
    """One expectation as written in the file (the parts prefect-journeys reads itself)."""

    index: int  # 1-based position in the file
    type: str
    column: str | None
    columns: tuple[str, ...]  # every column it reads: column, column_list, row_condition columns
    reason: str | None  # meta.reason: the readable failure text
    counts_toward_threshold: bool  # meta.counts_toward_threshold (default true)
    value_set_parameter: str | None = None  # an in-set check whose value_set is a parameter


@dataclass(frozen=True)
class Suite:
    """A checked suite: the GX ``ExpectationSuite`` plus what the runner needs to read results."""

    name: str
    path: Path
    gx_suite: Any  # great_expectations.core.ExpectationSuite
    specs: tuple[SuiteSpec, ...]
    parameters: frozenset[str]  # $PARAMETER names the suite uses
    other_parameters: frozenset[str] = frozenset()  # those used other than as an in-set value set

    @property
    def columns(self) -> set[str]:
        return {c for spec in self.specs for c in spec.columns}


def suite_path(name: str, project_root: Path | None = None) -> Path | None:
    """The file suite ``name`` is read from (the project's, else the default), or None."""
    if not _NAME.match(name):
        raise SuiteError(f"suite name {name!r}: use lower-case letters, digits and underscores")
    if project_root is not None:
        candidate = Path(project_root) / PROJECT_DIR / f"{name}.json"
        if candidate.is_file():
            return candidate
    default = DEFAULTS_DIR / f"{name}.json"
    return default if default.is_file() else None


def suite_exists(name: str, project_root: Path | None = None) -> bool:
    return suite_path(name, project_root) is not None


_cache: dict[tuple[str, int, int], Suite] = {}
_cache_lock = threading.Lock()


def get_suite(name: str, project_root: Path | None = None) -> Suite:
    """The checked suite ``name`` (cached while its file is unchanged); :class:`SuiteError` if none."""
    path = suite_path(name, project_root)
    if path is None:
        where = (
            f"{Path(project_root) / PROJECT_DIR / (name + '.json')} nor " if project_root else ""
        )
        raise SuiteError(f"no suite {name!r}: neither {where}a packaged default exists")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    suite = build_suite(read_suite_file(path), path)
    with _cache_lock:
        _cache[key] = suite
    return suite


def read_suite_file(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; :class:`SuiteError` with line and column when it is not JSON."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"{path}: cannot read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise SuiteError(f"{path}: a suite is a JSON object with an 'expectations' list")
    return data


def build_suite(data: dict[str, Any], path: Path) -> Suite:
    """Check every expectation of ``data`` and build the GX suite; :class:`SuiteError` if broken."""
    from great_expectations.core.expectation_suite import ExpectationSuite

    name = data.get("name") or path.stem
    if not isinstance(name, str):
        raise SuiteError(f"{path}: 'name' must be a string")
    items = data.get("expectations")
    if not isinstance(items, list):
        raise SuiteError(f"{path}: 'expectations' must be a list of expectations")
    built: list[Any] = []
    specs: list[SuiteSpec] = []
    parameters: set[str] = set()
    other: set[str] = set()
    for index, item in enumerate(items, start=1):
        expectation, spec = _build_expectation(item, index, path)
        built.append(expectation)
        specs.append(spec)
        kwargs = dict(item.get("kwargs", {}))
        parameters |= _parameter_names(kwargs)
        if spec.value_set_parameter:
            kwargs.pop("value_set")
        other |= _parameter_names(kwargs)
    try:
        gx_suite = ExpectationSuite(
            name=name, expectations=built, meta=data.get("meta") or {}, notes=data.get("notes")
        )
    except Exception as exc:
        raise SuiteError(f"{path}: {_first_line(exc)}") from None
    return Suite(name, path, gx_suite, tuple(specs), frozenset(parameters), frozenset(other))


def _build_expectation(item: Any, index: int, path: Path) -> tuple[Any, SuiteSpec]:
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )
    from great_expectations.expectations.registry import get_expectation_impl

    where = f"{path}: expectation {index}"
    if not isinstance(item, dict) or not isinstance(item.get("type"), str):
        raise SuiteError(f"{where}: an expectation is an object with a 'type' string")
    etype: str = item["type"]
    kwargs = item.get("kwargs", {})
    meta = item.get("meta") or {}
    if not isinstance(kwargs, dict) or not isinstance(meta, dict):
        raise SuiteError(f"{where} ({etype}): 'kwargs' and 'meta' must be objects")
    try:
        get_expectation_impl(etype)
    except Exception:
        raise SuiteError(f"{where}: unknown expectation type {etype!r}") from None
    for suffix, needed in _REQUIRED_BY_SUFFIX.items():
        if etype.endswith(suffix):
            missing = [k for k in needed if k not in kwargs]
            if missing:
                raise SuiteError(f"{where} ({etype}): missing argument {', '.join(missing)!r}")
    for pattern in _patterns(kwargs):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise SuiteError(f"{where} ({etype}): invalid regex {pattern!r}: {exc}") from None
    counts = meta.get("counts_toward_threshold", True)
    if not isinstance(counts, bool):
        raise SuiteError(f"{where} ({etype}): meta.counts_toward_threshold must be true or false")
    reason = meta.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise SuiteError(f"{where} ({etype}): meta.reason must be a string")
    try:
        expectation = ExpectationConfiguration(
            type=etype, kwargs=kwargs, meta={**meta, INDEX_KEY: index}
        ).to_domain_obj()
    except Exception as exc:
        raise SuiteError(f"{where} ({etype}): {_describe(exc)}") from None
    column = kwargs.get("column") if isinstance(kwargs.get("column"), str) else None
    value_set = kwargs.get("value_set")
    set_parameter = (
        value_set["$PARAMETER"]
        if etype.endswith("_in_set")
        and isinstance(value_set, dict)
        and isinstance(value_set.get("$PARAMETER"), str)
        else None
    )
    spec = SuiteSpec(index, etype, column, _columns_of(kwargs), reason, counts, set_parameter)
    return expectation, spec


def _patterns(kwargs: dict[str, Any]) -> list[str]:
    found = [kwargs["regex"]] if isinstance(kwargs.get("regex"), str) else []
    if isinstance(kwargs.get("regex_list"), list):
        found.extend(p for p in kwargs["regex_list"] if isinstance(p, str))
    return found


def _columns_of(kwargs: dict[str, Any]) -> tuple[str, ...]:
    found: list[str] = []
    for key in ("column", "column_A", "column_B"):
        if isinstance(kwargs.get(key), str):
            found.append(kwargs[key])
    if isinstance(kwargs.get("column_list"), list):
        found.extend(c for c in kwargs["column_list"] if isinstance(c, str))
    found.extend(_condition_columns(kwargs.get("row_condition")))
    return tuple(dict.fromkeys(found))


def _condition_columns(condition: Any) -> list[str]:
    """Columns named by a Condition-object row condition (``{"column": {"name": ...}}``)."""
    if isinstance(condition, dict):
        found = []
        column = condition.get("column")
        if isinstance(column, dict) and isinstance(column.get("name"), str):
            found.append(column["name"])
        for sub in condition.get("conditions") or []:
            found.extend(_condition_columns(sub))
        return found
    return []


def _parameter_names(value: Any) -> set[str]:
    if isinstance(value, dict):
        if set(value) == {"$PARAMETER"} and isinstance(value["$PARAMETER"], str):
            return {value["$PARAMETER"]}
        return set().union(*(_parameter_names(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_parameter_names(v) for v in value)) if value else set()
    return set()


def _describe(exc: Exception) -> str:
    """One line for a GX/pydantic configuration error: ``field: problem; field: problem``."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            parts = []
            for err in errors():
                loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
                parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
            # pydantic lists one error per union member: keep each field's first
            unique = list(dict.fromkeys(parts))
            if unique:
                return "; ".join(unique[:4])
        except Exception:  # fall back to the message
            pass
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


__all__ = [
    "DEFAULTS_DIR",
    "Suite",
    "SuiteError",
    "SuiteSpec",
    "build_suite",
    "get_suite",
    "read_suite_file",
    "suite_exists",
    "suite_path",
]
