"""Segments backed by a SQL query against a source database, refreshed by the tick's `segments`
phase: the store on SQLite and on Postgres, the source a separate, real Postgres database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select, text
from tests.engine.helpers import T0, customers, plan_of, tick

from prefect_journeys.definition.compiler import Plan
from prefect_journeys.segments.refresh import SegmentSourceError
from prefect_journeys.store.models import metadata

MEMBERS = metadata.tables["segment_members"]
ENROLLMENTS = metadata.tables["enrollments"]

BIG_SPENDERS = """\
    name: Big spenders
    description: more than 100 spent, from the warehouse's orders
    source: warehouse
    query: |
      select customer_ref
      from orders
      group by customer_ref
      having sum(total) > 100
"""

JOURNEY = """\
    id: vip
    entry: {segment: big_spenders}
    exit: {on_leaving_segment: true}
    steps:
      - id: hello
        send: {channel: email, template: hello}
        next: pause
      - id: pause
        wait: 30d
"""


def orders(warehouse: Engine, *rows: tuple[str | None, float]) -> None:
    with warehouse.begin() as conn:
        conn.execute(text("DELETE FROM orders"))
        if not rows:
            return
        conn.execute(
            text("INSERT INTO orders (customer_ref, total) VALUES (:ref, :total)"),
            [{"ref": ref, "total": total} for ref, total in rows],
        )


def opener(warehouse: Engine) -> Callable[[str], Engine]:
    return {"warehouse": warehouse}.__getitem__


def members(engine: Engine, segment: str = "big_spenders") -> set[str]:
    with engine.connect() as conn:
        query = select(MEMBERS.c.customer_id).where(MEMBERS.c.segment_id == segment)
        return set(conn.execute(query).scalars())


def enrolled(engine: Engine) -> dict[str, str]:
    """customer → enrollment state."""
    with engine.connect() as conn:
        rows = conn.execute(select(ENROLLMENTS.c.customer_id, ENROLLMENTS.c.state))
        return {r.customer_id: r.state for r in rows}


def store_rows(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            name: conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
            for name in (
                "segment_members",
                "enrollments",
                "events",
                "journey_versions",
                "tick_runs",
            )
        }


SOURCES = {  # the project's SQL sources; the tests open them with their own engines
    "warehouse": "kind: sql\nentity: customers\nurl_env: PJ_WAREHOUSE_URL\ntable: orders\n"
    "columns: {id: customer_ref}\n",
    "shop": "kind: sql\nentity: customers\nurl: sqlite:///shop.db\ntable: vips\n"
    "columns: {id: ref}\n",
}


def plan_with_sources(tmp_path: Path, journey: str, segments: dict[str, str]) -> Plan:
    folder = tmp_path / "project" / "sources"
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in SOURCES.items():
        (folder / f"{name}.yaml").write_text(body)
    return plan_of(tmp_path, journey, segments=segments)


def vip_plan(tmp_path: Path, segment: str = BIG_SPENDERS, journey: str = JOURNEY) -> Plan:
    return plan_with_sources(tmp_path, journey, {"big_spenders": segment})


@pytest.fixture
def store(engine: Engine) -> Engine:
    customers(engine, "c1", "c2", "c3", "c4", "c5")
    return engine


def test_entry_segment_enrolls_exactly_the_customers_the_query_returns(
    store: Engine, warehouse: Engine, tmp_path: Path
) -> None:
    orders(
        warehouse,
        ("c1", 80),
        ("c1", 40),  # 120 in two orders
        ("c2", 99),
        ("c3", 500),
        ("ghost", 1000),  # no profile in the store
        ("ghost2", 101),
        (None, 900),  # a NULL key
    )
    report = tick(store, vip_plan(tmp_path), T0, sources=opener(warehouse))
    assert members(store) == {"c1", "c3"}
    assert enrolled(store) == {"c1": "active", "c3": "active"}
    assert report.entered == 2
    counted = [p for p in report.problems if "big_spenders" in p]
    assert counted == [
        "segment 'big_spenders' (source 'warehouse'): 2 of 4 customer keys returned by its query"
        " have no profile in the store; ignored"
    ]
    assert not any("ghost" in p for p in report.problems)


def test_refresh_removes_customers_who_left_and_adds_newcomers(
    store: Engine, warehouse: Engine, tmp_path: Path
) -> None:
    plan = vip_plan(tmp_path)
    orders(warehouse, ("c1", 200), ("c3", 200))
    tick(store, plan, T0, sources=opener(warehouse))
    with store.connect() as conn:
        first_seen = dict(
            conn.execute(select(MEMBERS.c.customer_id, MEMBERS.c.refreshed_at)).tuples().all()
        )
    orders(warehouse, ("c1", 200), ("c5", 150), ("c3", 20))  # c3 left, c5 joined
    report = tick(store, plan, T0 + timedelta(hours=1), sources=opener(warehouse))
    assert members(store) == {"c1", "c5"}
    assert enrolled(store) == {"c1": "active", "c3": "exited", "c5": "active"}
    assert report.entered == 1 and report.exited == 1
    with store.connect() as conn:
        now_rows = dict(
            conn.execute(select(MEMBERS.c.customer_id, MEMBERS.c.refreshed_at)).tuples().all()
        )
    assert now_rows["c1"] == first_seen["c1"]  # a member who stays is not rewritten
    orders(warehouse)  # nobody qualifies any more
    tick(store, plan, T0 + timedelta(hours=2), sources=opener(warehouse))
    assert members(store) == set()
    assert enrolled(store) == {"c1": "exited", "c3": "exited", "c5": "exited"}


def test_a_sql_segment_nested_in_a_rule_segment_is_refreshed_and_used(
    store: Engine, warehouse: Engine, tmp_path: Path
) -> None:
    customers(store, "p1", "p2", attributes={"plan": "pro"})
    orders(warehouse, ("c1", 500), ("p1", 500))
    plan = plan_with_sources(
        tmp_path,
        JOURNEY.replace("segment: big_spenders", "segment: pro_spenders"),
        {
            "big_spenders": BIG_SPENDERS,
            "pro_spenders": """\
                rule:
                  all:
                    - {segment: big_spenders}
                    - {attribute: plan, value: pro}
            """,
        },
    )
    tick(store, plan, T0, sources=opener(warehouse))
    assert members(store) == {"c1", "p1"}
    assert enrolled(store) == {"p1": "active"}


def test_dry_run_writes_nothing_but_reports_who_would_enter(
    store: Engine, warehouse: Engine, tmp_path: Path
) -> None:
    orders(warehouse, ("c1", 500), ("c2", 500))
    before = store_rows(store)
    report = tick(store, vip_plan(tmp_path), T0, sources=opener(warehouse), dry_run=True)
    assert report.entered == 2
    assert store_rows(store) == before
    assert members(store) == set()


def test_a_source_that_is_down_fails_the_tick_and_changes_nothing(
    store: Engine, warehouse: Engine, tmp_path: Path
) -> None:
    plan = vip_plan(tmp_path)
    orders(warehouse, ("c1", 500))
    tick(store, plan, T0, sources=opener(warehouse))
    before = store_rows(store)
    orders(warehouse, ("c2", 500))  # would change the membership
    down = create_engine("postgresql+psycopg://postgres:secret-pw@127.0.0.1:1/warehouse")
    with pytest.raises(SegmentSourceError) as caught:
        tick(store, plan, T0 + timedelta(hours=1), sources=opener(down))
    message = str(caught.value)
    assert message.startswith(
        "segment 'big_spenders' (source 'warehouse'): cannot connect to the source database:"
    )
    assert "secret-pw" not in message and "\n" not in message
    assert store_rows(store) == before
    assert members(store) == {"c1"}
    assert enrolled(store) == {"c1": "active"}


def test_the_query_runs_read_only_in_the_source(
    store: Engine, warehouse: Engine, tmp_path: Path
) -> None:
    """A query that passes the text check but has a side effect (nextval) is stopped by the
    read-only transaction; the source is unchanged."""
    sneaky = BIG_SPENDERS.replace(
        "having sum(total) > 100", "having sum(total) > 100 and nextval('side_effect') > 0"
    )
    orders(warehouse, ("c1", 500))
    with pytest.raises(SegmentSourceError) as caught:
        tick(store, vip_plan(tmp_path, sneaky), T0, sources=opener(warehouse))
    assert "read-only transaction" in str(caught.value)
    assert str(caught.value).startswith("segment 'big_spenders' (source 'warehouse'): the query")
    with warehouse.connect() as conn:
        assert conn.execute(text("SELECT last_value, is_called FROM side_effect")).one() == (
            1,
            False,
        )
    assert members(store) == set() and enrolled(store) == {}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "select customer_ref, total from orders",
            "the query returns 2 columns (customer_ref, total); it must return exactly one",
        ),
        ("select customer_ref from no_such_table", 'relation "no_such_table" does not exist'),
        ("select customer_ref from orders, pg_sleep(3)", "the query timed out after 1s"),
    ],
)
def test_query_mistakes_are_one_clear_line(
    store: Engine, warehouse: Engine, tmp_path: Path, query: str, expected: str
) -> None:
    orders(warehouse, ("c1", 500))
    segment = f"source: warehouse\ntimeout: 1s\nquery: {query}\n"
    with pytest.raises(SegmentSourceError) as caught:
        tick(store, vip_plan(tmp_path, segment), T0, sources=opener(warehouse))
    message = str(caught.value)
    assert message.startswith("segment 'big_spenders' (source 'warehouse'): ")
    assert expected in message and "\n" not in message
    assert store_rows(store)["segment_members"] == 0


def test_a_tick_without_sources_says_so(store: Engine, tmp_path: Path) -> None:
    with pytest.raises(SegmentSourceError, match="no sources were given to this tick"):
        tick(store, vip_plan(tmp_path), T0)


def test_sqlite_source_read_only_and_time_limited(store: Engine, tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    source = create_engine(f"sqlite:///{path}")
    with source.begin() as conn:
        conn.execute(text("CREATE TABLE vips (ref text)"))
        conn.execute(text("INSERT INTO vips VALUES ('c2'), ('c4'), (NULL)"))
    segment = "source: shop\nquery: select ref from vips\n"
    tick(store, vip_plan(tmp_path, segment), T0, sources={"shop": source}.__getitem__)
    assert members(store) == {"c2", "c4"}
    endless = (
        "source: shop\ntimeout: 1s\nquery: |\n"
        "  with recursive n(i) as (select 1 union all select i + 1 from n)\n"
        "  select i from n where i < 0\n"
    )
    with pytest.raises(SegmentSourceError, match=r"the query timed out after 1s"):
        tick(store, vip_plan(tmp_path, endless), T0, sources={"shop": source}.__getitem__)
    with source.connect() as conn:  # the connection is usable again: no query_only left behind
        assert conn.exec_driver_sql("PRAGMA query_only").scalar() == 0
    assert members(store) == {"c2", "c4"}
    source.dispose()


def test_task_names_start_with_the_segments_phase(tmp_path: Path) -> None:
    names: Any = list(vip_plan(tmp_path).task_names.values())
    assert names[:4] == ["vip/segments", "vip/prepare", "vip/rules", "vip/enroll"]


def test_the_query_text_reaches_the_database_verbatim(
    store: Engine, warehouse: Engine, tmp_path: Path
) -> None:
    """No bind-parameter parsing: '%', ':name' and '::' casts mean what they mean in SQL."""
    orders(warehouse, ("c1", 5), ("c2", 5), ("x:y", 5))
    segment = (
        "source: warehouse\nquery: >-\n"
        "  select customer_ref::text from orders\n"
        "  where customer_ref like 'c%' and customer_ref not in (':c1', '%(c2)s')\n"
    )
    tick(store, vip_plan(tmp_path, segment), T0, sources=opener(warehouse))
    assert members(store) == {"c1", "c2"}


def test_an_older_live_version_keeps_its_sql_segment_fresh(
    store: Engine, warehouse: Engine, tmp_path: Path
) -> None:
    """Customers who stay on version 1 are judged by version 1's SQL segment, so a tick of
    version 2 (which no longer uses it) still refreshes it."""
    orders(warehouse, ("c1", 500), ("c2", 500))
    tick(store, vip_plan(tmp_path), T0, sources=opener(warehouse))
    assert enrolled(store) == {"c1": "active", "c2": "active"}
    v2 = plan_with_sources(
        tmp_path,
        JOURNEY.replace("entry: {segment: big_spenders}", "entry: {segment: pros}").replace(
            "exit: {on_leaving_segment: true}", ""
        ),
        {"big_spenders": BIG_SPENDERS, "pros": "rule: {attribute: plan, value: pro}\n"},
    )
    assert not any(s.is_sql for s in v2.segments.values())
    orders(warehouse, ("c1", 500))  # c2 left the warehouse segment
    tick(store, v2, T0 + timedelta(hours=1), sources=opener(warehouse))
    assert members(store) == {"c1"}
    assert enrolled(store) == {"c1": "active", "c2": "exited"}
