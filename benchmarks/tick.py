"""Benchmark: one tick of wait → branch → send (outbox) over N due enrollments.

For each size N the benchmark builds a store with N customers and N enrollments already due at the
``wait_1d`` step of ``benchmarks/project/journeys/bench.yaml`` (set-based SQL; not timed), then runs
one tick three ways, each in a fresh interpreter so its peak RSS is its own:

- **framework**: the Prefect flow ``run_journey`` (every phase a Prefect task), what users run. The
  Prefect temporary server is started first by running the flow on an empty store; that start-up
  is reported separately and not included in the tick time;
- **floor**: ``floor_tick.py``, the same SQL and Liquid rendering written by hand (no framework);
- **engine** (diagnostic, ``--no-engine`` to skip): ``Tick.run`` called directly with a runner that
  times each phase, i.e. the framework without Prefect.

Every run is verified afterwards (outbox rows, sent intents, completed enrollments, events, the
JSONL file, and a digest of the outbox contents which must be the same for all runs), so a broken
run cannot look fast. Targets (from the issue): framework/floor ≤ 1.5; t(1M)/t(100k) ≤ 11 (≤ 1.1 ×
the size ratio in general); peak RSS ≤ 2 GB; task runs the same at every size.

    .venv/bin/python benchmarks/tick.py                 # 100k and 1M, SQLite
    .venv/bin/python benchmarks/tick.py --quick         # 10k and 100k
    .venv/bin/python benchmarks/tick.py --postgres postgresql+psycopg://postgres@127.0.0.1/postgres
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROJECT = HERE / "project"
JOURNEY = "bench"
AS_OF = datetime(2026, 1, 10, 12, 0, 0)
RSS_TARGET_MB = 2048
RATIO_TARGET = 1.5
SCALING_SLACK = 1.1  # t(10N)/t(N) ≤ 11


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class ChildRss:
    """Samples the summed RSS of this process's children (the Prefect temporary server)."""

    def __init__(self, every: float = 0.2) -> None:
        self.every = every
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            with suppress(psutil.Error):
                for child in me.children(recursive=True):
                    with suppress(psutil.Error):
                        total += child.memory_info().rss
            self.peak_mb = max(self.peak_mb, total / 2**20)
            self._stop.wait(self.every)

    def __enter__(self) -> ChildRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def measured(fn: Any, profile: Path | None) -> tuple[Any, float, float]:
    """``fn()`` with its wall and CPU seconds; under cProfile (dumped to ``profile``) if given."""
    profiler = None
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()
    cpu = time.process_time()
    start = time.perf_counter()
    result = profiler.runcall(fn) if profiler is not None else fn()
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    if profiler is not None and profile is not None:
        profiler.dump_stats(str(profile))
    return result, wall, cpu


def children_cpu_s() -> float:
    """CPU seconds (user + system) used so far by this process's live children (the server)."""
    import psutil

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        with suppress(psutil.Error):
            times = child.cpu_times()
            total += times.user + times.system
    return total


# ============================================================================ children


