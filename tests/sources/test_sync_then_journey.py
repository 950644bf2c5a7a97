"""End to end: synced attributes and events decide who enters a journey."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine
from tests.sources.helpers import NOW, load, order, rows, sync, write_csv, write_orders

from prefect_journeys.engine.tick import run_tick

JOURNEY = """
id: vip_thanks
entry:
  segment:
    all:
      - {attribute: plan, op: "=", value: pro}
      - {attribute: lifetime_value, op: ">=", value: 100}
      - {performed: purchase, within: 30d, where: {channel: app}}
steps:
  - id: hello
    send: {channel: email, template: hello}
"""
CRM = """
kind: csv
entity: customers
path: data/crm.csv
threshold: 0.2
columns: {id: id, email: email, email_consent: consent}
attributes:
  plan: plan
  lifetime_value: {column: ltv, type: number}
"""
ORDERS = """
kind: parquet
entity: events
path: data/orders.parquet
event_name: purchase
columns: {customer: customer_id, timestamp: ordered_at}
purchase: {order_id: order_id, amount: total, currency: currency}
properties: [channel]
"""


def test_a_tick_enrolls_exactly_the_customers_whose_synced_data_qualifies(
    engine: Engine, root: Path
) -> None:
    for folder, files in {
        "journeys": {"vip_thanks": JOURNEY},
        "templates": {"hello": "channel: email\nsubject: Thanks\nbody: 'Thank you!'\n"},
        "sources": {"crm": CRM, "orders": ORDERS},
    }.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for name, body in files.items():
            (root / folder / f"{name}.yaml").write_text(textwrap.dedent(body))
    people = [
        ("c1", "pro", "150"),  # qualifies
        ("c2", "pro", "150"),  # bought on the web, not in the app
        ("c3", "free", "500"),  # not pro
        ("c4", "pro", "50"),  # lifetime value too low
        ("c5", "pro", "200"),  # bought in the app, but 40 days ago
        ("c6", "pro", "300"),  # never bought
        ("c7", "pro", "lots"),  # not a number: quarantined, never stored
    ]
    write_csv(
        root / "data" / "crm.csv",
        ["id", "email", "consent", "plan", "ltv"],
        [[c, f"{c}@example.com", "yes", plan, ltv] for c, plan, ltv in people],
    )
    recent = NOW - timedelta(days=5)
    write_orders(
        root / "data" / "orders.parquet",
        [
            order(1, "c1", recent, channel="app"),
            order(2, "c2", recent, channel="web"),
            order(3, "c3", recent, channel="app"),
            order(4, "c4", recent, channel="app"),
            order(5, "c5", NOW - timedelta(days=40), channel="app"),
            order(6, "c7", recent, channel="app"),
        ],
    )
    project = load(root)
    crm = sync(engine, project, "crm")
    assert crm.status == "succeeded", crm.error
    assert (crm.counts["inserted"], crm.counts["rejected"]) == (6, 1)
    orders = sync(engine, project, "orders")
    assert orders.status == "succeeded", orders.error
    assert orders.counts["events_inserted"] == 6
    report = run_tick(engine, project.plan("vip_thanks"), NOW, outbox_path=root / "outbox.jsonl")
    assert report.entered == 1
    assert rows(engine, "select customer_id from enrollments") == [("c1",)]
