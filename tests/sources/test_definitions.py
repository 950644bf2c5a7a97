"""Source files: what a valid one becomes, and every mistake named with its file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prefect_journeys.cli import app
from prefect_journeys.definition.project import Project, validate_paths
from prefect_journeys.sources.model import CustomerSource, EventSource, parse_source

REPO = Path(__file__).resolve().parents[2]


def _problems(root: Path, name: str, body: str) -> list[str]:
    (root / "sources").mkdir(exist_ok=True)
    (root / "sources" / f"{name}.yaml").write_text(textwrap.dedent(body).lstrip())
    project = Project.load(root)
    assert name not in project.sources
    return [str(p) for p in project.problems]


def test_the_example_project_sources_load() -> None:
    project = Project.load(REPO)
    assert [str(p) for p in project.problems] == []
    crm = project.sources["crm_customers"]
    orders = project.sources["orders"]
    assert isinstance(crm, CustomerSource) and isinstance(orders, EventSource)
    assert crm.columns.id == "customer_id" and crm.attributes["lifetime_value"].type == "number"
    assert crm.watermark is not None and crm.watermark.column == "updated_at"
    assert crm.batch_size == 200_000 and crm.threshold == 0.05 and crm.suite_name == "customers"
    assert orders.purchase is not None and orders.purchase.amount == "total"
    assert orders.root == REPO and orders.file == "sources/orders.yaml"
    assert set(orders.columns_needed()) == {
        "customer_id",
        "ordered_at",
        "order_id",
        "total",
        "currency",
        "channel",
    }


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            """
            kind: excel
            entity: customers
            path: a.csv
            columns: {id: x}
            """,
            "sources/s.yaml:1: kind: expected 'csv', 'parquet' or 'sql'",
        ),
        (
            """
            kind: csv
            entity: customers
            path: a.csv
            table: crm
            columns: {id: x}
            """,
            "sources/s.yaml:4: 'table' is for sql sources only",
        ),
        (
            """
            kind: sql
            entity: customers
            url: postgresql://shop:hunter2@db/shop
            table: crm
            columns: {id: x}
            """,
            "sources/s.yaml:3: url: a URL with a password does not belong in a YAML file",
        ),
        (
            """
            kind: sql
            entity: customers
            url_env: SHOP_URL
            columns: {id: x}
            """,
            "sources/s.yaml:1: a sql source needs exactly one of 'table' and 'query'",
        ),
        (
            """
            kind: csv
            entity: customers
            path: a.csv
            columns:
              email: mail
            """,
            "sources/s.yaml:4: columns: missing required field 'id'",
        ),
        (
            """
            kind: csv
            entity: customers
            path: a.csv
            columns: {id: x}
            attributes: {email: mail}
            """,
            "sources/s.yaml:5: attributes: attribute 'email' is a customer field",
        ),
        (
            """
            kind: csv
            entity: events
            path: a.csv
            columns: {customer: c, timestamp: t}
            """,
            "sources/s.yaml:4: give the event name as exactly one of 'columns.name'",
        ),
        (
            """
            kind: csv
            path: a.csv
            columns: {id: x}
            """,
            "sources/s.yaml:1: missing required field 'entity'",
        ),
        (
            """
            kind: csv
            entity: customers
            path: a.csv
            colums: {id: x}
            """,
            "sources/s.yaml:4: unknown field 'colums'",
        ),
        (
            """
            kind: csv
            entity: customers
            path: a.csv
            encoding: klingon-8
            columns: {id: x}
            """,
            "sources/s.yaml:4: encoding: unknown encoding 'klingon-8'",
        ),
        (
            """
            kind: csv
            entity: customers
            path: a.csv
            columns: {id: x
            """,
            "sources/s.yaml:5: YAML syntax error",
        ),
    ],
)
def test_a_broken_source_is_named_with_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    problems = _problems(tmp_path, "s", body)
    assert any(p.startswith(expected) for p in problems), problems


def test_validate_reports_a_source_file_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "journeys").mkdir()
    _problems(tmp_path, "crm", "kind: csv\nentity: customers\npath: a.csv\ncolumns: {}\n")
    checked, problems = validate_paths([tmp_path / "sources" / "crm.yaml"])
    assert checked == 0 and [str(p) for p in problems] == [
        "sources/crm.yaml:4: columns: missing required field 'id' (hint: add 'id: ...')"
    ]
    result = CliRunner().invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    assert "sources/crm.yaml:4" in result.output and "Traceback" not in result.output


def test_sources_built_in_code_check_their_fields_at_once() -> None:
    with pytest.raises(ValueError, match="needs exactly one of 'url_env' and 'url'"):
        parse_source(
            {"id": "x", "kind": "sql", "entity": "customers", "table": "t", "columns": {"id": "i"}}
        )
    source = parse_source(
        {
            "id": "x",
            "kind": "sql",
            "entity": "events",
            "url": "sqlite:///shop.db",
            "query": "select * from orders",
            "watermark": {"column": "seq", "type": "number"},
            "columns": {"anonymous_id": "anon", "name": "event", "timestamp": "at"},
            "properties": {"page": {"column": "url_path", "type": "text"}},
        }
    )
    assert isinstance(source, EventSource) and source.watermark is not None
    assert source.watermark.type == "number" and source.properties["page"].column == "url_path"


def test_validating_a_folder_of_good_sources_finds_no_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "journeys").mkdir()
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "crm.yaml").write_text(
        "kind: csv\nentity: customers\npath: a.csv\ncolumns: {id: x}\n"
    )
    assert validate_paths([tmp_path / "sources"]) == (0, [])
    assert validate_paths([tmp_path / "sources" / "crm.yaml"]) == (0, [])
