"""Segment files with a SQL query: the read-only check and the shape rules, as `journeys validate`
reports them (file and line)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from prefect_journeys.definition.project import Project, validate_paths
from prefect_journeys.segments.query import query_issue
from prefect_journeys.segments.rules import Segment

READ_ONLY = [
    "select customer_id from orders",
    "SELECT customer_id FROM orders;",
    "  with big as (select customer_id, sum(total) t from orders group by 1)\n"
    "  select customer_id from big where t > 100 ;  ",
    "(select a from x) union (select b from y)",
    "select id from t where note = 'please delete; drop table t' -- update everything",
    "select id from t /* insert /* nested */ into */ where x > 1",
    'select "update" from t',
    "select id from t where body = $body$ delete from t; $body$",
    "select id from t where s = E'it\\'s; delete'",
    "select created_into, updated_at, deleted from t",
    "select id from t for_update_flag",
    "select [delete] from t",
    "select a[1] from t",
]


@pytest.mark.parametrize("sql", READ_ONLY)
def test_read_only_queries_pass(sql: str) -> None:
    assert query_issue(sql) is None, query_issue(sql)


REFUSED = [
    ("delete from orders", "not DELETE", 1),
    ("update orders set x = 1", "not UPDATE", 1),
    ("select 1; drop table orders", "more than one SQL statement", 1),
    ("select 1;\n\n select 2", "more than one SQL statement", 3),
    (
        "with gone as (delete from t returning id)\nselect id from gone",
        "'delete' is not allowed",
        1,
    ),
    ("select id\ninto backup\nfrom t", "'into' is not allowed", 2),
    ("select id from t for update", "'update' is not allowed", 1),
    ("select id from t\nfor share", "row locks", 2),
    ("select id from t for no key update", "row locks", 1),
    ("", "the query is empty", 1),
    (" -- nothing\n ; ", "the query is empty", 1),
    ("values (1)", "not VALUES", 1),
    ("explain select 1", "not EXPLAIN", 1),
    ("select 'oops from t", "unclosed string literal", 1),
    ('select "oops from t', "unclosed quoted identifier", 1),
    ("select 1 /* never closed", "unclosed comment", 1),
    ("select $x$ never closed", "unclosed dollar-quoted string $x$", 1),
    ("insert into t select 1", "not INSERT", 1),
    ("merge into t using s on true when matched then delete", "not MERGE", 1),
]


@pytest.mark.parametrize(("sql", "message", "line"), REFUSED)
def test_writing_or_odd_queries_are_refused(sql: str, message: str, line: int) -> None:
    issue = query_issue(sql)
    assert issue is not None
    assert message in issue.message
    assert issue.line == line


def _project(tmp_path: Path, segments: dict[str, str]) -> Project:
    root = tmp_path / "project"
    for folder in ("journeys", "templates", "segments"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for name, body in segments.items():
        (root / "segments" / f"{name}.yaml").write_text(textwrap.dedent(body))
    return Project.load(root)


def _problems(project: Project) -> list[str]:
    return [str(p) for p in project.problems]


def test_segment_file_shapes_are_reported_with_file_and_line(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        {
            "both": """\
                name: Both
                rule: {attribute: plan, value: pro}
                source: warehouse
                query: select customer_id from orders
            """,
            "neither": "name: Neither\ndescription: nothing here\n",
            "no_source": "query: select customer_id from orders\n",
            "source_only": "source: warehouse\nrule: {attribute: plan, value: pro}\n",
            "writes": """\
                name: Writes
                source: warehouse
                query: |
                  with gone as (
                    delete from orders returning customer_id
                  )
                  select customer_id from gone
            """,
            "two": "source: warehouse\nquery: 'select customer_id from a; select 1'\n",
            "slow": "source: warehouse\nquery: select 1\ntimeout: soon\n",
        },
    )
    problems = _problems(project)
    expected = [
        "segments/both.yaml:1: a segment has either a 'rule' or a 'query'",
        "segments/neither.yaml:1: a segment needs a 'rule', or a 'source' and a read-only SQL",
        "segments/no_source.yaml:1: a segment 'query' needs the 'source'",
        "segments/source_only.yaml:1: 'source' only goes with a 'query'",
        "segments/writes.yaml:3: query: 'delete' is not allowed: a segment query only reads",
        "segments/two.yaml:2: query: more than one SQL statement",
        "segments/slow.yaml:3: timeout: invalid duration 'soon'",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in problems), (start, problems)
    assert any("(line 2 of the query)" in p for p in problems if "writes.yaml" in p)
    assert len(problems) == len(expected), problems
    assert project.segments == {}


def test_validate_reports_a_writing_query_in_the_project(tmp_path: Path) -> None:
    project = _project(tmp_path, {"gone": "source: warehouse\nquery: delete from orders\n"})
    (project.root / "journeys" / "j.yaml").write_text(
        "id: j\nentry: {segment: gone}\nsteps:\n  - id: hi\n    exit: true\n",
    )
    checked, problems = validate_paths([project.root])
    assert checked == 1
    assert [str(p) for p in problems] == [
        f"{Project.load(project.root).display(project.root / 'segments' / 'gone.yaml')}:2: query:"
        " a segment query must be a SELECT (or WITH … SELECT) statement, not DELETE"
        " (line 1 of the query)"
    ]


def test_rule_segments_dump_as_before() -> None:
    """The new optional fields stay out of a rule segment's JSON: journey content hashes (and so
    journey versions) do not change for projects without SQL segments."""
    segment = Segment.model_validate({"id": "pro", "rule": {"attribute": "plan", "value": "pro"}})
    assert segment.model_dump(mode="json", by_alias=True) == {
        "id": "pro",
        "name": None,
        "description": None,
        "rule": {"attribute": "plan", "op": "=", "value": "pro"},
    }
    sql = Segment.model_validate({"id": "big", "source": "wh", "query": "select id from t"})
    assert Segment.model_validate(sql.model_dump(mode="json")) == sql
    assert sql.query_timeout.total_seconds() == 60


def test_a_segment_must_name_a_known_sql_source(tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "sources").mkdir(parents=True)
    (root / "sources" / "warehouse.yaml").write_text(
        "kind: sql\nentity: customers\nurl_env: WAREHOUSE_URL\ntable: crm\n"
        "columns: {id: customer_ref}\n"
    )
    (root / "sources" / "crm.yaml").write_text(
        "kind: csv\nentity: customers\npath: data/crm.csv\ncolumns: {id: customer_id}\n"
    )
    (root / "sources" / "broken.yaml").write_text("kind: sql\nentity: customers\n")
    project = _project(
        tmp_path,
        {
            "good": "source: warehouse\nquery: select customer_ref from crm\n",
            "typo": "name: Typo\nsource: warehous\nquery: select customer_ref from crm\n",
            "csv": "source: crm\nquery: select customer_id from crm\n",
            "uses_broken": "source: broken\nquery: select 1\n",
        },
    )
    mine = [str(p) for p in project.problems if p.file.startswith("segments/")]
    assert mine == [
        "segments/csv.yaml:1: segment 'csv' queries source 'crm', which is a csv source; a"
        " segment query runs in a SQL database (hint: name a source with 'kind: sql', or write"
        " the segment as a 'rule')",
        "segments/typo.yaml:2: segment 'typo' uses unknown source 'warehous' (hint: did you mean"
        " 'warehouse'?)",
    ]
    assert any(p.file == "sources/broken.yaml" for p in project.problems)
    assert set(project.segments) == {"good", "typo", "csv", "uses_broken"}
