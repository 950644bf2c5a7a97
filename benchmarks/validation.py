"""Benchmark: Great Expectations validation of 1,000,000 customers and 1,000,000 events.

Builds synthetic frames shaped like the ones sync and ``journeys check-data`` validate (see
``prefect_journeys.expectations.runner``): customers with distinct ids and addresses, ten time
zones, boolean consents; events of the three tracking-plan names over the past year with purchase
amounts in EUR. A share of rows (``--bad``, default 0.1 %) carries one bad value each, spread over
every expectation, so the COMPLETE pass that names the failing rows runs too. GX is imported and a
tiny batch validated first (not timed: a sync or a tick pays that once per process).

Each suite is validated ``--repeat`` times (default 3); reported are the best wall and CPU seconds
and the derived seconds per million rows, against the target of 2 s per million. Every run is
checked: exactly the rows made bad are reported failing. ``--breakdown`` also times each
expectation alone (a one-expectation suite over the same frame) to show where the time goes.

    .venv/bin/python benchmarks/validation.py                 # 1,000,000 rows each
    .venv/bin/python benchmarks/validation.py --rows 100000 --breakdown
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from tick import machine  # noqa: E402

ZONES = [
    "Europe/Berlin",
    "Europe/London",
    "Europe/Paris",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Australia/Sydney",
    "UTC",
    "Europe/Madrid",
]


def customers_frame(rows: int, bad: float, seed: int = 1) -> tuple[pd.DataFrame, set[int]]:
    rng = np.random.default_rng(seed)
    ids = np.char.add("c", np.arange(rows).astype(str))
    emails = np.char.add(np.char.add("user.", np.arange(rows).astype(str)), "@example.com")
    phones = np.char.add("+4477009", rng.integers(10000, 99999, rows).astype(str))
    frame = pd.DataFrame(
        {
            "id": pd.array(ids, dtype="str"),
            "email": pd.array(emails, dtype="str"),
            "phone": pd.array(np.where(rng.random(rows) < 0.6, phones, None), dtype="str"),
            "timezone": pd.array(np.array(ZONES)[rng.integers(0, len(ZONES), rows)], dtype="str"),
            "locale": pd.array(["en-GB"] * rows, dtype="str"),
            "email_consent": rng.random(rows) < 0.9,
            "sms_consent": rng.random(rows) < 0.5,
            "whatsapp_consent": rng.random(rows) < 0.2,
        }
    )
    frame["email_consent"] = frame["email_consent"].astype(object)
    positions = _bad_positions(rows, bad, rng)
    kinds = ["id_null", "id_dup", "email", "phone", "timezone", "consent"]
    for n, pos in enumerate(sorted(positions)):
        kind = kinds[n % len(kinds)]
        if kind == "id_null":
            frame.loc[pos, "id"] = None
        elif kind == "id_dup":
            frame.loc[pos, "id"] = f"dup{pos}"
            frame.loc[(pos + 1) % rows, "id"] = f"dup{pos}"
        elif kind == "email":
            frame.loc[pos, "email"] = "not-an-address"
        elif kind == "phone":
            frame.loc[pos, "phone"] = "0151 1234"
        elif kind == "timezone":
            frame.loc[pos, "timezone"] = "Mars/Olympus"
        else:
            frame.loc[pos, "email_consent"] = "yes"
    expected = set(positions) | {
        (pos + 1) % rows for n, pos in enumerate(sorted(positions)) if kinds[n % 6] == "id_dup"
    }
    return frame, expected


def events_frame(rows: int, bad: float, seed: int = 2) -> tuple[pd.DataFrame, set[int]]:
    rng = np.random.default_rng(seed)
    now = datetime(2026, 1, 1)
    names = np.array(["signed_up", "cart_abandoned", "purchase"])[rng.integers(0, 3, rows)]
    purchase = names == "purchase"
    offsets = rng.integers(0, 365 * 86400, rows).astype("timedelta64[s]")
    frame = pd.DataFrame(
        {
            "customer_key": pd.array(
                np.char.add("c", rng.integers(0, rows // 10 + 1, rows).astype(str)), dtype="str"
            ),
            "name": pd.array(names, dtype="str"),
            "timestamp": (np.datetime64(now, "us") - offsets).astype("datetime64[us]"),
            "amount": np.where(purchase, rng.integers(100, 20000, rows) / 100, np.nan),
            "currency": pd.array(np.where(purchase, "EUR", None), dtype="str"),
            "order_id": pd.array(np.where(purchase, "o1", None), dtype="str"),
        }
    )
    positions = _bad_positions(rows, bad, rng)
    kinds = ["key", "name", "future", "negative", "currency", "nat"]
    for n, pos in enumerate(sorted(positions)):
        kind = kinds[n % len(kinds)]
        if kind == "key":
            frame.loc[pos, "customer_key"] = None
        elif kind == "name":
            frame.loc[pos, "name"] = "purchsae"
            frame.loc[pos, ["amount", "currency"]] = [np.nan, None]
        elif kind == "future":
            frame.loc[pos, "timestamp"] = pd.Timestamp("2099-01-01")
        elif kind == "negative":
            frame.loc[pos, ["name", "amount", "currency"]] = ["purchase", -5.0, "EUR"]
        elif kind == "currency":
            frame.loc[pos, ["name", "amount", "currency"]] = ["purchase", 5.0, None]
        else:
            frame.loc[pos, "timestamp"] = pd.NaT
    return frame, set(positions)


def _bad_positions(rows: int, bad: float, rng: np.random.Generator) -> list[int]:
    count = int(rows * bad)
    # every other position so a duplicated id's partner (pos + 1) is a clean row
    return sorted(int(p) * 2 for p in rng.choice(rows // 2, size=count, replace=False))


def timed(fn: Any) -> tuple[Any, float, float]:
    cpu = time.process_time()
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start, time.process_time() - cpu


def run_suite(
    name: str, frame: pd.DataFrame, expected: set[int], repeat: int, params: dict[str, Any]
) -> dict[str, Any]:
    from prefect_journeys.expectations.runner import validate

    walls, cpus = [], []
    for _ in range(repeat):
        outcome, wall, cpu = timed(lambda: validate(name, frame, parameters=params))
        got = set(outcome.failures)
        if got != expected:
            raise SystemExit(
                f"{name}: wrong failing rows: {len(got - expected)} unexpected, "
                f"{len(expected - got)} missed"
            )
        walls.append(wall)
        cpus.append(cpu)
    rows = len(frame)
    return {
        "suite": name,
        "rows": rows,
        "failing_rows": len(expected),
        "wall_s": round(min(walls), 3),
        "cpu_s": round(min(cpus), 3),
        "s_per_million": round(min(walls) / rows * 1e6, 3),
    }


def breakdown(name: str, frame: pd.DataFrame, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Each expectation of the suite alone, as a one-expectation suite in a temporary project."""
    from prefect_journeys.expectations.runner import validate
    from prefect_journeys.expectations.suites import get_suite, read_suite_file

    suite = get_suite(name)
    data = read_suite_file(suite.path)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "expectations").mkdir()
        for index, item in enumerate(data["expectations"], start=1):
            path = root / "expectations" / f"{name}.json"
            path.write_text(json.dumps({"name": name, "expectations": [item]}))
            _, wall, cpu = timed(
                lambda: validate(name, frame, project_root=root, parameters=params)
            )
            label = f"{index}. {item['type']} {item['kwargs'].get('column')}"
            out.append({"expectation": label, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--bad", type=float, default=0.001)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--breakdown", action="store_true")
    args = parser.parse_args()

    from prefect_journeys.expectations.runner import validate

    params = {"latest_event_time": datetime(2026, 1, 1) + timedelta(minutes=5)}
    small, _ = customers_frame(10, 0)
    _, warm_wall, _ = timed(lambda: validate("customers", small))
    report: dict[str, Any] = {
        "machine": machine(),
        "gx_import_and_first_batch_s": round(warm_wall, 2),
    }
    results = []
    for name, build in (("customers", customers_frame), ("events", events_frame)):
        frame, expected = build(args.rows, args.bad)
        result = run_suite(name, frame, expected, args.repeat, params)
        if args.breakdown:
            result["breakdown"] = breakdown(name, frame, params)
        results.append(result)
        print(json.dumps(result), flush=True)
    report["results"] = results
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
