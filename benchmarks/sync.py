"""Benchmark: sync 1,000,000 customers and 10,000,000 events from Parquet and from Postgres.

Data (deterministic, pyarrow, not timed): ``customers.parquet`` — id ``c00000001``…, email (one in
ten with an upper-case domain, which the sync normalises), a US phone for 60 % (one in ten of
those written nationally, ``(201) 555-0123``, for ``default_region: US``), names, an IANA time
zone, locale, email and SMS consent, attributes ``plan``, ``ltv``, ``signup_channel``, and a rising
``updated_at`` (the watermark); ``events.parquet`` — event id, a random existing customer key,
``cart_abandoned`` / ``purchase`` / ``signed_up`` (the default tracking plan), a rising timestamp
in 2025, properties ``sku`` and ``channel``, and for purchases an order id, an amount and a
currency. With ``--source postgres`` the same rows are loaded (``COPY``, not timed) into a source
database ``pj_bench_source_<pid>`` with an index on each watermark column.

Each run is a fresh interpreter (its peak RSS, ``VmHWM``, is its own) on a fresh store (a copy of a
migrated SQLite file, or a Postgres database cloned from a migrated template):

- **sync**: ``prefect_journeys.sources.sync.sync_source`` for the customers source, then for the
  events source, exactly as ``journeys sync`` runs them (default batch size 200,000): read →
  map and normalise → Great Expectations suite per batch → identity resolution and upsert
  (customers) / key resolution and deduplicated append (events) → watermark. Great Expectations
  and the package are imported before the timer (reported as ``import s``); the schema is there.
- **bare DuckDB** (Parquet source): ``CREATE TABLE … AS SELECT * FROM read_parquet(…)`` for both
  files into a DuckDB database file — reading the Parquet and landing it in a table, nothing else
  (no mapping, no validation, no keys, no indexes).
- **bare COPY** (Postgres source; and, for reference, the Parquet files when the store is
  Postgres): ``COPY (SELECT …) TO STDOUT`` from the source (for Parquet: DuckDB reading the files)
  piped into ``COPY … FROM STDIN`` into the store's own ``customers`` and ``events`` tables — the
  same shape and the same indexes and unique keys — with the attributes and properties built as
  JSON and ``source_id`` as the event key. No validation, no normalisation, no identity
  resolution, no deduplication against existing rows, no watermark.
- **bare SQLite** (diagnostic, SQLite store): the Parquet rows shaped by DuckDB as for COPY,
  inserted with the ``sqlite3`` module's ``executemany`` into the store's own indexed tables,
  50,000 rows per transaction: what the SQLite store itself costs.

The ratio judged against the target compares the sync with the bare load into the same kind of
database: ``COPY`` for the Postgres store; DuckDB's Parquet load for the SQLite store (it has no
COPY; from the Postgres source, the COPY of that source). The other ratios are printed beside it.

Every run is verified after the timer: the store (or DuckDB / COPY target) holds exactly N
customers and M customer events, no row was quarantined or rejected, and the purchase revenue summed
in the store equals the revenue of the generated data. Printed: rows/s, peak RSS, GX validation
CPU seconds per million rows (the sync's own validation timings, judged; wall seconds beside
them, which other processes inflate), the ratio sync / bare load (and per entity), with
PASS/FAIL against the targets (from the issue): sync ≤ 3× the bare load; validation ≤ 2 s per
million rows.

    .venv/bin/python benchmarks/sync.py            # 1M + 10M; both sources, both stores
    .venv/bin/python benchmarks/sync.py --quick    # --customers 20000 --events 100000
    .venv/bin/python benchmarks/sync.py --store sqlite --source parquet --profile --workdir /tmp/pjs
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dispatch import own_peak_rss_mb  # noqa: E402
from tick import Stores, fmt_load, machine, measured, run_child  # noqa: E402

SEED = 20260101
T0 = datetime(2025, 1, 1)
SPAN_S = 364 * 86400
CHUNK = 500_000  # rows generated (and written as row groups of 100,000) at a time
RATIO_TARGET = 3.0
GX_TARGET_S_PER_M = 2.0
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SOURCE_URL_ENV = "PJ_BENCH_SOURCE_URL"
ZONES = (
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Australia/Sydney",
    "UTC",
)
LOCALES = ("de-DE", "en-GB", "en-US", "en-US", "ja-JP", "en-AU", "en-US")
FIRST = ("Ada", "Bram", "Cleo", "Dario", "Elin", "Fenna", "Gus", "Hana", "Ilio", "Juna")
LAST = ("Ambermoor", "Brightwell", "Copperfield", "Dunwhistle", "Elderbrook", "Fernsby")
PLANS = ("free", "basic", "pro")
CHANNELS = ("web", "app", "store")
CURRENCIES = ("EUR", "USD", "GBP")
EVENT_NAMES = ("cart_abandoned", "purchase", "signed_up")
EVENT_WEIGHTS = (0.55, 0.35, 0.10)

CUSTOMER_COLUMNS = """\
columns:
  id: customer_id
  email: email
  phone: phone
  first_name: first_name
  last_name: last_name
  timezone: timezone
  locale: locale
  email_consent: email_consent
  sms_consent: sms_consent
attributes: [plan, ltv, signup_channel]
default_region: US
watermark: updated_at
"""
EVENT_COLUMNS = """\
columns:
  id: event_id
  customer: customer_id
  name: name
  timestamp: occurred_at
