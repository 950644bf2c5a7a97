"""A SQL segment through the run-journey flow: the project's `sources/` opened read-only from an
environment variable, the `segments` task first, and a source that is down failing the run with
one line (no traceback in the result) and nothing written."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from tests.engine.helpers import T0, customers

from prefect_journeys.definition.model import ENGINE_TASKS
from prefect_journeys.store import make_engine
from prefect_journeys.store.migrate import ensure_schema

from .test_sql_segments import members, orders

pytestmark = pytest.mark.prefect

FILES = {
    "sources/warehouse.yaml": """\
        kind: sql
        entity: customers
        url_env: PJ_TEST_WAREHOUSE_URL
        table: orders
        columns: {id: customer_ref}
    """,
    "segments/big_spenders.yaml": """\
        source: warehouse
        query: select customer_ref from orders group by customer_ref having sum(total) > 100
    """,
    "templates/hello.yaml": "channel: email\nsubject: Hi\nbody: Hello\n",
    "journeys/vip.yaml": """\
        id: vip
        entry: {segment: big_spenders}
        steps:
          - id: hello
            send: {channel: email, template: hello}
    """,
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for name, body in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(body))
    return root


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    customers(engine, "c1", "c2", "c3")
    yield url, engine
    engine.dispose()


def test_the_flow_refreshes_the_segment_then_enrolls(
    prefect_server: None,
    project: Path,
    store: tuple[str, Engine],
    warehouse: Engine,
    warehouse_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect_journeys.flows.run_journey import run_journey

    url, engine = store
    orders(warehouse, ("c1", 500), ("c3", 101), ("c2", 5))
    monkeypatch.setenv("PJ_TEST_WAREHOUSE_URL", warehouse_url)
    counts = run_journey(journey="vip", project_dir=str(project), as_of=T0, database_url=url)
    assert counts["entered"] == 2 and counts["sent"] == 2
    assert counts["task_runs"] == 1 + len(ENGINE_TASKS)  # one step, and segments first
    assert members(engine) == {"c1", "c3"}

    orders(warehouse, ("c2", 500))
    monkeypatch.setenv(
        "PJ_TEST_WAREHOUSE_URL", "postgresql+psycopg://reader:hunter2@127.0.0.1:1/warehouse"
    )
    state = run_journey(
        journey="vip", project_dir=str(project), as_of=T0, database_url=url, return_state=True
    )
    assert state.is_failed()
    assert state.message.startswith(
        "segment 'big_spenders' (source 'warehouse'): cannot connect to the source database:"
    )
    assert "hunter2" not in state.message and "\n" not in state.message
    assert members(engine) == {"c1", "c3"}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM enrollments")).scalar_one() == 2
        assert conn.execute(text("SELECT count(*) FROM tick_runs")).scalar_one() == 1


def test_journeys_run_prints_one_line_when_the_source_is_down(
    prefect_server: None,
    project: Path,
    store: tuple[str, Engine],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from prefect_journeys.cli import app

    url, _engine = store
    monkeypatch.setenv("PJ_TEST_WAREHOUSE_URL", "postgresql+psycopg://reader@127.0.0.1:1/w")
    result = CliRunner().invoke(
        app,
        ["run", "vip", "--project", str(project), "--store", url, "--as-of", T0.isoformat()],
    )
    assert result.exit_code == 1, result.output
    assert "segment 'big_spenders' (source 'warehouse'): cannot connect" in result.output
    assert "Traceback" not in result.output


def test_a_segment_over_an_unset_url_variable_says_which(
    prefect_server: None,
    project: Path,
    store: tuple[str, Engine],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect_journeys.flows.run_journey import run_journey

    url, _engine = store
    monkeypatch.delenv("PJ_TEST_WAREHOUSE_URL", raising=False)
    state = run_journey(
        journey="vip", project_dir=str(project), as_of=T0, database_url=url, return_state=True
    )
    assert state.is_failed()
    assert state.message.startswith("segment 'big_spenders' (source 'warehouse'): ")
    assert "PJ_TEST_WAREHOUSE_URL is not set" in state.message
