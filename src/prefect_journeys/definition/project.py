"""A project folder: ``journeys/``, ``templates/``, ``segments/``, ``sources/``, loaded and checked.

:meth:`Project.load` never raises on bad input: every problem lands in ``project.problems`` with its
file and line. :meth:`Project.plan` compiles one journey, raising :class:`JourneyInvalid` when that
journey (or a template or segment it uses) has problems.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from prefect_journeys.definition import checks
from prefect_journeys.definition.errors import JourneyInvalid, Problem
from prefect_journeys.definition.model import Journey
from prefect_journeys.definition.templates import (
    Reference,
    TemplateIssue,
    TemplateSpec,
    analyze_template,
    parse_template,
)
from prefect_journeys.definition.yamlsource import Loc, YamlSource, read_yaml
from prefect_journeys.segments.checks import sql_segment_problems
from prefect_journeys.segments.rules import Segment
from prefect_journeys.sources.loading import load_source
from prefect_journeys.sources.model import Source

if TYPE_CHECKING:
    from prefect_journeys.definition.compiler import Plan

YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class LoadedJourney:
    """A journey that passed model validation, with where it came from."""

    journey: Journey
    path: Path
    file: str  # as shown in problems
    source: YamlSource

    def line(self, loc: Loc) -> int | None:
        return self.source.line(loc)

    def step_line(self, step_id: str) -> int | None:
        for index, step in enumerate(self.journey.steps):
            if step.id == step_id:
                return self.source.line(("steps", index))
        return None


@dataclass
class JourneyFile:
    """Any file under ``journeys/``, valid or not."""

    path: Path
    file: str
    source: YamlSource
    journey: Journey | None = None
    journey_id: str | None = None
    templates: list[str] = field(default_factory=list)
    segments: list[str] = field(default_factory=list)


@dataclass
class TemplateFile:
    path: Path
    file: str
    source: YamlSource
    spec: TemplateSpec | None = None
    references: list[tuple[Reference, int | None]] = field(default_factory=list)
    issues: list[tuple[TemplateIssue, int | None]] = field(default_factory=list)


@dataclass
class SegmentFile:
    path: Path
    file: str
    source: YamlSource
    segment: Segment | None = None


@dataclass
class SourceFile:
    """A file under ``sources/`` (its id is its stem), valid or not."""

    path: Path
    file: str
    source: YamlSource
    definition: Source | None = None


def _yaml_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in YAML_SUFFIXES)


class Project:
    """Everything in a project folder, loaded and cross-checked."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.journeys: dict[str, LoadedJourney] = {}
        self.templates: dict[str, TemplateSpec] = {}
        self.segments: dict[str, Segment] = {}
        self.problems: list[Problem] = []
        self.journey_files: list[JourneyFile] = []
        self.template_files: dict[str, TemplateFile] = {}
        self.segment_files: dict[str, SegmentFile] = {}
        self.sources: dict[str, Source] = {}  # sources/<id>.yaml that are valid
        self.source_files: dict[str, SourceFile] = {}
        self._by_file: dict[str, list[Problem]] = {}

    # -- finding and loading

    @staticmethod
    def find_root(path: Path) -> Path:
        """The nearest folder at or above ``path`` holding ``journeys/`` (else its own folder)."""
        start = path.resolve()
        if not start.is_dir():
            start = start.parent
        for folder in (start, *start.parents):
            if (folder / "journeys").is_dir():
                return folder
        return start

    @classmethod
    def load(cls, root: Path, extra_journeys: Sequence[Path] = ()) -> Project:
        """Load and check a project; ``extra_journeys`` are journey files outside ``journeys/``."""
        project = cls(Path(root).resolve())
        try:
            project._load(list(extra_journeys))
        except Exception as exc:  # a bug of ours must not hide the user's problems
            project._report(
                Problem(
                    project.display(project.root),
                    None,
                    None,
                    f"internal error while checking: {exc!r}",
                )
            )
        return project

    def display(self, path: Path) -> str:
        """How a file is named in problems: relative to the working folder, else to the root."""
        resolved = path.resolve()
        for base in (Path.cwd(), self.root):
            try:
                return resolved.relative_to(base).as_posix()
            except ValueError:
                continue
        return str(path)

    def _report(self, *problems: Problem) -> None:
        for problem in problems:
            self.problems.append(problem)
            self._by_file.setdefault(problem.file, []).append(problem)

    def _load(self, extra: list[Path]) -> None:
        for path in _yaml_files(self.root / "sources"):
            self._guard(path, self._load_source)
        for path in _yaml_files(self.root / "segments"):
            self._guard(path, self._load_segment)
        self._check_segments()
        self._report(*sql_segment_problems(self.segment_files, self.sources, self.source_files))
        for path in _yaml_files(self.root / "templates"):
            self._guard(path, self._load_template)
        catalog = self._catalog()
        paths = _yaml_files(self.root / "journeys")
        known = {p.resolve() for p in paths}
        paths += [p for p in extra if p.resolve() not in known]
        for path in paths:
            self._guard(path, lambda p: self._load_journey(p, catalog))
        self._check_duplicate_ids()

    def _guard(self, path: Path, load: Any) -> None:
        try:
            load(path)
        except Exception as exc:
            self._report(
                Problem(self.display(path), None, None, f"internal error while checking: {exc!r}")
            )

    def _mapping(self, source: YamlSource, what: str) -> dict[str, Any] | None:
        self._report(*source.problems)
        if source.problems:
            return None
        if not isinstance(source.data, dict):
            found = "nothing" if source.data is None else type(source.data).__name__
            self._report(
                Problem(
                    source.file,
                    source.line(()),
                    None,
                    f"expected a mapping describing {what}, found {found}",
                    "see the examples in the documentation",
                )
            )
            return None
        return source.data

    def _load_source(self, path: Path) -> None:
        definition, source, problems = load_source(path, self.root, self.display(path))
        self._report(*problems)
        if path.stem in self.source_files:
            first = self.source_files[path.stem].file
            self._report(source.problem((), f"source id '{path.stem}' is already used by {first}"))
            return
        self.source_files[path.stem] = SourceFile(path, source.file, source, definition)
        if definition is not None:
            self.sources[path.stem] = definition

    def _load_segment(self, path: Path) -> None:
        source = read_yaml(path, self.display(path))
        data = self._mapping(source, "one segment (id, name, description, rule)")
        name = path.stem
        record = SegmentFile(path, source.file, source)
        if data is not None:
            if isinstance(data.get("id"), str):
                name = data["id"]
            try:
                record.segment = Segment.model_validate({"id": path.stem, **data})
            except ValidationError as exc:
                self._report(*checks.validation_problems(source, exc))
        if name in self.segment_files:
            self._report(
                source.problem(
                    ("id",),
                    f"segment id '{name}' is already used by {self.segment_files[name].file}",
                    hint="give every segment its own id",
                )
            )
            return
        self.segment_files[name] = record
        if record.segment is not None:
            self.segments[name] = record.segment

    def _check_segments(self) -> None:
        sources = {name: self.segment_files[name].source for name in self.segments}
        broken = frozenset(n for n, f in self.segment_files.items() if f.segment is None)
        self._report(*checks.segment_problems(sources, self.segments, broken))

    def _load_template(self, path: Path) -> None:
        source = read_yaml(path, self.display(path))
        data = self._mapping(source, "one message template (channel, subject, body)")
        record = TemplateFile(path, source.file, source)
        self.template_files[path.stem] = record
        if data is None:
            return
        try:
            record.spec = parse_template(path.stem, data)
        except ValidationError as exc:
            self._report(*checks.validation_problems(source, exc))
            return
        references, issues = analyze_template(record.spec)

        def line(field_name: str, offset: int) -> int | None:
            start = source.value_line((field_name,))
            return start + offset - 1 if start is not None else None

        record.references = [(ref, line(ref.field, ref.line)) for ref in references]
        record.issues = [(issue, line(issue.field, issue.line)) for issue in issues]
        for issue, at in record.issues:
            self._report(Problem(source.file, at, None, issue.message, issue.hint))
        if any(not i.message.startswith("unknown variable") for i in issues):
            return  # a syntax error: journeys using it are told to fix the template
        self.templates[path.stem] = record.spec

    def _catalog(self) -> checks.Catalog:
        return checks.Catalog(
            templates=self.templates,
            template_files={n: f.file for n, f in self.template_files.items()},
            template_references={n: f.references for n, f in self.template_files.items()},
            template_issues={n: f.issues for n, f in self.template_files.items()},
            broken_templates=frozenset(n for n in self.template_files if n not in self.templates),
            segments=self.segments,
            segment_files={n: f.file for n, f in self.segment_files.items()},
            broken_segments=frozenset(
                n for n, f in self.segment_files.items() if f.segment is None
            ),
        )

    def _load_journey(self, path: Path, catalog: checks.Catalog) -> None:
        source = read_yaml(path, self.display(path))
        record = JourneyFile(path, source.file, source)
        self.journey_files.append(record)
        data = self._mapping(source, "one journey (id, entry, steps, ...)")
        if data is None:
            return
        if isinstance(data.get("id"), str):
            record.journey_id = data["id"]
        try:
            record.journey = Journey.model_validate(data)
        except ValidationError as exc:
            step_of = checks.step_id_at(data)
            self._report(
                *checks.validation_problems(source, exc, step_of=step_of, skip=_missing_step_id)
            )
        self._report(*checks.journey_problems(source, record.journey, catalog))
        if record.journey is not None:
            record.templates = checks.journey_template_names(record.journey)
            record.segments = checks.segment_closure(
                checks.journey_segment_names(record.journey), self.segments
            )
        else:
            record.templates = [
                n.model.send.template
                for n in checks.step_nodes(data)
                if n.model is not None and n.kind == "send"
            ]

    def _check_duplicate_ids(self) -> None:
        first: dict[str, JourneyFile] = {}
        for record in self.journey_files:
            if record.journey_id is None:
                continue
            if record.journey_id in first:
                self._report(
                    record.source.problem(
                        ("id",),
                        f"journey id '{record.journey_id}' is already used by"
                        f" {first[record.journey_id].file}",
                        hint="every journey needs its own id",
                    )
                )
                continue
            first[record.journey_id] = record
            if record.journey is not None:
                self.journeys[record.journey_id] = LoadedJourney(
                    record.journey, record.path, record.file, record.source
                )

    # -- asking questions

    def problems_in(self, file: str) -> list[Problem]:
        return list(self._by_file.get(file, []))

    def problems_for_file(self, record: JourneyFile) -> list[Problem]:
        """Problems of a journey file and of the templates and segments it uses."""
        found = self.problems_in(record.file)
        for name in record.templates:
            if name in self.template_files:
                found += self.problems_in(self.template_files[name].file)
        for name in record.segments:
            if name in self.segment_files:
                found += self.problems_in(self.segment_files[name].file)
        return list(dict.fromkeys(found))

    def problems_for(self, journey_id: str) -> list[Problem]:
        found: list[Problem] = []
        for record in self.journey_files:
            if record.journey_id == journey_id:
                found += self.problems_for_file(record)
        return list(dict.fromkeys(found))

    def journey_file(self, path: Path) -> JourneyFile | None:
        wanted = path.resolve()
        for record in self.journey_files:
            if record.path.resolve() == wanted:
                return record
        return None

    def plan(self, journey_id: str) -> Plan:
        """Compile one journey; :class:`JourneyInvalid` lists its problems when it has any."""
        from prefect_journeys.definition.compiler import compile_journey

        problems = self.problems_for(journey_id)
        if problems:
            raise JourneyInvalid(problems)
        loaded = self.journeys.get(journey_id)
        if loaded is None:
            known = ", ".join(sorted(self.journeys)) or "none"
            raise JourneyInvalid(
                [
                    Problem(
                        self.display(self.root / "journeys"),
                        None,
                        None,
                        f"no journey with id '{journey_id}'",
                        f"journeys in this project: {known}",
                    )
                ]
            )
        return compile_journey(loaded, self)