properties: [sku, channel]
purchase: {order_id: order_id, amount: amount, currency: currency}
watermark: occurred_at
"""
SOURCES = {
    "pq_customers": "kind: parquet\nentity: customers\npath: data/customers.parquet\n"
    + CUSTOMER_COLUMNS,
    "pq_events": "kind: parquet\nentity: events\npath: data/events.parquet\n" + EVENT_COLUMNS,
    "pg_customers": f"kind: sql\nentity: customers\nurl_env: {SOURCE_URL_ENV}\n"
    "table: src_customers\n" + CUSTOMER_COLUMNS,
    "pg_events": f"kind: sql\nentity: events\nurl_env: {SOURCE_URL_ENV}\ntable: src_events\n"
    + EVENT_COLUMNS,
}


# ============================================================================ data


def _ids(prefix: str, start: int, end: int, width: int) -> Any:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    numbers = pa.array(np.arange(start + 1, end + 1)).cast(pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(numbers, width, "0"), "")


def _pick(rng: Any, values: tuple[str, ...], n: int, p: Any = None) -> Any:
    import numpy as np
    import pyarrow as pa

    return pa.array(np.array(values)[rng.choice(len(values), size=n, p=p)])


def customer_chunk(start: int, end: int) -> Any:
    """Customers ``start+1`` … ``end`` (deterministic per chunk)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = end - start
    rng = np.random.default_rng([SEED, 1, start])
    index = np.arange(start, end)
    ids = _ids("c", start, end, 8)
    domain = np.where(index % 10 == 3, "@EXAMPLE.COM", "@example.com")
    email = pc.binary_join_element_wise(ids, pa.array(domain), "")
    has_phone = index % 5 < 3  # 60 %
    area = 201 + index // 10_000
    line = index % 10_000
    national = index % 50 == 7  # one in ten phones
    phone_text = [
        (f"({a}) 555-{ln:04d}" if nat else f"+1{a}555{ln:04d}") if has else None
        for a, ln, nat, has in zip(
            area.tolist(), line.tolist(), national.tolist(), has_phone.tolist(), strict=True
        )
    ]
    zone = rng.integers(0, len(ZONES), size=n)
    updated = T0 + timedelta(seconds=1)
    updated_at = pa.array(
        np.datetime64(updated, "us") + (index * 17).astype("timedelta64[s]"), pa.timestamp("us")
    )
    return pa.table(
        {
            "customer_id": ids,
            "email": email,
            "phone": pa.array(phone_text, pa.string()),
            "first_name": _pick(rng, FIRST, n),
            "last_name": _pick(rng, LAST, n),
            "timezone": pa.array(np.array(ZONES)[zone]),
            "locale": pa.array(np.array(LOCALES)[zone]),
            "email_consent": pa.array(rng.random(n) < 0.8),
            "sms_consent": pa.array((rng.random(n) < 0.5) & has_phone),
            "plan": _pick(rng, PLANS, n),
            "ltv": pa.array(np.round(rng.gamma(2.0, 80.0, size=n), 2)),
            "signup_channel": _pick(rng, CHANNELS, n),
            "updated_at": updated_at,
        }
    )


def event_chunk(start: int, end: int, customers: int, total: int) -> Any:
    """Events ``start+1`` … ``end`` of ``total`` (deterministic per chunk)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = end - start
    rng = np.random.default_rng([SEED, 2, start])
    index = np.arange(start, end)
    who = rng.integers(1, customers + 1, size=n)
    keys = pc.binary_join_element_wise(
        "c", pc.utf8_lpad(pa.array(who).cast(pa.string()), 8, "0"), ""
    )
    kind = rng.choice(len(EVENT_NAMES), size=n, p=EVENT_WEIGHTS)
    purchase = kind == EVENT_NAMES.index("purchase")
    step_us = max(1, SPAN_S * 1_000_000 // max(total, 1))
    occurred = np.datetime64(T0, "us") + (index * step_us).astype("timedelta64[us]")
    amount = np.round(rng.gamma(2.0, 30.0, size=n) + 1.0, 2)
    order_ids = _ids("o", start, end, 10)
    currency = np.array(CURRENCIES)[rng.integers(0, len(CURRENCIES), size=n)]
    mask = ~purchase
    return pa.table(
        {
            "event_id": _ids("e", start, end, 10),
            "customer_id": keys,
            "name": pa.array(np.array(EVENT_NAMES)[kind]),
            "occurred_at": pa.array(occurred, pa.timestamp("us")),
            "sku": pc.binary_join_element_wise(
                "sku-", pa.array(rng.integers(1, 5000, size=n)).cast(pa.string()), ""
            ),
            "channel": _pick(rng, CHANNELS, n),
            "order_id": pc.if_else(pa.array(purchase), order_ids, pa.scalar(None, pa.string())),
            "amount": pa.array(amount, mask=mask),
            "currency": pa.array(currency, mask=mask),
        }
    )


def child_generate(data: Path, customers: int, events: int) -> dict[str, Any]:
    """Write both Parquet files in chunks; the manifest holds what every run must find."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    data.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    revenue = 0.0
    purchases = 0
    for name, total, make in (
        ("customers", customers, lambda a, b: customer_chunk(a, b)),
        ("events", events, lambda a, b: event_chunk(a, b, customers, events)),
    ):
        writer = None
        for first in range(0, total, CHUNK):
            table = make(first, min(total, first + CHUNK))
            if writer is None:
                writer = pq.ParquetWriter(data / f"{name}.parquet", table.schema)
            writer.write_table(table, row_group_size=100_000)
            if name == "events":
                revenue += float(pc.sum(table["amount"]).as_py() or 0.0)
                purchases += int(pc.count(table["amount"]).as_py())
        assert writer is not None
        writer.close()
    manifest = {
        "customers": customers,
        "events": events,
        "purchases": purchases,
        "revenue": round(revenue, 2),
        "bytes": {p.name: p.stat().st_size for p in data.glob("*.parquet")},
    }
    (data / "manifest.json").write_text(json.dumps(manifest))
    return {**manifest, "wall_s": time.perf_counter() - start, "peak_rss_mb": own_peak_rss_mb()}


