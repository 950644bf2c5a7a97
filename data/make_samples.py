"""Write the example project's sample source files (deterministic; run from the repo root):

    .venv/bin/python data/make_samples.py

``data/crm_customers.csv`` — a CRM export (customers source ``sources/crm_customers.yaml``);
``data/orders.parquet`` — an order history (events source ``sources/orders.yaml``).
Invented people only: reserved example domains, phone numbers set aside for fiction (+44 7700 900…).
"""

from __future__ import annotations

import csv
import random
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
FIRST = ("Ada", "Bram", "Cleo", "Dario", "Elin", "Fenna", "Gus", "Hana", "Ilio", "Juna")
LAST = ("Ambermoor", "Brightwell", "Copperfield", "Dunwhistle", "Elderbrook", "Fernsby")
ZONES = (("Europe/Berlin", "de-DE"), ("Europe/London", "en-GB"), ("America/New_York", "en-US"))
PLANS = ("free", "basic", "pro")
START = datetime(2026, 1, 5, 9, 0)


def customers(rng: random.Random, count: int = 24) -> list[dict[str, str]]:
    rows = []
    for n in range(1, count + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        zone, locale = rng.choice(ZONES)
        rows.append(
            {
                "customer_id": f"crm-{n:04d}",
                "email": f"{first}.{last}{n}@example.com",
                "phone": f"+44 7700 900{n:03d}" if n % 3 else "",
                "first_name": first,
                "last_name": last,
                "tz": zone,
                "locale": locale,
                "newsletter": rng.choice(("yes", "yes", "no")),
                "sms_opt_in": rng.choice(("true", "false")),
                "plan": rng.choice(PLANS),
                "lifetime_value": f"{rng.randint(0, 900)}.{rng.randint(0, 99):02d}",
                "updated_at": (START + timedelta(hours=n)).isoformat() + "Z",
            }
        )
    return rows


def orders(rng: random.Random, customer_ids: list[str], count: int = 40) -> pa.Table:
    ids, who, when, amount, currency, channel = [], [], [], [], [], []
    for n in range(1, count + 1):
        ids.append(f"ord-{n:05d}")
        who.append(rng.choice(customer_ids))
        when.append(START - timedelta(days=rng.randint(1, 200), minutes=rng.randint(0, 1440)))
        amount.append(round(rng.uniform(5, 250), 2))
        currency.append("EUR")
        channel.append(rng.choice(("web", "app", "store")))
    return pa.table(
        {
            "order_id": ids,
            "customer_id": who,
            "ordered_at": pa.array(when, pa.timestamp("us")),
            "total": amount,
            "currency": currency,
            "channel": channel,
        }
    )


def main() -> None:
    rng = random.Random(4)
    rows = customers(rng)
    with (HERE / "crm_customers.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    table = orders(rng, [r["customer_id"] for r in rows])
    pq.write_table(table, HERE / "orders.parquet")
    print(f"wrote {len(rows)} customers and {table.num_rows} orders to {HERE}")


if __name__ == "__main__":
    main()