def child_build(url: str, n: int) -> dict[str, Any]:
    """Schema (the package's migrations), the plan's version, N customers and N due enrollments."""
    from sqlalchemy import text

    from prefect_journeys.definition.project import Project
    from prefect_journeys.engine import versions
    from prefect_journeys.store.database import make_engine
    from prefect_journeys.store.migrate import ensure_schema

    start = time.perf_counter()
    engine = make_engine(url)
    ensure_schema(engine)
    plan = Project.load(PROJECT).plan(JOURNEY)
    pg = engine.dialect.name == "postgresql"
    entered = AS_OF - timedelta(days=2)
    due = AS_OF - timedelta(days=1)

    def t(value: datetime) -> Any:
        return value if pg else value.strftime("%Y-%m-%d %H:%M:%S.%f")

    with engine.begin() as conn:
        version = versions.register(conn, plan, entered)
        versions.ensure_state(conn, JOURNEY, entered)
        if pg:
            seq = "SELECT i FROM generate_series(1, :n) AS i"
            attrs = (
                "jsonb_build_object('plan', CASE WHEN i % 3 = 0 THEN 'pro' ELSE 'basic' END,"
                " 'seats', i % 25)"
            )
            cid, email = (
                "'c' || lpad(i::text, 8, '0')",
                "'c' || lpad(i::text, 8, '0') || '@example.com'",
            )
            name = "CASE WHEN i % 7 = 0 THEN NULL ELSE 'Name' || i END"
            yes, no = "true", "false"
            prefix = ""
        else:
            seq = "SELECT i FROM seq"
            prefix = (
                "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < :n) "
            )
            attrs = (
                "json_object('plan', CASE WHEN i % 3 = 0 THEN 'pro' ELSE 'basic' END,"
                " 'seats', i % 25)"
            )
            cid, email = "printf('c%08d', i)", "printf('c%08d@example.com', i)"
            name = "CASE WHEN i % 7 = 0 THEN NULL ELSE 'Name' || i END"
            yes, no = "1", "0"
        conn.execute(
            text(
                f"{prefix}INSERT INTO customers (id, email, first_name, timezone, locale,"
                " email_consent, sms_consent, whatsapp_consent, attributes, created_at, updated_at)"
                f" SELECT {cid}, {email}, {name}, 'Europe/Berlin', 'de-DE', {yes}, {no}, {no},"
                f" {attrs}, :entered, :entered FROM ({seq}) AS s"
            ),
            {"n": n, "entered": t(entered)},
        )
        conn.execute(
            text(
                "INSERT INTO enrollments (journey_id, version, customer_id, entry_seq, triggered_at,"
                " entered_at, state, step_id, step_entered_at, due_at, updated_at)"
                " SELECT :j, :v, id, 1, :entered, :entered, 'active', 'wait_1d', :entered, :due,"
                " :entered FROM customers"
            ),
            {"j": JOURNEY, "v": version, "entered": t(entered), "due": t(due)},
        )
        if pg:
            conn.execute(text("ANALYZE"))
    engine.dispose()
    if not pg:  # fold the WAL into the file so that a plain copy is the whole store
        import sqlite3

        raw = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.close()
    return {"kind": "build", "n": n, "wall_s": time.perf_counter() - start, "version": version}


def _flow_kwargs(url: str, outbox: Path) -> dict[str, Any]:
    return {
        "journey": JOURNEY,
        "project_dir": str(PROJECT),
        "as_of": AS_OF,
        "dry_run": False,
        "database_url": url,
        "outbox_path": str(outbox),
    }