# ============================================================================ databases


def _libpq(url: str) -> str:
    """A SQLAlchemy Postgres URL as a libpq connection string for psycopg."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _arrow_batches_as_csv(reader: Any) -> Any:
    """CSV bytes (no header) for each Arrow record batch of ``reader``."""
    import io

    import pyarrow.csv as pacsv

    options = pacsv.WriteOptions(include_header=False)
    for batch in reader:
        sink = io.BytesIO()
        pacsv.write_csv(batch, sink, options)
        yield sink.getvalue()


SRC_DDL = (
    "CREATE TABLE src_customers (customer_id text PRIMARY KEY, email text, phone text,"
    " first_name text, last_name text, timezone text, locale text, email_consent boolean,"
    " sms_consent boolean, plan text, ltv double precision, signup_channel text,"
    " updated_at timestamp)",
    "CREATE TABLE src_events (event_id text PRIMARY KEY, customer_id text, name text,"
    " occurred_at timestamp, sku text, channel text, order_id text, amount double precision,"
    " currency text)",
)


def child_source(url: str, data: Path) -> dict[str, Any]:
    """The Postgres source database: both tables loaded with COPY, watermark columns indexed."""
    import psycopg
    import pyarrow.parquet as pq

    start = time.perf_counter()
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        for ddl in SRC_DDL:
            conn.execute(ddl)
        for table, file in (("src_customers", "customers"), ("src_events", "events")):
            parquet = pq.ParquetFile(data / f"{file}.parquet")
            columns = ", ".join(parquet.schema_arrow.names)
            with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT csv)") as copy:
                for chunk in _arrow_batches_as_csv(parquet.iter_batches(batch_size=100_000)):
                    copy.write(chunk)
        conn.execute("CREATE INDEX ON src_customers (updated_at)")
        conn.execute("CREATE INDEX ON src_events (occurred_at)")
        conn.execute("ANALYZE")
    return {"wall_s": time.perf_counter() - start, "peak_rss_mb": own_peak_rss_mb()}


def child_schema(url: str) -> dict[str, Any]:
    """The store's schema (the package's migrations) in a fresh store."""
    from prefect_journeys.store.database import make_engine
    from prefect_journeys.store.migrate import ensure_schema

    start = time.perf_counter()
    engine = make_engine(url)
    ensure_schema(engine)
    engine.dispose()
    if url.startswith("sqlite"):  # fold the WAL into the file so a plain copy is the whole store
        import sqlite3

        raw = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.close()
    return {"wall_s": time.perf_counter() - start}


# ============================================================================ bare loads


def child_bare_duckdb(data: Path, target: Path) -> dict[str, Any]:
    """Parquet → a DuckDB table per file, nothing else."""
    import duckdb

    for suffix in ("", ".wal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    start_cpu, start = time.process_time(), time.perf_counter()
    laps = {}
    con = duckdb.connect(str(target))
    for name in ("customers", "events"):
        lap = time.perf_counter()
        con.execute(
            f"CREATE TABLE {name} AS SELECT * FROM read_parquet('{data / f'{name}.parquet'}')"
        )
        laps[name] = time.perf_counter() - lap
    con.close()  # checkpoint: the tables are in the file
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    con = duckdb.connect(str(target), read_only=True)
    found = {
        "customers": con.execute("SELECT count(*) FROM customers").fetchone()[0],
        "events": con.execute("SELECT count(*) FROM events").fetchone()[0],
        "revenue": con.execute("SELECT round(sum(amount), 2) FROM events").fetchone()[0],
    }
    con.close()
    return _result("bare-duckdb", wall, cpu, laps, _verify(data, found))


_CUSTOMERS_INTO = (
    "id, email, phone, first_name, last_name, timezone, locale, email_consent, sms_consent,"
    " whatsapp_consent, attributes, created_at, updated_at"
)
_EVENTS_INTO = "source_id, customer_id, name, occurred_at, received_at, properties, value"


def _pg_selects(now: str) -> dict[str, str]:
    """The source's rows in the shape of the store's tables (Postgres SQL)."""
    return {
        "customers": "SELECT customer_id, email, phone, first_name, last_name, timezone, locale,"
        " email_consent, sms_consent, false, json_build_object('plan', plan, 'ltv', ltv,"
        f" 'signup_channel', signup_channel)::text, '{now}', updated_at FROM src_customers",
        "events": "SELECT 'pg_events:' || event_id, customer_id, name, occurred_at,"
        f" '{now}', (CASE WHEN order_id IS NULL THEN json_build_object('sku', sku, 'channel',"
        " channel) ELSE json_build_object('sku', sku, 'channel', channel, 'order_id', order_id,"
        " 'amount', amount, 'currency', currency) END)::text, amount FROM src_events",
    }


def _duck_selects(data: Path, now: str, *, text_times: bool = False) -> dict[str, str]:
    """The Parquet rows in the shape of the store's tables (DuckDB SQL); ``text_times`` writes
    times as SQLAlchemy stores them in SQLite (``YYYY-MM-DD HH:MM:SS.ffffff``)."""
    customers, events = data / "customers.parquet", data / "events.parquet"

    def t(expr: str) -> str:
        return f"strftime({expr}, '%Y-%m-%d %H:%M:%S.%f')" if text_times else expr

    stamp = t(f"TIMESTAMP '{now}'")
    return {
        "customers": "SELECT customer_id, email, phone, first_name, last_name, timezone, locale,"
        " email_consent, sms_consent, false, to_json({'plan': plan, 'ltv': ltv, 'signup_channel':"
        f" signup_channel}})::varchar, {stamp}, {t('updated_at')}"
        f" FROM read_parquet('{customers}')",
        "events": f"SELECT 'pq_events:' || event_id, customer_id, name, {t('occurred_at')},"
        f" {stamp}, (CASE WHEN order_id IS NULL THEN to_json({{'sku': sku, 'channel':"
        " channel}) ELSE to_json({'sku': sku, 'channel': channel, 'order_id': order_id,"
        " 'amount': amount, 'currency': currency}) END)::varchar, amount"
        f" FROM read_parquet('{events}')",
    }


def child_bare_sqlite(data: Path, target_url: str) -> dict[str, Any]:
    """Diagnostic floor for the SQLite store: the Parquet rows shaped by DuckDB, inserted with the
    sqlite3 module's ``executemany`` into the store's own (indexed) tables, 50,000 rows per
    transaction, with the store's settings (WAL, synchronous=NORMAL, 64 MiB cache)."""
    import sqlite3

    import duckdb

    now = datetime(2026, 1, 10, 12, 0).isoformat(sep=" ")
    selects = _duck_selects(data, now, text_times=True)
    laps: dict[str, float] = {}
    start_cpu, start = time.process_time(), time.perf_counter()
    con = sqlite3.connect(target_url.removeprefix("sqlite:///"), isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-65536"):
        con.execute(f"PRAGMA {pragma}")
    duck = duckdb.connect()
    for table, columns in (("customers", _CUSTOMERS_INTO), ("events", _EVENTS_INTO)):
        lap = time.perf_counter()
        marks = ", ".join("?" for _ in columns.split(","))
        statement = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
        for batch in duck.sql(selects[table]).to_arrow_reader(50_000):
            rows = list(zip(*(column.to_pylist() for column in batch.columns), strict=True))
            con.execute("BEGIN")
            con.executemany(statement, rows)
            con.execute("COMMIT")
        laps[table] = time.perf_counter() - lap
    duck.close()
    con.close()
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    return _result("bare-sqlite", wall, cpu, laps, _verify(data, _store_counts(target_url)))


def child_bare_copy(source: str, source_url: str | None, target_url: str, data: Path) -> dict:
    """The source's rows, shaped as the store's tables, COPYed into a migrated Postgres store."""
    import psycopg

    now = datetime(2026, 1, 10, 12, 0).isoformat(sep=" ")
    laps: dict[str, float] = {}
    start_cpu, start = time.process_time(), time.perf_counter()
    with psycopg.connect(_libpq(target_url)) as dst:
        if source == "postgres":
            assert source_url is not None
            selects = _pg_selects(now)
            with psycopg.connect(_libpq(source_url)) as src:
                for table, columns in (("customers", _CUSTOMERS_INTO), ("events", _EVENTS_INTO)):
                    lap = time.perf_counter()
                    with (
                        src.cursor().copy(f"COPY ({selects[table]}) TO STDOUT") as out,
                        dst.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as into,
                    ):
                        for chunk in out:
                            into.write(chunk)
                    laps[table] = time.perf_counter() - lap
        else:
            import duckdb

            selects = _duck_selects(data, now)
            duck = duckdb.connect()
            for table, columns in (("customers", _CUSTOMERS_INTO), ("events", _EVENTS_INTO)):
                lap = time.perf_counter()
                reader = duck.sql(selects[table]).to_arrow_reader(100_000)
                with dst.cursor().copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT csv)") as c:
                    for chunk in _arrow_batches_as_csv(reader):
                        c.write(chunk)
                laps[table] = time.perf_counter() - lap
            duck.close()
        dst.commit()
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    found = _store_counts(target_url)
    return _result(f"bare-copy-{source}", wall, cpu, laps, _verify(data, found))


