"""The floor for ``benchmarks/tick.py``: one tick of the benchmark journey written by hand.

The same work as the engine's tick of ``benchmarks/project/journeys/bench.yaml`` (wait → branch →
send to the outbox), with plain SQL through SQLAlchemy Core and python-liquid, and nothing of
prefect-journeys or Prefect:

1. ``wait_1d`` → ``by_plan``: one ``INSERT … SELECT`` of ``journey.step`` events, one ``UPDATE``;
2. ``by_plan``: the same two statements for ``plan = 'pro'`` → ``send_pro``, then for the rest →
   ``send_basic``;
3. each send step: ``INSERT … SELECT`` of send intents, then ``journey.completed`` events and the
   ``UPDATE`` that completes the enrollments;
4. dispatch in batches (default 1,000, like the engine): claim (committed), read the claimed
   intents joined with their customers, render subject/preheader/body with the same Liquid
   templates, insert the outbox rows, mark the intents sent and insert ``message.sent`` events in
   one transaction, then append the batch to a JSONL file.

It keeps the store's conventions (naive UTC timestamps in SQLAlchemy's SQLite text format, the
same ``source_id`` keys) so ``verify`` checks both runs the same way and their outbox contents can
be compared. Run by ``tick.py`` in its own process; can also be run alone::

    .venv/bin/python benchmarks/floor_tick.py --url sqlite:////tmp/x.db --n 100000 \
        --as-of 2026-01-10T12:00:00 --out /tmp/floor.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROJECT = HERE / "project"
JOURNEY = "bench"


# ----------------------------------------------------------------------------- helpers


def engine_for(url: str) -> Any:
    """An engine with the same SQLite settings as the store's (WAL, synchronous=NORMAL)."""
    from sqlalchemy import create_engine, event

    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _setup(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA cache_size=-65536")  # as the store's engine
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url)


def ts(dialect: str, value: datetime | None) -> Any:
    """A timestamp parameter: SQLAlchemy's SQLite text format, or a datetime for Postgres."""
    if value is None or dialect == "postgresql":
        return value
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def load_templates() -> tuple[dict[str, Any], dict[str, Any]]:
    """The journey's send steps (template, data) and each template compiled with Liquid."""
    import liquid
    import yaml

    journey = yaml.safe_load((PROJECT / "journeys" / "bench.yaml").read_text())
    env = liquid.Environment(undefined=liquid.StrictDefaultUndefined)
    steps = {s["id"]: s for s in journey["steps"]}
    compiled: dict[str, Any] = {}
    for step in steps.values():
        if "send" in step:
            name = step["send"]["template"]
            spec = yaml.safe_load((PROJECT / "templates" / f"{name}.yaml").read_text())
            compiled[name] = {
                part: env.from_string(spec[part])
                for part in ("subject", "preheader", "body")
                if spec.get(part) is not None
            }
    return {"journey": journey, "steps": steps}, compiled


# ----------------------------------------------------------------------------- the tick


