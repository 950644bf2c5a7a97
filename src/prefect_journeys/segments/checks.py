"""Project checks for SQL-backed segments: the source a segment names must be a SQL source."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from typing import Any, Protocol

from prefect_journeys.definition.errors import Problem
from prefect_journeys.definition.yamlsource import YamlSource
from prefect_journeys.segments.rules import Segment

__all__ = ["sql_segment_problems"]


class _SegmentFile(Protocol):
    source: YamlSource
    segment: Segment | None


def sql_segment_problems(
    segment_files: Mapping[str, _SegmentFile],
    sources: Mapping[str, Any],
    broken_sources: Collection[str] = (),
) -> list[Problem]:
    """A problem (at the ``source:`` line) for every SQL segment naming an unknown source or a
    source that is not ``kind: sql``. Sources that exist but have problems of their own
    (``broken_sources``) are not reported again here."""
    problems: list[Problem] = []
    for record in segment_files.values():
        segment = record.segment
        if segment is None or segment.source is None:
            continue
        name = segment.source
        found = sources.get(name)
        if found is None:
            if name in broken_sources:
                continue
            close = difflib.get_close_matches(name, sorted(sources), n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"create sources/{name}.yaml"
            problems.append(
                record.source.problem(
                    ("source",), f"segment '{segment.id}' uses unknown source '{name}'", hint=hint
                )
            )
        elif getattr(found, "kind", None) != "sql":
            problems.append(
                record.source.problem(
                    ("source",),
                    f"segment '{segment.id}' queries source '{name}', which is a"
                    f" {getattr(found, 'kind', '?')} source; a segment query runs in a SQL"
                    " database",
                    hint="name a source with 'kind: sql', or write the segment as a 'rule'",
                )
            )
    return problems