# ============================================================================ the sync


def _store_counts(url: str) -> dict[str, Any]:
    from sqlalchemy import text

    from prefect_journeys.store.database import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:

        def one(sql: str) -> Any:
            return conn.execute(text(sql)).scalar_one()

        found = {
            "customers": one("SELECT count(*) FROM customers"),
            "events": one("SELECT count(*) FROM events WHERE journey_id IS NULL"),
            "revenue": one("SELECT round(CAST(sum(value) AS numeric), 2) FROM events"),
            "quarantine": one("SELECT count(*) FROM quarantine"),
        }
    engine.dispose()
    return found


def _verify(data: Path, found: dict[str, Any]) -> dict[str, Any]:
    manifest = json.loads((data / "manifest.json").read_text())
    errors = []
    for key in ("customers", "events"):
        if int(found[key]) != manifest[key]:
            errors.append(f"{key}: {found[key]} stored, {manifest[key]} expected")
    if abs(float(found["revenue"] or 0) - manifest["revenue"]) > 0.05:
        errors.append(f"revenue: {found['revenue']} stored, {manifest['revenue']} expected")
    if found.get("quarantine"):
        errors.append(f"{found['quarantine']} rows quarantined")
    return {"ok": not errors, "errors": errors, "found": found}


def _result(
    kind: str, wall: float, cpu: float, laps: dict[str, float], verify: dict[str, Any]
) -> dict[str, Any]:
    return {
        "kind": kind,
        "wall_s": wall,
        "cpu_s": cpu,
        "laps": laps,
        "peak_rss_mb": own_peak_rss_mb(),
        "verify": verify,
        "loadavg": os.getloadavg(),
    }


