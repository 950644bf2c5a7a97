"""Structurally broken input stops the sync with one line naming the source, the file and the
line; nothing of the broken batch is stored and the watermark does not move."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from tests.sources.helpers import (
    CUSTOMER_HEADER,
    CUSTOMERS_YAML,
    ORDERS_YAML,
    customer,
    scalar,
    store_state,
    sync,
    write_csv,
    write_project,
)


def _failed(engine: Engine, root: Path, body: bytes | None = None) -> str:
    """Sync crm from data/customers.csv (``body`` written as bytes when given); return the error."""
    if body is not None:
        (root / "data").mkdir(exist_ok=True)
        (root / "data" / "customers.csv").write_bytes(body)
    project = write_project(root, {"crm": CUSTOMERS_YAML})
    before = store_state(engine)
    result = sync(engine, project, "crm")
    assert result.status == "failed", result
    assert store_state(engine) == before  # nothing written, watermark unmoved
    status = scalar(engine, "select status from sync_runs where id = :id", id=result.run_id)
    assert status == "failed"
    assert result.error is not None and "\n" not in result.error
    return result.error


HEADER = ",".join(CUSTOMER_HEADER).encode() + b"\n"
GOOD = b"c1,a@example.com,,UTC,yes,free,2026-03-01T08:00:00Z\n"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            HEADER + GOOD + b"c2,b@example.com,,UTC,yes\n",
            "data/customers.csv line 3: expected 7 fields, found 5",
        ),
        (
            HEADER + GOOD + GOOD.replace(b"c1,", b'c3,"b@ex"ample.com",'),
            "data/customers.csv line 3: malformed line",
        ),
        (
            HEADER + GOOD + b"c4,b@example.com,,UTC,yes,caf\xe9,2026-03-01T08:00:00Z\n",
            "data/customers.csv line 3: cannot decode byte 0xe9 at column 30 as utf-8",
        ),
        (
            HEADER + b'c5,"unterminated,,UTC,yes,free,2026\n',
            "data/customers.csv line 2: malformed line",
        ),
        (b"", "data/customers.csv is empty (no header line)"),
        (
            b"customer_id,mail,phone,tz,newsletter,plan,updated_at\n" + GOOD,
            "data/customers.csv lacks mapped column(s) email (for columns.email); its columns are:"
            " customer_id, mail, phone",
        ),
    ],
    ids=["field-count", "bad-quoting", "encoding", "unterminated-quote", "empty", "missing-column"],
)
def test_broken_csv_names_the_line(engine: Engine, root: Path, body: bytes, needle: str) -> None:
    error = _failed(engine, root, body)
    assert error.startswith("source crm: ") and needle in error, error


def test_the_declared_encoding_is_used_and_a_bom_is_skipped(engine: Engine, root: Path) -> None:
    write_csv(
        root / "data" / "customers.csv",
        CUSTOMER_HEADER,
        [customer(1, plan="caf\u00e9")],
        encoding="utf-8-sig",
    )
    project = write_project(root, {"crm": CUSTOMERS_YAML})
    assert sync(engine, project, "crm").counts["inserted"] == 1
    write_csv(
        root / "data" / "customers.csv", CUSTOMER_HEADER, [customer(2, plan="caf\u00e9")], "latin-1"
    )
    project = write_project(root, {"crm": CUSTOMERS_YAML + "encoding: latin-1\n"})
    result = sync(engine, project, "crm")
    assert result.status == "succeeded" and result.counts["inserted"] == 1
    assert scalar(engine, "select attributes from customers where id = 'c2'") in (
        {"plan": "caf\u00e9"},
        '{"plan": "caf\\u00e9"}',
    )


def test_a_missing_file_and_an_empty_glob_are_named(engine: Engine, root: Path) -> None:
    assert _failed(engine, root) == "source crm: no such file data/customers.csv"
    project = write_project(root, {"crm": CUSTOMERS_YAML.replace("customers.csv", "part-*.csv")})
    assert sync(engine, project, "crm").error == "source crm: no file matches data/part-*.csv"


def test_parquet_problems_are_named(engine: Engine, root: Path) -> None:
    (root / "data").mkdir(parents=True)
    (root / "data" / "orders.parquet").write_bytes(b"PAR1 this is not parquet")
    project = write_project(root, {"orders": ORDERS_YAML})
    result = sync(engine, project, "orders")
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.startswith("source orders: data/orders.parquet: cannot read Parquet")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table({"order_id": ["o1"], "buyer": ["c1"]}), root / "data" / "orders.parquet"
    )
    error = sync(engine, project, "orders").error
    assert error is not None and "data/orders.parquet lacks mapped column(s)" in error
    assert (
        "customer_id (for columns.customer)" in error
        and "its columns are: order_id, buyer" in error
    )


def test_a_failed_batch_after_good_ones_rolls_back_alone(engine: Engine, root: Path) -> None:
    """Batches of 2: batches 1-2 are stored, batch 3 hits a broken line and is rolled back;
    the watermark stays; after the fix a re-run stores the rest and nothing twice."""
    rows = [customer(n, updated=f"2026-03-01T0{n}:00:00Z") for n in range(1, 7)]
    path = root / "data" / "customers.csv"
    write_csv(path, CUSTOMER_HEADER, rows)
    text = path.read_text().splitlines()
    text[6] = text[6] + ",extra"  # line 7: customer c6 has a field too many
    path.write_text("\n".join(text) + "\n")
    project = write_project(root, {"crm": CUSTOMERS_YAML + "batch_size: 2\n"})
    result = sync(engine, project, "crm")
    assert result.status == "failed"
    assert result.error == "source crm: data/customers.csv line 7: expected 7 fields, found 8"
    assert scalar(engine, "select count(*) from customers") == 4
    assert scalar(engine, "select count(*) from sync_state") == 0
    write_csv(path, CUSTOMER_HEADER, rows)
    fixed = sync(engine, project, "crm")
    assert fixed.status == "succeeded"
    assert (fixed.counts["inserted"], fixed.counts["unchanged"]) == (2, 4)
    assert scalar(engine, "select count(*) from customers") == 6
    assert scalar(engine, "select watermark from sync_state") == "2026-03-01T06:00:00"
    assert scalar(engine, "select count(*) from consents") == 3  # c1, c3, c5 said yes, once each


def test_an_unknown_source_is_refused_before_anything_runs(engine: Engine, root: Path) -> None:
    from prefect_journeys.sources.errors import SourceError

    project = write_project(root, {"crm": CUSTOMERS_YAML})
    with pytest.raises(SourceError, match=r"no source 'nope' in .*sources \(sources: crm\)"):
        sync(engine, project, "nope")
    assert scalar(engine, "select count(*) from sync_runs") == 0


def test_timestamps_of_a_csv_in_another_zone(engine: Engine, root: Path) -> None:
    write_csv(
        root / "data" / "customers.csv",
        CUSTOMER_HEADER,
        [customer(1, updated="2026-03-01 08:00"), customer(2, updated="2026-03-01T08:00:00+00:00")],
    )
    project = write_project(root, {"crm": CUSTOMERS_YAML + "timestamp_timezone: Europe/Berlin\n"})
    result = sync(engine, project, "crm", now=datetime(2026, 3, 2))
    assert result.status == "succeeded"
    # 08:00 Berlin is 07:00 UTC: the later row (08:00 UTC) sets the watermark
    assert result.watermark_to == "2026-03-01T08:00:00"