def floor_tick(
    url: str,
    as_of: datetime,
    outbox_path: Path,
    batch_size: int = 1000,
    phases: dict[str, float] | None = None,
) -> int:
    """The tick; ``phases`` (if given) receives the seconds spent in each part."""
    phases = {} if phases is None else phases
    mark = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        now_ = time.perf_counter()
        phases[name] = round(now_ - mark, 3)
        mark = now_

    from sqlalchemy import String, column, insert, table, text

    outbox_t = table(  # a lightweight table: just the columns written
        "outbox_messages",
        column("id"),
        column("intent_id"),
        column("channel", String),
        column("customer_id", String),
        column("recipient", String),
        column("subject", String),
        column("preheader", String),
        column("body", String),
        column("created_at"),
    )

    definition, compiled = load_templates()
    journey, steps = definition["journey"], definition["steps"]
    engine = engine_for(url)
    d = engine.dialect.name
    pg = d == "postgresql"
    now = datetime.now().replace(microsecond=0)
    jsonb = "::jsonb" if pg else ""
    props = "CAST(:props AS jsonb)" if pg else ":props"
    iso = as_of.isoformat()
    with engine.connect() as conn:
        version = conn.execute(
            text("SELECT max(version) FROM journey_versions WHERE journey_id = :j"), {"j": JOURNEY}
        ).scalar_one()
    p = {"j": JOURNEY, "v": version, "as_of": ts(d, as_of), "now": ts(d, now)}
    at = "journey_id = :j AND version = :v AND state = 'active' AND step_id = :here AND due_at <= :as_of"

    def step_events(conn: Any, where: str, target: str, stage: str | None, params: dict) -> None:
        conn.execute(
            text(
                "INSERT INTO events (source_id, customer_id, name, occurred_at, received_at,"
                " properties, journey_id, journey_version, step_id, stage, variant, enrollment_id)"
                f" SELECT 'journey.step:' || CAST(id AS TEXT) || ':{target}:{iso}', customer_id,"
                f" 'journey.step', :as_of, :now, '{{}}'{jsonb}, journey_id, version, :target,"
                f" {':stage' if stage else 'stage'}, variant, id FROM enrollments WHERE {where}"
                " ON CONFLICT (source_id) DO NOTHING"
            ),
            {**params, "target": target, **({"stage": stage} if stage else {})},
        )

    def move(conn: Any, where: str, target: str, params: dict) -> int:
        stage = steps[target].get("stage")
        step_events(conn, where, target, stage, params)
        due = as_of + timedelta(days=1) if "wait" in steps[target] else as_of
        sets = "step_id = :target, step_entered_at = :as_of, due_at = :due, updated_at = :now"
        if stage:
            sets += ", stage = :stage"
        result = conn.execute(
            text(f"UPDATE enrollments SET {sets} WHERE {where}"),
            {**params, "target": target, "due": ts(d, due), **({"stage": stage} if stage else {})},
        )
        return int(result.rowcount)

    # 1. wait_1d → by_plan
    wait = steps["wait_1d"]
    with engine.begin() as conn:
        move(conn, at, wait["next"], {**p, "here": "wait_1d"})
    lap("wait_1d")
    # 2. by_plan: attribute plan = 'pro' → send_pro, else send_basic
    branch = steps["by_plan"]["branch"]
    case, otherwise = branch[0], branch[1]["else"]
    attr = case["when"]["attribute"]
    if pg:
        matches = f"c.attributes -> '{attr}' = to_jsonb(CAST(:val AS text))"
    else:
        matches = (
            f"json_type(c.attributes, '$.\"{attr}\"') = 'text'"
            f" AND json_extract(c.attributes, '$.\"{attr}\"') = :val"
        )
    pro = f"{at} AND EXISTS (SELECT 1 FROM customers c WHERE c.id = enrollments.customer_id AND {matches})"
    with engine.begin() as conn:
        move(conn, pro, case["next"], {**p, "here": "by_plan", "val": case["when"]["value"]})
        move(conn, at, otherwise, {**p, "here": "by_plan"})
    lap("by_plan")
    # 3. send steps: intents, then complete the enrollments (no next step)
    for step_id in ("send_basic", "send_pro"):
        send = steps[step_id]["send"]
        stage = steps[step_id].get("stage")
        params = {
            **p,
            "here": step_id,
            "step_v": step_id,
            "channel": send["channel"],
            "template": send["template"],
        }
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO send_intents (journey_id, version, step_id, customer_id, entry_seq,"
                    " enrollment_id, channel, template, stage, variant, status, due_at, created_at,"
                    " attempts, deferrals) SELECT journey_id, version, :step_v, customer_id, entry_seq,"
                    f" id, :channel, :template, {':stage' if stage else 'stage'}, variant, 'planned',"
                    f" :as_of, :now, 0, 0 FROM enrollments WHERE {at}"
                    " ON CONFLICT (journey_id, version, step_id, customer_id, entry_seq) DO NOTHING"
                ),
                {**params, **({"stage": stage} if stage else {})},
            )
            conn.execute(
                text(
                    "INSERT INTO events (source_id, customer_id, name, occurred_at, received_at,"
                    " properties, journey_id, journey_version, stage, variant, enrollment_id)"
                    " SELECT 'journey.completed:' || CAST(id AS TEXT) || ':completed:"
                    f"{iso}', customer_id, 'journey.completed', :as_of, :now, '{{}}'{jsonb},"
                    f" journey_id, version, stage, variant, id FROM enrollments WHERE {at}"
                    " ON CONFLICT (source_id) DO NOTHING"
                ),
                params,
            )
            conn.execute(
                text(
                    "UPDATE enrollments SET state = 'completed', step_id = NULL, due_at = NULL,"
                    f" exit_reason = NULL, completed_at = :as_of, updated_at = :now WHERE {at}"
                ),
                params,
            )
    lap("send_steps")
    # 4. dispatch
    journey_ctx = {"id": journey["id"], "name": journey.get("name") or journey["id"]}
    sent_total = 0
    outbox_path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        token = uuid.uuid4().hex
        with engine.begin() as conn:
            ids = list(
                conn.execute(
                    text(
                        "SELECT id FROM send_intents WHERE journey_id = :j AND status = 'planned'"
                        " AND due_at <= :as_of ORDER BY due_at, id LIMIT :n"
                        + (" FOR UPDATE SKIP LOCKED" if pg else "")
                    ),
                    {**p, "n": batch_size},
                ).scalars()
            )
            if not ids:
                break
            marks = ", ".join(str(int(i)) for i in ids)
            conn.execute(
                text(
                    "UPDATE send_intents SET status = 'claimed', claim_token = :tok,"
                    f" claimed_at = :now, attempts = attempts + 1 WHERE id IN ({marks})"
                    " AND status = 'planned'"
                ),
                {**p, "tok": token},
            )
            rows = conn.execute(
                text(
                    "SELECT i.id, i.version, i.step_id, i.customer_id, i.enrollment_id, i.channel,"
                    " i.template, i.stage, i.variant, c.email, c.first_name, c.attributes"
                    " FROM send_intents i JOIN customers c ON c.id = i.customer_id"
                    f" WHERE i.id IN ({marks}) AND i.claim_token = :tok"
                    " ORDER BY i.customer_id, i.created_at, i.id"
                ),
                {"tok": token},
            ).all()
        outbox, records = [], []
        for r in rows:
            attributes = (
                r.attributes if isinstance(r.attributes, dict) else json.loads(r.attributes or "{}")
            )
            context = {
                "customer": {
                    "id": r.customer_id,
                    "email": r.email,
                    "first_name": r.first_name,
                    "attributes": attributes,
                },
                "data": dict(steps[r.step_id]["send"].get("data") or {}),
                "journey": journey_ctx,
                "step": {"id": r.step_id, "stage": steps[r.step_id].get("stage")},
            }
            parts = {name: t.render(**context) for name, t in compiled[r.template].items()}
            outbox.append(
                {
                    "intent_id": r.id,
                    "channel": r.channel,
                    "customer_id": r.customer_id,
                    "recipient": r.email,
                    "subject": parts.get("subject"),
                    "preheader": parts.get("preheader"),
                    "body": parts["body"],
                    "created_at": ts(d, now),
                }
            )
            records.append(r)
        with engine.begin() as conn:
            # executemany with RETURNING (SQLAlchemy batches it as multi-row VALUES)
            by_intent = {
                int(intent_id): int(out_id)
                for out_id, intent_id in conn.execute(
                    insert(outbox_t).returning(outbox_t.c.id, outbox_t.c.intent_id), outbox
                )
            }
            conn.execute(
                text(
                    "UPDATE send_intents SET status = 'sent', provider_id = :pid, error = NULL,"
                    " sent_at = :as_of, deferrals = deferrals, claim_token = NULL WHERE id = :iid"
                ),
                [
                    {"pid": f"outbox-{by_intent[r.id]}", "as_of": p["as_of"], "iid": r.id}
                    for r in records
                ],
            )
            conn.execute(
                text(
                    "INSERT INTO events (source_id, customer_id, name, occurred_at, received_at,"
                    " properties, journey_id, journey_version, step_id, stage, variant, channel,"
                    " enrollment_id, intent_id) VALUES (:sid, :cid, 'message.sent', :as_of, :now,"
                    f" {props}, :j, :v, :step, :stage, :variant, :channel, :eid, :iid)"
                    " ON CONFLICT (source_id) DO NOTHING"
                ),
                [
                    {
                        "sid": f"message.sent:{r.id}",
                        "cid": r.customer_id,
                        "as_of": p["as_of"],
                        "now": p["now"],
                        "props": json.dumps({"provider_id": f"outbox-{by_intent[r.id]}"}),
                        "j": JOURNEY,
                        "v": r.version,
                        "step": r.step_id,
                        "stage": r.stage,
                        "variant": r.variant,
                        "channel": r.channel,
                        "eid": r.enrollment_id,
                        "iid": r.id,
                    }
                    for r in records
                ],
            )
        with outbox_path.open("a", encoding="utf-8") as handle:
            for m, r in zip(outbox, records, strict=True):
                record = {
                    "intent_id": m["intent_id"],
                    "channel": m["channel"],
                    "customer_id": m["customer_id"],
                    "to": m["recipient"],
                    "subject": m["subject"],
                    "preheader": m["preheader"],
                    "body": m["body"],
                    "tag_journey": JOURNEY,
                    "tag_version": r.version,
                    "tag_step": r.step_id,
                }
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        sent_total += len(records)
    engine.dispose()
    lap("dispatch")
    return sent_total