def child_sync(store_url: str, project: Path, source: str, profile: Path | None) -> dict:
    """``sync_source`` for the customers source, then the events source, on a migrated store."""
    start = time.perf_counter()
    import great_expectations  # noqa: F401  (3–5 s: paid once per process, not per batch)

    from prefect_journeys.definition.project import Project
    from prefect_journeys.sources.sync import sync_source
    from prefect_journeys.store.database import make_engine

    imported = time.perf_counter() - start
    engine = make_engine(store_url)
    loaded = Project.load(project)
    if loaded.problems:
        raise SystemExit("\n".join(str(p) for p in loaded.problems))
    prefix = "pq" if source == "parquet" else "pg"
    laps: dict[str, float] = {}
    cpu_laps: dict[str, float] = {}
    results: dict[str, Any] = {}
    report_every = [0.0]

    def progress(done: int, total: int | None) -> None:
        if time.perf_counter() - report_every[0] >= 30:
            report_every[0] = time.perf_counter()
            print(f"    {done:,} / {total or '?'} rows", flush=True)

    def both() -> None:
        for entity in ("customers", "events"):
            lap, lap_cpu = time.perf_counter(), time.process_time()
            result = sync_source(engine, loaded, f"{prefix}_{entity}", progress=progress)
            laps[entity] = time.perf_counter() - lap
            cpu_laps[entity] = time.process_time() - lap_cpu
            results[entity] = result.to_dict()
            if not result.ok:
                raise SystemExit(f"sync of {prefix}_{entity} {result.status}: {result.error}")

    _none, wall, cpu = measured(both, profile)
    engine.dispose()
    hot = _hot_spots(profile) if profile is not None else []
    found = _store_counts(store_url)
    data = project / "data"
    out = _result(f"sync-{source}", wall, cpu, laps, _verify(data, found))
    for entity, result in results.items():
        if result["counts"].get("rejected"):
            out["verify"]["ok"] = False
            out["verify"]["errors"].append(f"{entity}: {result['counts']['rejected']} rejected")
    out.update({"import_s": imported, "cpu_laps": cpu_laps, "results": results, "hot": hot})
    out["validation_s"] = {e: r["validation_seconds"] for e, r in results.items()}
    out["validation_cpu_s"] = {e: r["validation_cpu_seconds"] for e, r in results.items()}
    return out