def child_framework(url: str, warm_url: str, n: int, outbox: Path) -> dict[str, Any]:
    """The Prefect flow: a warm-up run on an empty store starts the server, then the real tick."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from prefect_journeys.flows.run_journey import run_journey

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}), ChildRss() as srv:
        start = time.perf_counter()
        warm = run_journey(**_flow_kwargs(warm_url, outbox.with_suffix(".warm.jsonl")))
        startup = time.perf_counter() - start
        rss_before = peak_rss_mb()
        server_cpu = children_cpu_s()
        cpu = time.process_time()
        start = time.perf_counter()
        state = run_journey(**_flow_kwargs(url, outbox), return_state=True)
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
        server_cpu = children_cpu_s() - server_cpu
        rss = peak_rss_mb()
    counts = state.result()
    api = _task_runs_from_api(state.state_details.flow_run_id)
    return {
        "kind": "framework",
        "n": n,
        "wall_s": wall,
        "startup_s": startup,
        "cpu_s": cpu,
        "server_cpu_s": server_cpu,
        "peak_rss_mb": rss,
        "rss_before_tick_mb": rss_before,
        "server_peak_rss_mb": srv.peak_mb,
        "task_runs": counts.get("task_runs"),
        "warmup_task_runs": warm.get("task_runs"),
        "api_task_runs": api["count"],
        "phases": api["phases"],
        "sent": counts.get("sent"),
        "prefect_api": os.environ.get("PREFECT_API_URL") or "temporary server",
    }


def _task_runs_from_api(flow_run_id: Any) -> dict[str, Any]:
    """Task runs of the flow run as recorded by the Prefect server, with their run times."""
    try:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
        phases = {
            r.name: round(r.total_run_time.total_seconds(), 3)
            for r in sorted(runs, key=lambda r: r.start_time or r.expected_start_time)
        }
        return {"count": len(runs), "phases": phases}
    except Exception as exc:  # the count from the flow's own names list is still reported
        return {"count": None, "phases": {"error": repr(exc)}}


def child_engine(url: str, n: int, outbox: Path, profile: Path | None) -> dict[str, Any]:
    """``Tick.run`` without Prefect, timing each phase (load + plan + schema check included)."""
    from prefect_journeys.definition.project import Project
    from prefect_journeys.engine.tick import Tick
    from prefect_journeys.store.database import cached_engine
    from prefect_journeys.store.migrate import ensure_schema

    phases: dict[str, float] = {}

    def timed(name: str, fn: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn()
        finally:
            phases[name.split("/", 1)[-1]] = round(time.perf_counter() - t0, 3)

    def tick() -> Any:
        plan = timed("load+plan", lambda: Project.load(PROJECT).plan(JOURNEY))
        engine = cached_engine(url)
        timed("ensure_schema", lambda: ensure_schema(engine))
        return Tick(engine, plan, AS_OF, outbox_path=outbox).run(timed)

    report, wall, cpu = measured(tick, profile)
    rss = peak_rss_mb()
    return {
        "kind": "engine",
        "n": n,
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_mb": rss,
        "phases": phases,
        "sent": report.sent,
        "task_runs": 0,
        "profile": str(profile) if profile else None,
    }


def child_main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", required=True, choices=["build", "framework", "engine"])
    ap.add_argument("--url", required=True)
    ap.add_argument("--warm-url")
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--profile", type=Path)
    args = ap.parse_args(argv)
    outbox = args.out.with_suffix(".jsonl")
    if args.child == "build":
        result = child_build(args.url, args.n)
    elif args.child == "framework":
        result = child_framework(args.url, args.warm_url, args.n, outbox)
    else:
        result = child_engine(args.url, args.n, outbox, args.profile)
    if args.child != "build":
        sys.path.insert(0, str(HERE))
        from floor_tick import verify

        result["verify"] = verify(args.url, args.n, outbox)
        result["loadavg"] = os.getloadavg()
    args.out.write_text(json.dumps(result, default=str))
    if args.child != "build" and not result["verify"]["ok"]:
        print(f"{args.child}: verification failed: {result['verify']['errors']}", file=sys.stderr)
        sys.exit(1)


# ============================================================================ parent


class Stores:
    """A fresh store per run: a copy of the built SQLite file, or a Postgres database cloned from
    a template database (created next to the database of ``--postgres URL`` and dropped after)."""

    def __init__(self, workdir: Path, postgres: str | None) -> None:
        self.workdir = workdir
        self.postgres = postgres
        self.created: list[str] = []

    def _pg_admin(self) -> Any:
        from sqlalchemy import create_engine

        return create_engine(self.postgres, isolation_level="AUTOCOMMIT")

    def _pg_url(self, db: str) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.postgres).set(database=db).render_as_string(hide_password=False)

    def base(self, n: int) -> str:
        if self.postgres is None:
            url = f"sqlite:///{self.workdir / f'base_{n}.db'}"
            self.drop(url)
            return url
        db = f"pj_bench_base_{n}_{os.getpid()}"
        self._pg_exec(f'DROP DATABASE IF EXISTS "{db}"', f'CREATE DATABASE "{db}"')
        self.created.append(db)
        return self._pg_url(db)

    def copy(self, n: int, kind: str) -> str:
        if self.postgres is None:
            target = self.workdir / f"run_{n}_{kind}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(self.workdir / f"base_{n}.db", target)
            return f"sqlite:///{target}"
        db = f"pj_bench_{kind}_{n}_{os.getpid()}"
        base = f"pj_bench_base_{n}_{os.getpid()}"
        self._pg_exec(
            f'DROP DATABASE IF EXISTS "{db}"', f'CREATE DATABASE "{db}" TEMPLATE "{base}"'
        )
        self.created.append(db)
        return self._pg_url(db)

    def empty(self) -> str:
        if self.postgres is None:
            url = f"sqlite:///{self.workdir / 'warmup.db'}"
            self.drop(url)
            return url
        db = f"pj_bench_warmup_{os.getpid()}"
        self._pg_exec(f'DROP DATABASE IF EXISTS "{db}"', f'CREATE DATABASE "{db}"')
        self.created.append(db)
        return self._pg_url(db)

    def drop(self, url: str) -> None:
        if self.postgres is None:
            path = Path(url.removeprefix("sqlite:///"))
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        else:
            db = url.rsplit("/", 1)[-1]
            self._pg_exec(f'DROP DATABASE IF EXISTS "{db}"')
            if db in self.created:
                self.created.remove(db)

    def cleanup(self) -> None:
        if self.postgres is not None:
            for db in list(self.created):
                self._pg_exec(f'DROP DATABASE IF EXISTS "{db}"')

    def _pg_exec(self, *statements: str) -> None:
        from sqlalchemy import text

        engine = self._pg_admin()
        with engine.connect() as conn:
            for sql in statements:
                conn.execute(text(sql))
        engine.dispose()


def run_child(cmd: list[str], out: Path, env: dict[str, str], log: Path, timeout: float) -> dict:
    out.unlink(missing_ok=True)
    with log.open("w") as handle:
        proc = subprocess.run(
            cmd, env=env, stdout=handle, stderr=subprocess.STDOUT, timeout=timeout, cwd=out.parent
        )
    if proc.returncode != 0 or not out.exists():
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-30:])
        result = json.loads(out.read_text()) if out.exists() else {}
        result.update(
            {"failed": True, "returncode": proc.returncode, "log": str(log), "log_tail": tail}
        )
        return result
    return json.loads(out.read_text())


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"nproc": os.cpu_count(), "loadavg_start": os.getloadavg()}
    try:
        import psutil

        info["ram_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    info["python"] = sys.version.split()[0]
    try:
        import platform

        info["cpu"] = platform.processor() or platform.machine()
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return info


def parent_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description="Benchmark one tick (wait → branch → send).")
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated N (default 100k,1M)")
    ap.add_argument("--quick", action="store_true", help="sizes 10,000 and 100,000")
    ap.add_argument("--postgres", metavar="URL", help="run on Postgres (databases are created)")
    ap.add_argument("--no-engine", action="store_true", help="skip the direct Tick.run diagnostic")
    ap.add_argument(
        "--runs", default="floor,framework,engine", help="which runs (default: all three)"
    )
    ap.add_argument("--profile", action="store_true", help="cProfile the engine run (largest N)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--workdir", type=Path, help="keep stores, logs and outboxes here")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    args = ap.parse_args(argv)
    sizes = [10_000, 100_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="pj-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    workdir = workdir.resolve()
    env = dict(os.environ)
    env.update(
        {
            "PREFECT_HOME": str(workdir / "prefect-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", None)  # the child sets it to None
    stores = Stores(workdir, args.postgres)
    info = machine()
    info["backend"] = "postgresql" if args.postgres else "sqlite"
    info["workdir"] = str(workdir)
    say = (
        (lambda *a: print(*a, file=sys.stderr, flush=True))
        if args.json
        else (lambda *a: print(*a, flush=True))
    )
    say(
        f"machine: {info['nproc']} cpu ({info.get('cpu')}), {info.get('ram_gb')} GB RAM, "
        f"load {fmt_load(info['loadavg_start'])}; backend {info['backend']}; workdir {workdir}"
    )
    results: dict[int, dict[str, Any]] = {}
    wanted = set(args.runs.split(",")) - ({"engine"} if args.no_engine else set())
    kinds = [k for k in ("floor", "framework", "engine") if k in wanted]
    me = [sys.executable, str(Path(__file__).resolve())]
    try:
        for n in sizes:
            results[n] = {}
            base = stores.base(n)
            build_cmd = [*me, "--child", "build", "--url", base, "--n", str(n)]
            build = run_child(
                [*build_cmd, "--out", str(workdir / f"build_{n}.json")],
                workdir / f"build_{n}.json",
                env,
                workdir / f"build_{n}.log",
                args.timeout,
            )
            if build.get("failed"):
                say(f"build of {n:,} failed:\n{build['log_tail']}")
                return 2
            say(f"N={n:,}: built in {build['wall_s']:.1f} s")
            for kind in kinds:
                url = stores.copy(n, kind)
                out = workdir / f"{kind}_{n}.json"
                (workdir / f"{kind}_{n}.jsonl").unlink(missing_ok=True)
                if kind == "floor":
                    cmd = [
                        sys.executable,
                        str(HERE / "floor_tick.py"),
                        "--url",
                        url,
                        "--n",
                        str(n),
                        "--as-of",
                        AS_OF.isoformat(),
                        "--out",
                        str(out),
                    ]
                else:
                    cmd = [*me, "--child", kind, "--url", url, "--n", str(n), "--out", str(out)]
                    if kind == "framework":
                        warm = stores.empty()
                        cmd += ["--warm-url", warm]
                    if kind == "engine" and args.profile and n == max(sizes):
                        cmd += ["--profile", str(workdir / f"engine_{n}.prof")]
                load = os.getloadavg()
                res = run_child(cmd, out, env, workdir / f"{kind}_{n}.log", args.timeout)
                res["loadavg_before"] = load
                results[n][kind] = res
                if res.get("failed"):
                    say(
                        f"  {kind:9s} FAILED (exit {res.get('returncode')}), log {res['log']}:\n"
                        f"{res['log_tail']}"
                    )
                else:
                    extra = (
                        f", start-up {res['startup_s']:.1f} s, task runs {res['task_runs']}"
                        f" (API {res.get('api_task_runs')}), server RSS "
                        f"{res['server_peak_rss_mb']:.0f} MB"
                        if kind == "framework"
                        else ""
                    )
                    say(
                        f"  {kind:9s} {res['wall_s']:8.2f} s  peak RSS {res['peak_rss_mb']:6.0f} MB"
                        f"  load {fmt_load(load)}{extra}"
                    )
                if args.workdir is None:
                    stores.drop(url)
            if args.workdir is None:
                stores.drop(base)
    finally:
        stores.cleanup()
    info["loadavg_end"] = os.getloadavg()
    summary = summarize(sizes, results)
    if args.json:
        print(
            json.dumps(
                {"machine": info, "sizes": sizes, "runs": results, "summary": summary},
                indent=2,
                default=str,
            )
        )
    else:
        print_table(sizes, results, summary, info)
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if summary["all_pass"] else 1


def fmt_load(load: Any) -> str:
    return "/".join(f"{x:.2f}" for x in load)


def summarize(sizes: list[int], results: dict[int, dict[str, Any]]) -> dict[str, Any]:
    ok = lambda r: r is not None and not r.get("failed") and r.get("verify", {}).get("ok")  # noqa: E731
    targets: dict[str, Any] = {}
    per_size = {}
    for n in sizes:
        fw, fl = results[n].get("framework"), results[n].get("floor")
        ratio = fw["wall_s"] / fl["wall_s"] if ok(fw) and ok(fl) else None
        en = results[n].get("engine")
        cpu_ratio = None
        if ok(fw) and ok(fl) and fw.get("cpu_s") is not None and fl.get("cpu_s"):
            cpu_ratio = (fw["cpu_s"] + (fw.get("server_cpu_s") or 0.0)) / fl["cpu_s"]
        per_size[n] = {
            "ratio": ratio,
            "cpu_ratio": cpu_ratio,
            "engine_ratio": en["wall_s"] / fl["wall_s"] if ok(en) and ok(fl) else None,
            "same_outbox": len(
                {r["verify"]["counts"]["outbox_sha256"] for r in results[n].values() if ok(r)}
            )
            == 1,
        }
    targets["ratio"] = {
        "target": f"framework/floor <= {RATIO_TARGET}",
        "values": {n: per_size[n]["ratio"] for n in sizes},
        "pass": all(
            v["ratio"] is not None and v["ratio"] <= RATIO_TARGET for v in per_size.values()
        ),
    }
    scaling: dict[str, Any] = {}
    if len(sizes) >= 2:
        small, big = min(sizes), max(sizes)
        limit = SCALING_SLACK * big / small
        for kind in ("framework", "floor", "engine"):
            a, b = results[small].get(kind), results[big].get(kind)
            if ok(a) and ok(b):
                scaling[kind] = b["wall_s"] / a["wall_s"]
        targets["scaling"] = {
            "target": f"t({big:,})/t({small:,}) <= {limit:g}",
            "values": scaling,
            "pass": "framework" in scaling and scaling["framework"] <= limit,
        }
    rss = {
        n: results[n]["framework"].get("peak_rss_mb") for n in sizes if results[n].get("framework")
    }
    targets["rss"] = {
        "target": f"framework peak RSS <= {RSS_TARGET_MB} MB",
        "values": rss,
        "pass": all(v is not None and v <= RSS_TARGET_MB for v in rss.values()) and bool(rss),
    }
    runs = {
        n: results[n]["framework"].get("task_runs") for n in sizes if results[n].get("framework")
    }
    targets["task_runs"] = {
        "target": "task runs the same at every size",
        "values": runs,
        "pass": len(set(runs.values())) == 1 and None not in runs.values(),
    }
    # a target whose runs were not asked for (``--runs``) is not applicable, not failed
    have_fw = any(results[n].get("framework") for n in sizes)
    have_both = have_fw and any(results[n].get("floor") for n in sizes)
    for key, needed in (("ratio", have_both), ("rss", have_fw), ("task_runs", have_fw)):
        if not needed:
            targets[key]["pass"] = None
    if "scaling" in targets and not have_fw:
        targets["scaling"]["pass"] = None
    targets["verified"] = {
        "target": "every run verified, same outbox contents",
        "values": {n: per_size[n]["same_outbox"] for n in sizes},
        "pass": all(ok(r) for n in sizes for r in results[n].values())
        and all(v["same_outbox"] for v in per_size.values()),
    }
    return {
        "per_size": per_size,
        "targets": targets,
        "all_pass": all(t["pass"] is not False for t in targets.values()),
    }


def print_table(sizes: list[int], results: dict, summary: dict, info: dict) -> None:
    def g(n: int, kind: str, key: str, fmt: str) -> str:
        r = results[n].get(kind)
        if not r or r.get("failed") or r.get(key) is None:
            return "FAILED" if r and r.get("failed") else "-"
        return format(r[key], fmt)

    print()
    head = (
        f"{'N':>10} | {'framework s':>11} | {'floor s':>8} | {'ratio':>5} | {'engine s':>8} | "
        f"{'fw RSS MB':>9} | {'floor RSS MB':>12} | {'server RSS MB':>13} | {'task runs':>9} | "
        f"{'start-up s':>10}"
    )
    print(head)
    print("-" * len(head))
    for n in sizes:
        ratio = summary["per_size"][n]["ratio"]
        print(
            f"{n:>10,} | {g(n, 'framework', 'wall_s', '11.2f')} | {g(n, 'floor', 'wall_s', '8.2f')}"
            f" | {(format(ratio, '5.2f') if ratio else '-'):>5} | {g(n, 'engine', 'wall_s', '8.2f')}"
            f" | {g(n, 'framework', 'peak_rss_mb', '9.0f')} | {g(n, 'floor', 'peak_rss_mb', '12.0f')}"
            f" | {g(n, 'framework', 'server_peak_rss_mb', '13.0f')}"
            f" | {g(n, 'framework', 'task_runs', '9d')} | {g(n, 'framework', 'startup_s', '10.1f')}"
        )
    print(
        "CPU s (process time; framework + its Prefect server): "
        + "; ".join(
            f"{n:,}: framework {g(n, 'framework', 'cpu_s', '.2f')} + server "
            f"{g(n, 'framework', 'server_cpu_s', '.2f')}, floor {g(n, 'floor', 'cpu_s', '.2f')}, "
            f"engine {g(n, 'engine', 'cpu_s', '.2f')}, ratio "
            + (
                f"{summary['per_size'][n]['cpu_ratio']:.2f}"
                if summary["per_size"][n]["cpu_ratio"]
                else "-"
            )
            for n in sizes
        )
    )
    scaling = summary["targets"].get("scaling")
    if scaling:
        print(
            "scaling "
            + scaling["target"].split(" <=")[0]
            + ": "
            + ", ".join(f"{k} {v:.2f}" for k, v in scaling["values"].items())
        )
    for n in sizes:
        for kind in ("framework", "engine", "floor"):
            r = results[n].get(kind)
            if r and isinstance(r.get("phases"), dict) and r["phases"]:
                print(
                    f"phases {kind} N={n:,}: "
                    + ", ".join(f"{k} {v}" for k, v in r["phases"].items())
                )
    print()
    for t in summary["targets"].values():
        print(
            f"{'n/a ' if t['pass'] is None else 'PASS' if t['pass'] else 'FAIL'}  {t['target']}: "
            + ", ".join(
                f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                for k, v in t["values"].items()
            )
        )
    print(
        f"load average: start {fmt_load(info['loadavg_start'])}, end {fmt_load(info['loadavg_end'])}"
        f" ({info['nproc']} cpu)"
    )


if __name__ == "__main__":
    if "--child" in sys.argv:
        child_main(sys.argv[1:])
    else:
        sys.exit(parent_main(sys.argv[1:]))