# ----------------------------------------------------------------------------- verification


def verify(url: str, n: int, jsonl: Path | None = None) -> dict[str, Any]:
    """Check a finished tick (untimed): every count the tick must produce, and a digest of the
    outbox contents so two runs can be compared. ``ok`` is False with ``errors`` otherwise."""
    from sqlalchemy import text

    engine = engine_for(url)
    counts: dict[str, Any] = {}
    with engine.connect() as conn:
        one = lambda sql: int(conn.execute(text(sql)).scalar_one())  # noqa: E731
        counts["outbox"] = one("SELECT count(*) FROM outbox_messages")
        counts["intents_sent"] = one("SELECT count(*) FROM send_intents WHERE status = 'sent'")
        counts["intents_other"] = one("SELECT count(*) FROM send_intents WHERE status <> 'sent'")
        counts["completed"] = one("SELECT count(*) FROM enrollments WHERE state = 'completed'")
        counts["active"] = one("SELECT count(*) FROM enrollments WHERE state = 'active'")
        counts["send_pro"] = one("SELECT count(*) FROM send_intents WHERE step_id = 'send_pro'")
        for name in ("message.sent", "journey.step", "journey.completed"):
            counts[name] = one(f"SELECT count(*) FROM events WHERE name = '{name}'")
        digest = hashlib.sha256()
        rows = conn.execute(
            text(
                "SELECT i.customer_id, i.step_id, o.recipient, o.subject, o.preheader, o.body"
                " FROM outbox_messages o JOIN send_intents i ON i.id = o.intent_id"
                " ORDER BY i.customer_id"
            )
        )
        for row in rows:
            digest.update(json.dumps(list(row), ensure_ascii=False).encode())
        counts["outbox_sha256"] = digest.hexdigest()[:16]
    engine.dispose()
    if jsonl is not None:
        counts["jsonl_lines"] = sum(1 for _ in jsonl.open("rb")) if jsonl.exists() else 0
    pro = n // 3  # customers with i % 3 == 0 are on 'pro' (see tick.py's data build)
    expected = {
        "outbox": n,
        "intents_sent": n,
        "intents_other": 0,
        "completed": n,
        "active": 0,
        "send_pro": pro,
        "message.sent": n,
        "journey.step": 2 * n,
        "journey.completed": n,
    }
    if jsonl is not None:
        expected["jsonl_lines"] = n
    errors = [f"{k}: {counts[k]} != {v}" for k, v in expected.items() if counts[k] != v]
    return {"ok": not errors, "errors": errors, "counts": counts}


# ----------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--as-of", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--outbox", type=Path)
    ap.add_argument("--batch-size", type=int, default=1000)
    args = ap.parse_args()
    as_of = datetime.fromisoformat(args.as_of)
    outbox = args.outbox or args.out.with_suffix(".jsonl")
    import liquid  # noqa: F401  (imports are not part of the tick)
    import sqlalchemy  # noqa: F401
    import yaml  # noqa: F401

    rss_before = peak_rss_mb()
    cpu = time.process_time()
    start = time.perf_counter()
    phases: dict[str, float] = {}
    sent = floor_tick(args.url, as_of, outbox, args.batch_size, phases)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    rss = peak_rss_mb()
    check = verify(args.url, args.n, outbox)
    args.out.write_text(
        json.dumps(
            {
                "kind": "floor",
                "n": args.n,
                "wall_s": wall,
                "cpu_s": cpu,
                "peak_rss_mb": rss,
                "rss_before_tick_mb": rss_before,
                "sent": sent,
                "phases": phases,
                "task_runs": 0,
                "loadavg": os.getloadavg(),
                "verify": check,
            }
        )
    )
    if not check["ok"]:
        print("floor: verification failed: " + "; ".join(check["errors"]), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