def _hot_spots(profile: Path, limit: int = 25) -> list[dict[str, Any]]:
    """The functions with the most own time in a cProfile dump (where the sync's time goes)."""
    import pstats

    stats = pstats.Stats(str(profile))
    rows = []
    for (file, line, name), (_cc, calls, own, cumulative, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append(
            {
                "function": f"{Path(file).name}:{line}({name})",
                "calls": calls,
                "own_s": round(own, 3),
                "cumulative_s": round(cumulative, 3),
            }
        )
    rows.sort(key=lambda r: r["own_s"], reverse=True)
    return rows[:limit]


# ============================================================================ parent


def write_project(root: Path, data: Path) -> None:
    """A project folder with the four sources; ``data/`` is the generated files."""
    (root / "sources").mkdir(parents=True, exist_ok=True)
    for name, body in SOURCES.items():
        (root / "sources" / f"{name}.yaml").write_text(body)
    link = root / "data"
    if not link.exists():
        link.symlink_to(data, target_is_directory=True)


def child_main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--data", type=Path)
    ap.add_argument("--url")
    ap.add_argument("--source-url")
    ap.add_argument("--source")
    ap.add_argument("--project", type=Path)
    ap.add_argument("--customers", type=int, default=0)
    ap.add_argument("--events", type=int, default=0)
    ap.add_argument("--profile", type=Path)
    a = ap.parse_args(argv)
    if a.child == "generate":
        result = child_generate(a.data, a.customers, a.events)
    elif a.child == "source":
        result = child_source(a.url, a.data)
    elif a.child == "schema":
        result = child_schema(a.url)
    elif a.child == "bare-duckdb":
        result = child_bare_duckdb(a.data, Path(a.url))
    elif a.child == "bare-sqlite":
        result = child_bare_sqlite(a.data, a.url)
    elif a.child == "bare-copy":
        result = child_bare_copy(a.source, a.source_url, a.url, a.data)
    else:
        if a.source == "postgres":
            os.environ[SOURCE_URL_ENV] = a.source_url
        result = child_sync(a.url, a.project, a.source, a.profile)
    a.out.write_text(json.dumps(result, default=str))
    if "verify" in result and not result["verify"]["ok"]:
        print(f"{a.child}: verification failed: {result['verify']['errors']}", file=sys.stderr)
        sys.exit(1)


def parent_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description="Benchmark the sync of customers and events.")
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--quick", action="store_true", help="20,000 customers, 100,000 events")
    ap.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--source", choices=["parquet", "postgres", "both"], default="both")
    ap.add_argument("--postgres", metavar="URL", default=PG_DEFAULT, help="server for databases")
    ap.add_argument("--profile", action="store_true", help="cProfile each sync run (slower)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--workdir", type=Path, help="keep data, stores, logs and profiles here")
    ap.add_argument("--timeout", type=float, default=4 * 3600, help="seconds per run")
    args = ap.parse_args(argv)
    if args.quick:
        args.customers, args.events = 20_000, 100_000
    stores_wanted = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    sources_wanted = ["parquet", "postgres"] if args.source == "both" else [args.source]
    need_pg = "postgres" in stores_wanted or "postgres" in sources_wanted
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="pj-sync-bench-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    say = (
        (lambda *a: print(*a, file=sys.stderr, flush=True))
        if args.json
        else (lambda *a: print(*a, flush=True))
    )
    env = dict(os.environ, PYTHONUNBUFFERED="1", GX_ANALYTICS_ENABLED="false")
    info = machine()
    info["workdir"] = str(workdir)
    if need_pg:
        problem = _pg_problem(args.postgres)
        if problem:
            say(f"error: {problem} (use --store sqlite --source parquet, or --postgres URL)")
            return 2
    me = [sys.executable, str(Path(__file__).resolve())]
    n, m = args.customers, args.events
    say(
        f"machine: {info['nproc']} cpu ({info.get('cpu')}), {info.get('ram_gb')} GB RAM,"
        f" load {fmt_load(info['loadavg_start'])}; {n:,} customers, {m:,} events;"
        f" stores {', '.join(stores_wanted)}; sources {', '.join(sources_wanted)}; workdir {workdir}"
    )

    def child(name: str, *extra: str) -> dict[str, Any]:
        out = workdir / f"{name}.json"
        return run_child(
            [*me, "--child", *extra, "--out", str(out)],
            out,
            env,
            workdir / f"{name}.log",
            args.timeout,
        )

    data = workdir / "data"
    project = workdir / "project"
    results: dict[str, Any] = {}
    stores = {
        "sqlite": Stores(workdir, None),
        "postgres": Stores(workdir, args.postgres) if need_pg else None,
    }
    source_db: str | None = None
    try:
        gen = child(
            "generate", "generate", "--data", str(data), "--customers", str(n), "--events", str(m)
        )
        if gen.get("failed"):
            say(f"generating the data failed:\n{gen['log_tail']}")
            return 2
        results["generate"] = gen
        say(
            f"data: {gen['wall_s']:.1f} s, customers.parquet"
            f" {gen['bytes']['customers.parquet'] / 2**20:.0f} MB, events.parquet"
            f" {gen['bytes']['events.parquet'] / 2**20:.0f} MB, {gen['purchases']:,} purchases"
        )
        write_project(project, data)
        if "postgres" in sources_wanted:
            pg = stores["postgres"]
            assert pg is not None
            db = f"pj_bench_source_{os.getpid()}"
            pg._pg_exec(f'DROP DATABASE IF EXISTS "{db}"', f'CREATE DATABASE "{db}"')
            pg.created.append(db)
            source_db = pg._pg_url(db)
            loaded = child("source", "source", "--url", source_db, "--data", str(data))
            if loaded.get("failed"):
                say(f"loading the Postgres source failed:\n{loaded['log_tail']}")
                return 2
            say(f"Postgres source loaded with COPY in {loaded['wall_s']:.1f} s (not timed)")
        bases: dict[str, str] = {}
        for kind in stores_wanted:
            store = stores[kind]
            assert store is not None
            bases[kind] = store.base(n)
            schema = child(f"schema_{kind}", "schema", "--url", bases[kind])
            if schema.get("failed"):
                say(f"migrating the {kind} store failed:\n{schema['log_tail']}")
                return 2

        def report(name: str, res: dict[str, Any]) -> None:
            results[name] = res
            if res.get("failed"):
                say(f"  {name:28s} FAILED (exit {res.get('returncode')}): {res['log_tail']}")
                return
            rows = n + m
            say(
                f"  {name:28s} {res['wall_s']:9.2f} s  {rows / res['wall_s']:>10,.0f} rows/s"
                f"  peak RSS {res['peak_rss_mb']:6.0f} MB  load {fmt_load(res['loadavg'])}"
            )

        if "parquet" in sources_wanted:
            report(
                "bare DuckDB (parquet)",
                child(
                    "bare_duckdb",
                    "bare-duckdb",
                    "--data",
                    str(data),
                    "--url",
                    str(workdir / "bare.duckdb"),
                ),
            )
        if "sqlite" in stores_wanted:
            target = stores["sqlite"].copy(n, "bare")  # type: ignore[union-attr]
            report(
                "bare SQLite (parquet)",
                child("bare_sqlite", "bare-sqlite", "--data", str(data), "--url", target),
            )
            if args.workdir is None:
                stores["sqlite"].drop(target)  # type: ignore[union-attr]
        if "postgres" in stores_wanted:
            pg = stores["postgres"]
            assert pg is not None
            for source in sources_wanted:
                target = pg.copy(n, f"bare_{source}")
                extra = ["--source-url", source_db] if source_db and source == "postgres" else []
                report(
                    f"bare COPY ({source})",
                    child(
                        f"bare_copy_{source}",
                        "bare-copy",
                        "--source",
                        source,
                        "--url",
                        target,
                        "--data",
                        str(data),
                        *extra,
                    ),
                )
                if args.workdir is None:
                    pg.drop(target)
        for kind in stores_wanted:
            store = stores[kind]
            assert store is not None
            for source in sources_wanted:
                url = store.copy(n, f"sync_{source}")
                name = f"sync_{source}_{kind}"
                extra = ["--source-url", source_db] if source == "postgres" and source_db else []
                if args.profile:
                    extra += ["--profile", str(workdir / f"{name}.prof")]
                say(f"  sync {source} → {kind} store …")
                report(
                    f"sync {source} → {kind}",
                    child(
                        name,
                        "sync",
                        "--source",
                        source,
                        "--url",
                        url,
                        "--project",
                        str(project),
                        *extra,
                    ),
                )
                if args.workdir is None:
                    store.drop(url)
    finally:
        for store in stores.values():
            if store is not None:
                store.cleanup()
    info["loadavg_end"] = os.getloadavg()
    summary = summarize(n, m, results, stores_wanted, sources_wanted)
    if args.json:
        print(
            json.dumps(
                {"machine": info, "runs": results, "summary": summary}, indent=2, default=str
            )
        )
    else:
        print_report(n, m, results, summary, info)
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if summary["all_pass"] else 1