def _missing_step_id(error: Any) -> bool:
    """The project reports missing step ids itself (also for steps pydantic cannot type)."""
    return (
        error.raw.get("type") == "missing"
        and error.field == "id"
        and len(error.path) == 2
        and error.path[0] == "steps"
    )


def validate_paths(paths: Iterable[Path]) -> tuple[int, list[Problem]]:
    """Check journey files and folders; returns (journeys checked, problems). Never raises.

    A file is checked with the project it belongs to (the folder above with ``journeys/``);
    a folder checks every journey, template and segment file under it.
    """
    projects: dict[tuple[Path, tuple[Path, ...]], Project] = {}
    checked: set[Path] = set()
    problems: list[Problem] = []
    for path in paths:
        try:
            problems += _validate_one(Path(path), projects, checked)
        except Exception as exc:
            problems.append(
                Problem(str(path), None, None, f"internal error while checking: {exc!r}")
            )
    return len(checked), list(dict.fromkeys(problems))


def _validate_one(
    path: Path, projects: dict[tuple[Path, tuple[Path, ...]], Project], checked: set[Path]
) -> list[Problem]:
    if not path.exists():
        return [Problem(str(path), None, None, "no such file or folder")]
    root = Project.find_root(path)
    extra: tuple[Path, ...] = ()
    if path.is_file() and path.resolve().parent != (root / "journeys").resolve():
        in_project = any(
            path.resolve().parent == (root / d).resolve()
            for d in ("templates", "segments", "sources")
        )
        extra = () if in_project else (path.resolve(),)
    key = (root, extra)
    if key not in projects:
        projects[key] = Project.load(root, extra)
    project = projects[key]
    if path.is_file():
        record = project.journey_file(path)
        if record is not None:
            checked.add(record.path.resolve())
            return project.problems_for_file(record)
        return project.problems_in(project.display(path))
    folder = path.resolve()
    found: list[Problem] = []
    records = [r for r in project.journey_files if r.path.resolve().is_relative_to(folder)]
    for record in records:
        checked.add(record.path.resolve())
        found += project.problems_for_file(record)
    for problem in project.problems:
        if (project.root / problem.file).resolve().is_relative_to(folder) or (
            Path.cwd() / problem.file
        ).resolve().is_relative_to(folder):
            found.append(problem)
    sources = [f for f in project.source_files.values() if f.path.resolve().is_relative_to(folder)]
    if not records and not found and not sources:
        found.append(
            Problem(
                project.display(path),
                None,
                None,
                "no journey files found here",
                "journeys live in a 'journeys/' folder as one .yaml file each",
            )
        )
    return found
