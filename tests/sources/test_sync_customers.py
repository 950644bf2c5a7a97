"""Customer sources: upserts, incremental runs, quarantine and the threshold (SQLite and Postgres)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from tests.sources.helpers import (
    CUSTOMER_HEADER,
    CUSTOMERS_YAML,
    customer,
    rows,
    scalar,
    store_state,
    sync,
    write_csv,
    write_project,
)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _csv(root: Path, data: list[list[Any]]) -> None:
    write_csv(root / "data" / "customers.csv", CUSTOMER_HEADER, data)


def test_first_sync_stores_normalised_profiles_and_a_rerun_imports_nothing(
    engine: Engine, root: Path
) -> None:
    _csv(root, [customer(n, updated=f"2026-03-01T0{n}:00:00Z") for n in range(1, 4)])
    project = write_project(root, {"crm": CUSTOMERS_YAML})
    first = sync(engine, project, "crm")
    assert first.status == "succeeded", first.error
    assert {k: first.counts[k] for k in ("read", "checked", "inserted", "updated", "rejected")} == {
        "read": 3,
        "checked": 3,
        "inserted": 3,
        "updated": 0,
        "rejected": 0,
    }
    assert first.watermark_from is None and first.watermark_to == "2026-03-01T03:00:00"
    stored = rows(
        engine,
        "select id, email, phone, timezone, email_consent, attributes from customers order by id",
    )
    assert [(r[0], r[1], r[2], r[3], bool(r[4]), _json(r[5])) for r in stored] == [
        ("c1", "person1@example.com", "+447700900001", "Europe/London", True, {"plan": "free"}),
        ("c2", "person2@example.com", "+447700900002", "Europe/London", False, {"plan": "free"}),
        ("c3", "person3@example.com", "+447700900003", "Europe/London", True, {"plan": "pro"}),
    ]
    assert rows(engine, "select status, watermark_to from sync_runs") == [
        ("succeeded", "2026-03-01T03:00:00")
    ]
    assert scalar(engine, "select count(*) from validations where target = 'source:crm'") == 1
    before = store_state(engine)
    again = sync(engine, project, "crm")
    # only the row at the watermark is read again (>=), and it has not changed
    assert (again.counts["skipped"], again.counts["unchanged"], again.counts["inserted"]) == (
        2,
        1,
        0,
    )
    assert again.counts["updated"] == 0 and again.watermark_from == "2026-03-01T03:00:00"
    assert store_state(engine) == before


def test_new_and_changed_rows_only(engine: Engine, root: Path) -> None:
    base = [customer(n, updated="2026-03-01T08:00:00Z") for n in range(1, 4)]
    _csv(root, base)
    project = write_project(root, {"crm": CUSTOMERS_YAML})
    assert sync(engine, project, "crm").counts["inserted"] == 3
    changed = customer(2, updated="2026-03-02T08:00:00Z", email="new.two@example.org", plan="pro")
    _csv(root, [base[0], changed, base[2], customer(4, updated="2026-03-02T09:00:00Z")])
    result = sync(engine, project, "crm")
    assert result.status == "succeeded"
    counts = result.counts
    # c1 and c3 sit at the old watermark (>=): read again, unchanged
    assert (counts["unchanged"], counts["inserted"], counts["updated"]) == (2, 1, 1)
    assert rows(engine, "select email from customers where id = 'c2'") == [("new.two@example.org",)]
    assert _json(scalar(engine, "select attributes from customers where id = 'c2'")) == {
        "plan": "pro"
    }
    assert scalar(engine, "select watermark from sync_state where source_id = 'crm'") == (
        "2026-03-02T09:00:00"
    )
    full = sync(engine, project, "crm", full=True)
    assert (full.counts["skipped"], full.counts["unchanged"], full.counts["inserted"]) == (0, 4, 0)


def test_failing_rows_below_the_threshold_are_quarantined_and_the_rest_stored(
    engine: Engine, root: Path
) -> None:
    data = [customer(n) for n in range(1, 41)]
    data[4] = customer(5, email="not-an-address")  # line 6
    data[9] = customer(10, tz="Mars/Olympus")  # line 11
    _csv(root, data)
    project = write_project(root, {"crm": CUSTOMERS_YAML})  # threshold 5%: 2 of 40 pass
    result = sync(engine, project, "crm")
    assert result.status == "succeeded", result.error
    assert (result.counts["inserted"], result.counts["rejected"]) == (38, 2)
    assert scalar(engine, "select count(*) from customers where id in ('c5', 'c10')") == 0
    quarantined = rows(
        engine,
        "select row_ref, customer_id, reasons, row, kind, target from quarantine order by id",
    )
    assert [(q[0], q[1], q[4], q[5]) for q in quarantined] == [
        ("data/customers.csv:6", "c5", "sync", "source:crm"),
        ("data/customers.csv:11", "c10", "sync", "source:crm"),
    ]
    assert any("email" in r for r in _json(quarantined[0][2]))
    assert any("timezone" in r for r in _json(quarantined[1][2]))
    assert _json(quarantined[1][3])["tz"] == "Mars/Olympus"  # the source row as read
    assert result.problems[0].startswith("data/customers.csv:6: email")
    passed, failed_rows = rows(engine, "select passed, failed_rows from validations")[0]
    assert bool(passed) and failed_rows == 2
    # a re-run refuses them again but does not quarantine them twice
    again = sync(engine, project, "crm", full=True)
    assert again.counts["rejected"] == 2
    assert scalar(engine, "select count(*) from quarantine") == 2


def test_above_the_threshold_nothing_is_written_and_the_run_is_rejected(
    engine: Engine, root: Path
) -> None:
    data = [customer(n) for n in range(1, 11)]
    data[2] = customer(3, email="broken@")
    data[7] = customer(8, phone="12")
    _csv(root, data)
    project = write_project(root, {"crm": CUSTOMERS_YAML})
    before = store_state(engine)
    result = sync(engine, project, "crm")
    assert result.status == "rejected"
    assert result.error is not None
    assert result.error.startswith(
        "source crm: batch 1 rejected: 2 of 10 rows (20.0%) failed their checks, above the"
        " source's threshold of 5.0%."
    )
    assert "data/customers.csv:4: email" in result.error
    assert "data/customers.csv:9: phone" in result.error
    assert store_state(engine) == before  # no customer, no consent, no watermark
    assert rows(engine, "select status, watermark_to from sync_runs") == [("rejected", None)]
    assert [bool(p) for (p,) in rows(engine, "select passed from validations")] == [False]
    assert scalar(engine, "select count(*) from quarantine") == 2
    # a higher threshold for this source lets the good rows in
    project = write_project(root, {"crm": CUSTOMERS_YAML + "threshold: 0.25\n"})
    retry = sync(engine, project, "crm")
    assert retry.status == "succeeded" and retry.counts["inserted"] == 8


def test_duplicate_keys_within_a_batch(engine: Engine, root: Path) -> None:
    _csv(
        root,
        [
            customer(1),
            customer(1),  # identical: collapses silently
            customer(2, updated="2026-03-01T08:00:00Z", plan="free"),
            customer(2, updated="2026-03-01T09:00:00Z", plan="pro"),  # newer version wins
            customer(3, plan="free"),
            customer(3, plan="pro"),  # same time, different values: both refused
        ]
        + [customer(n) for n in range(4, 61)],
    )
    project = write_project(root, {"crm": CUSTOMERS_YAML})
    result = sync(engine, project, "crm")
    assert result.status == "succeeded", result.error
    counts = result.counts
    assert (counts["collapsed"], counts["superseded"], counts["rejected"]) == (1, 1, 2)
    assert _json(scalar(engine, "select attributes from customers where id = 'c2'")) == {
        "plan": "pro"
    }
    assert scalar(engine, "select count(*) from customers where id = 'c3'") == 0
    reasons = [_json(r) for (r,) in rows(engine, "select reasons from quarantine order by id")]
    assert reasons[0] == [
        "id 'c3' appears 2 times in the batch with different values"
        " (data/customers.csv:6, data/customers.csv:7)"
    ]


def test_a_verified_email_shared_by_two_ids_merges_them(engine: Engine, root: Path) -> None:
    _csv(root, [customer(1, updated="2026-03-01T08:00:00Z")])
    project = write_project(root, {"crm": CUSTOMERS_YAML + "email_verified: true\n"})
    assert sync(engine, project, "crm").counts["inserted"] == 1
    _csv(root, [customer(9, email="person1@example.com", updated="2026-03-01T09:00:00Z")])
    result = sync(engine, project, "crm")
    assert result.status == "succeeded" and result.counts["merged"] == 1
    assert scalar(engine, "select count(*) from customer_merges") == 1
    assert scalar(engine, "select count(*) from customers") == 1