def _pg_problem(url: str) -> str | None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return f"PostgreSQL not reachable at {url}: {str(exc).splitlines()[0]}"
    finally:
        engine.dispose()
    return None


def _ok(res: dict[str, Any] | None) -> bool:
    return res is not None and not res.get("failed") and bool(res.get("verify", {}).get("ok"))


def primary_bare(store: str, source: str) -> str:
    """The bare load a sync is judged against (see :func:`summarize`)."""
    if store == "sqlite" and source == "parquet":
        return "bare DuckDB (parquet)"
    return f"bare COPY ({source})"


def summarize(
    n: int, m: int, results: dict[str, Any], stores: list[str], sources: list[str]
) -> dict[str, Any]:
    """Ratios, GX seconds per million rows, and PASS/FAIL per target.

    The ratio that is judged compares the sync with the bare load into the same kind of
    database: ``COPY`` of the same source for the Postgres store; for the SQLite store, which has
    no COPY, DuckDB's Parquet load (and ``COPY`` from the Postgres source). Every other bare load
    of the same source is shown beside it."""
    runs = []
    for kind in stores:
        for source in sources:
            sync = results.get(f"sync {source} → {kind}")
            primary = primary_bare(kind, source)
            related = [f"bare COPY ({source})"]
            if source == "parquet":
                related += ["bare DuckDB (parquet)"]
            if kind == "sqlite" and source == "parquet":
                related += ["bare SQLite (parquet)"]
            row: dict[str, Any] = {"store": kind, "source": source, "ok": _ok(sync)}
            if _ok(sync):
                assert sync is not None
                row["wall_s"] = sync["wall_s"]
                row["rows_per_s"] = (n + m) / sync["wall_s"]
                row["customers_per_s"] = n / sync["laps"]["customers"]
                row["events_per_s"] = m / sync["laps"]["events"]
                row["peak_rss_mb"] = sync["peak_rss_mb"]
                row["gx_s_per_m"] = {
                    entity: seconds / (rows / 1e6)
                    for entity, seconds, rows in (
                        ("customers", sync["validation_s"]["customers"], n),
                        ("events", sync["validation_s"]["events"], m),
                    )
                }
                row["gx_cpu_s_per_m"] = {
                    entity: sync["validation_cpu_s"][entity] / (rows / 1e6)
                    for entity, rows in (("customers", n), ("events", m))
                }
                row["gx_share"] = sum(sync["validation_s"].values()) / sync["wall_s"]
                row["ratios"] = {
                    name: sync["wall_s"] / results[name]["wall_s"]
                    for name in dict.fromkeys([primary, *related])
                    if _ok(results.get(name))
                }
                if primary in row["ratios"]:
                    row["bare"] = primary
                    row["ratio"] = row["ratios"][primary]
                    bare_laps = results[primary]["laps"]
                    row["entity_ratios"] = {
                        entity: sync["laps"][entity] / bare_laps[entity]
                        for entity in ("customers", "events")
                        if bare_laps.get(entity)
                    }
            runs.append(row)
    ratios = [r.get("ratio") for r in runs]
    gx = [v for r in runs for v in r.get("gx_cpu_s_per_m", {}).values()]
    targets = {
        "ratio": {
            "target": f"sync / bare load <= {RATIO_TARGET:g}",
            "values": {f"{r['source']} → {r['store']}": r.get("ratio") for r in runs},
            "pass": bool(ratios) and all(x is not None and x <= RATIO_TARGET for x in ratios),
        },
        "gx": {
            "target": f"GX validation <= {GX_TARGET_S_PER_M:g} CPU s per million rows",
            "values": {f"{r['source']} → {r['store']}": r.get("gx_cpu_s_per_m") for r in runs},
            "pass": bool(gx) and all(x <= GX_TARGET_S_PER_M for x in gx),
        },
        "verified": {
            "target": "every run verified (counts, revenue, nothing quarantined)",
            "values": {k: _ok(v) for k, v in results.items() if k != "generate"},
            "pass": all(_ok(v) for k, v in results.items() if k != "generate"),
        },
    }
    return {"runs": runs, "targets": targets, "all_pass": all(t["pass"] for t in targets.values())}


BARE_EXPLAINED = """\
What "bare" includes:
  bare DuckDB — CREATE TABLE AS SELECT * FROM read_parquet(...) for both files into a DuckDB file:
      read the Parquet, land it in a table; no mapping, validation, keys or indexes.
  bare COPY  — COPY (SELECT ...) TO STDOUT from the source (Parquet: read by DuckDB) piped into
      COPY ... FROM STDIN into the store's own customers and events tables (same columns, indexes
      and unique keys), attributes/properties built as JSON; no validation, normalisation,
      identity resolution, deduplication against stored rows or watermark.
  bare SQLite — (diagnostic, SQLite store) the Parquet rows shaped by DuckDB as for COPY, inserted
      with sqlite3 executemany into the store's own indexed tables, 50,000 rows per transaction.
The judged ratio (**) is against the bare load into the same kind of database: COPY for the
Postgres store; DuckDB's Parquet load for the SQLite store (which has no COPY).
The sync also maps and normalises every row (emails, E.164 phones), validates each batch with
Great Expectations, resolves identities (customers: upsert with unchanged detection, email/phone
identities, consent records; events: key → profile), deduplicates events by source id and keeps
a watermark and a run record."""


def print_report(n: int, m: int, results: dict[str, Any], summary: dict, info: dict) -> None:
    print()
    head = (
        f"{'run':28} | {'seconds':>9} | {'rows/s':>9} | {'customers s':>11} | {'events s':>9}"
        f" | {'peak RSS MB':>11} | {'CPU s':>8}"
    )
    print(head)
    print("-" * len(head))
    for name, res in results.items():
        if name == "generate" or not isinstance(res, dict):
            continue
        if res.get("failed"):
            print(f"{name:28} | FAILED (see {res.get('log')})")
            continue
        laps = res.get("laps", {})
        print(
            f"{name:28} | {res['wall_s']:9.2f} | {(n + m) / res['wall_s']:9,.0f}"
            f" | {laps.get('customers', 0):11.2f} | {laps.get('events', 0):9.2f}"
            f" | {res['peak_rss_mb']:11.0f} | {res['cpu_s']:8.2f}"
        )
    print()
    for row in summary["runs"]:
        if not row["ok"]:
            print(f"sync {row['source']} → {row['store']}: FAILED or not verified")
            continue
        gx, gx_cpu = row["gx_s_per_m"], row["gx_cpu_s_per_m"]
        entity = row.get("entity_ratios", {})
        ratios = ", ".join(
            f"{'**' if name == row.get('bare') else ''}vs {name} {value:.2f}x"
            f"{'**' if name == row.get('bare') else ''}"
            for name, value in row["ratios"].items()
        )
        print(
            f"sync {row['source']} → {row['store']}: {row['rows_per_s']:,.0f} rows/s"
            f" (customers {row['customers_per_s']:,.0f}/s, events {row['events_per_s']:,.0f}/s),"
            f" peak RSS {row['peak_rss_mb']:.0f} MB; GX CPU {gx_cpu['customers']:.2f} s/M customers,"
            f" {gx_cpu['events']:.2f} s/M events (wall {gx['customers']:.2f} / {gx['events']:.2f};"
            f" {100 * row['gx_share']:.0f}% of the sync); {ratios or 'no bare load to compare'}"
            + (
                f"; per entity vs {row['bare']}: customers {entity['customers']:.2f}x,"
                f" events {entity['events']:.2f}x"
                if "customers" in entity and "events" in entity
                else ""
            )
        )
    print("(** the ratio judged against the target: the bare load into the same kind of database)")
    for name, res in results.items():
        if isinstance(res, dict) and res.get("hot"):
            print(f"\n{name}: functions with the most own time (cProfile, --profile)")
            for row in res["hot"][:12]:
                print(
                    f"  {row['own_s']:8.2f} s own {row['cumulative_s']:8.2f} s cum"
                    f" {row['calls']:>10,} calls  {row['function']}"
                )
    print()
    for target in summary["targets"].values():
        verdict = {True: "PASS", False: "FAIL"}[target["pass"]]
        print(f"{verdict}  {target['target']}")
    print()
    print(BARE_EXPLAINED)
    print(
        f"\nload average {fmt_load(info['loadavg_start'])} at the start,"
        f" {fmt_load(info['loadavg_end'])} at the end ({info['nproc']} cpu)"
    )


if __name__ == "__main__":
    if "--child" in sys.argv:
        child_main(sys.argv[1:])
    else:
        sys.exit(parent_main(sys.argv[1:]))
