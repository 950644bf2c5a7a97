"""Benchmark: dispatch 100,000 email and 20,000 SMS intents to the SendGrid and Twilio emulators.

The store is built first (not timed): N_email customers with an email address, the first N_sms of
them with a phone number, one enrollment each due at the ``mail`` step of
``benchmarks/project_dispatch/journeys/dispatch_bench.yaml``, and the tick's phases before
dispatch, which plan one email intent per customer (a SendGrid dynamic template) and one SMS intent
per phone holder. Then two runs, each in a fresh interpreter (its own peak RSS) against a fresh
emulator process (``python -m prefect_journeys.emulators``) and a fresh copy of the store:

- **framework**: ``run_tick`` with the journey's senders opened from environment credentials
  (``channels: {email: sendgrid, sms: twilio}``), i.e. claim → re-check → render → mark sending →
  SendGrid / Twilio connectors → record outcomes and events, in batches of 1,000;
- **bare**: a script using the same SDKs and nothing of prefect-journeys' engine or connectors: it
  reads the planned intents with their customers in one query, renders the same Liquid templates
  and posts the same payloads (1,000 personalizations per SendGrid request, one
  Twilio request per SMS) with the connectors' concurrency (4 requests in flight).

Every run is verified after the timer stops: the emulator holds exactly one SendGrid recipient per
email intent and one Twilio message per SMS intent (intent ids from ``custom_args`` and from the
status callback URL), each to the intent's address, and a digest of every payload must be the
same for both runs. The framework run also must leave every intent ``sent`` with the provider's id
(checked against the emulator's ids) and one ``message.sent`` event each. Targets (from the
issue): framework/bare ≤ 1.3; SendGrid requests ≈ emails / 1,000.

    .venv/bin/python benchmarks/dispatch.py              # 100,000 email + 20,000 SMS, SQLite
    .venv/bin/python benchmarks/dispatch.py --quick      # 10,000 + 2,000
    .venv/bin/python benchmarks/dispatch.py --postgres postgresql+psycopg://postgres@127.0.0.1/postgres
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from tick import Stores, fmt_load, machine, measured, run_child  # noqa: E402

PROJECT = HERE / "project_dispatch"
JOURNEY = "dispatch_bench"
AS_OF = datetime(2026, 1, 10, 12, 0, 0)
SIGNING_KEY = b"dispatch-benchmark-signing-key"  # unsubscribe tokens: the same in both runs
FROM_EMAIL = "news@shop.example"
FROM_NAME = "Shop"
FROM_NUMBER = "+15005550006"
STATUS_CALLBACK = "https://hooks.shop.example/twilio/status"
CONCURRENCY = 4  # SendGridChannel.concurrency and TwilioCredentials.concurrency defaults
PERSONALIZATIONS = 1000  # SendGrid's limit per request, and the connector's chunk size
TWILIO_RATE = 100_000.0  # messages per second: high enough that the token bucket never waits
# status callbacks are queued by the emulator but fall due long after the run (and are dropped
# with the emulator): the requests carry the callback URL, the emulator spends nothing on it
CALLBACK_DELAY = 86_000
RATIO_TARGET = 1.3
KINDS = ("bare", "framework")

T = TypeVar("T")


def own_peak_rss_mb() -> float:
    """This process's peak RSS (``VmHWM``). Not ``ru_maxrss``: Linux carries the peak of the
    process that spawned this one over the ``exec`` (Python's subprocess uses vfork), so a child
    of the parent, which grows while it verifies a run, would report the parent's peak."""
    import resource

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ============================================================================ children


def child_build(url: str, n_email: int, n_sms: int) -> dict[str, Any]:
    """Schema, customers, enrollments due at ``mail``, and the tick's phases before dispatch."""
    import phonenumbers
    from sqlalchemy import func, select, text

    from prefect_journeys.definition.project import Project
    from prefect_journeys.engine import versions
    from prefect_journeys.engine.sqlbits import C, I
    from prefect_journeys.engine.tick import Tick
    from prefect_journeys.store.database import make_engine
    from prefect_journeys.store.migrate import ensure_schema

    start = time.perf_counter()
    engine = make_engine(url)
    ensure_schema(engine)
    plan = Project.load(PROJECT).plan(JOURNEY)
    pg = engine.dialect.name == "postgresql"
    entered = AS_OF - timedelta(hours=1)

    def t(value: datetime) -> Any:
        return value if pg else value.strftime("%Y-%m-%d %H:%M:%S.%f")

    if pg:
        prefix, seq = "", "SELECT i FROM generate_series(1, :n) AS i"
        cid = "'c' || lpad(i::text, 8, '0')"
        email = cid + " || '@example.com'"
        # +1 201 555 0000 … +1 202 555 9999 …: 10,000 numbers per area code
        phone = "'+1' || (201 + (i - 1) / 10000)::text || '555' || lpad(((i - 1) % 10000)::text, 4, '0')"
        attrs, yes, no = "jsonb_build_object()", "true", "false"
    else:
        prefix = "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < :n) "
        seq = "SELECT i FROM seq"
        cid, email = "printf('c%08d', i)", "printf('c%08d@example.com', i)"
        phone = "printf('+1%03d555%04d', 201 + (i - 1) / 10000, (i - 1) % 10000)"
        attrs, yes, no = "json_object()", "1", "0"
    with engine.begin() as conn:
        version = versions.register(conn, plan, entered)
        versions.ensure_state(conn, JOURNEY, entered)
        conn.execute(
            text(
                f"{prefix}INSERT INTO customers (id, email, phone, first_name, timezone, locale,"
                " email_consent, sms_consent, whatsapp_consent, attributes, created_at, updated_at)"
                f" SELECT {cid}, {email}, CASE WHEN i <= :m THEN {phone} END,"
                " CASE WHEN i % 7 = 0 THEN NULL ELSE 'Name' || i END, 'UTC', 'en-US',"
                f" {yes}, {yes}, {no}, {attrs}, :entered, :entered FROM ({seq}) AS s"
            ),
            {"n": n_email, "m": n_sms, "entered": t(entered)},
        )
        conn.execute(
            text(
                "INSERT INTO enrollments (journey_id, version, customer_id, entry_seq, triggered_at,"
                " entered_at, state, step_id, step_entered_at, due_at, updated_at)"
                " SELECT :j, :v, id, 1, :entered, :entered, 'active', 'mail', :entered, :entered,"
                " :entered FROM customers"
            ),
            {"j": JOURNEY, "v": version, "entered": t(entered)},
        )
        phones = list(conn.execute(select(C.c.phone).where(C.c.phone.is_not(None))).scalars())
    bad = [p for p in phones if not phonenumbers.is_possible_number(phonenumbers.parse(p))]
    if bad or len(set(phones)) != n_sms:
        raise SystemExit(f"phone numbers: {len(set(phones))} distinct, {len(bad)} impossible")
    # the tick's phases up to (excluding) dispatch: they plan the intents
    tick = Tick(engine, plan, AS_OF, signing_key=SIGNING_KEY)
    tick.prepare()
    tick.rules()
    tick.enroll()
    for step_id in tick.steps_in_order():
        tick.step(step_id)
    tick.settle()
    with engine.begin() as conn:
        planned: dict[str, int] = {
            str(channel): int(count)
            for channel, count in conn.execute(
                select(I.c.channel, func.count())
                .where(I.c.journey_id == JOURNEY, I.c.status == "planned")
                .group_by(I.c.channel)
            )
        }
        if pg:
            conn.execute(text("ANALYZE"))
    engine.dispose()
    if planned != {"email": n_email, "sms": n_sms}:
        raise SystemExit(f"planned intents {planned}, expected {n_email} email and {n_sms} sms")
    if not pg:  # fold the WAL into the file so that a plain copy is the whole store
        import sqlite3

        raw = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.close()
    return {"kind": "build", "wall_s": time.perf_counter() - start, "planned": planned}


def child_framework(url: str, emulator: str, profile: Path | None) -> dict[str, Any]:
    """``run_tick`` with nothing due but the planned intents: their dispatch, timed per phase."""
    from sqlalchemy import func, select

    # loaded before the timer, as in a running worker (the bare run imports its SDKs first too)
    import prefect_journeys.blocks
    import prefect_journeys.connectors.sendgrid
    import prefect_journeys.connectors.twilio  # noqa: F401
    from prefect_journeys.definition.project import Project
    from prefect_journeys.emulators.control import EmulatorControl
    from prefect_journeys.engine.sqlbits import EV, I
    from prefect_journeys.engine.tick import run_tick
    from prefect_journeys.store.database import cached_engine

    plan = Project.load(PROJECT).plan(JOURNEY)
    engine = cached_engine(url)
    control = EmulatorControl(emulator)
    seen_before = control.requests_seen()
    phases: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], T]) -> T:
        t0 = time.perf_counter()
        try:
            return fn()
        finally:
            phases[name.split("/", 1)[-1]] = round(time.perf_counter() - t0, 3)

    def tick() -> Any:
        return run_tick(engine, plan, AS_OF, signing_key=SIGNING_KEY, runner=timed)

    report, wall, cpu = measured(tick, profile)
    rss = own_peak_rss_mb()
    seen = _delta(seen_before, control.requests_seen())
    errors: list[str] = []
    with engine.connect() as conn:
        by_status = {
            f"{channel}:{status}": (count, with_id)
            for channel, status, count, with_id in conn.execute(
                select(I.c.channel, I.c.status, func.count(), func.count(I.c.provider_id))
                .where(I.c.journey_id == JOURNEY)
                .group_by(I.c.channel, I.c.status)
            )
        }
        sent_events = conn.execute(
            select(func.count()).where(EV.c.journey_id == JOURNEY, EV.c.name == "message.sent")
        ).scalar_one()
    statuses = {k: v[0] for k, v in by_status.items()}
    if set(statuses) != {"email:sent", "sms:sent"}:
        errors.append(f"intent statuses {statuses}: expected every intent sent")
    if any(count != with_id for count, with_id in by_status.values()):
        errors.append(f"sent intents without a provider id: {by_status}")
    counts = {
        "sent": report.sent,
        "failed": report.failed,
        "unknown": report.unknown,
        "retried": report.retried,
        "deferred": report.deferred,
        "suppressed": report.suppressed,
        "blocked": len(getattr(report, "blocked", []) or []),
        "message_sent_events": sent_events,
    }
    if any(
        counts[k] for k in ("failed", "unknown", "retried", "deferred", "suppressed", "blocked")
    ):
        errors.append(f"report {counts}, problems {report.problems[:3]}")
    if sent_events != report.sent:
        errors.append(f"{sent_events} message.sent events for {report.sent} sent")
    return {
        "kind": "framework",
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_mb": rss,
        "messages": report.sent,
        "phases": phases,
        "requests": seen,
        "counts": counts,
        "intents": statuses,
        "errors": errors,
        "profile": str(profile) if profile else None,
    }


def child_bare(url: str, emulator: str, concurrency: int) -> dict[str, Any]:
    """The same payloads posted with the same SDKs, without the framework (see module doc)."""
    import base64
    import hashlib
    import hmac
    from urllib.parse import quote

    import liquid
    import sendgrid  # noqa: F401  (imported before the timer, like the framework's SDKs)
    import twilio.rest  # noqa: F401
    import yaml
    from sqlalchemy import create_engine, text

    from prefect_journeys.emulators.control import EmulatorControl

    # the SDK clients aimed at the emulator (a base URL for SendGrid, a URL-rebasing HTTP client
    # for Twilio): the test rig's adapters, the same ones the framework's credential blocks use
    from prefect_journeys.emulators.sdk import sendgrid_client, twilio_client

    env = os.environ
    control = EmulatorControl(emulator)
    seen_before = control.requests_seen()
    laps: dict[str, float] = {}
    cpu = time.process_time()
    start = time.perf_counter()

    # -- the journey's templates, step data and compliance settings -----------------------------
    journey = yaml.safe_load((PROJECT / "journeys" / f"{JOURNEY}.yaml").read_text())
    liquid_env = liquid.Environment(undefined=liquid.StrictDefaultUndefined)
    unsubscribe_base = journey["settings"]["compliance"]["unsubscribe_url"]
    postal_address = journey["settings"]["compliance"]["postal_address"]
    steps: dict[str, dict[str, Any]] = {}
    for step in journey["steps"]:
        if "send" not in step:
            continue
        spec = yaml.safe_load(
            (PROJECT / "templates" / f"{step['send']['template']}.yaml").read_text()
        )
        steps[step["id"]] = {
            "parts": {
                name: liquid_env.from_string(spec[name])
                for name in ("subject", "preheader", "body")
                if spec.get(name) is not None
            },
            "data": step["send"].get("data", {}),
            "template_id": spec.get("sendgrid_template_id"),
            "categories": [JOURNEY, f"{JOURNEY}:{step['id']}"],
            "context": {
                "journey": {"id": JOURNEY, "name": journey.get("name") or JOURNEY},
                "step": {"id": step["id"], "stage": step.get("stage")},
                "data": step["send"].get("data", {}),
            },
        }

    # -- the work list: planned intents with their customers, one query -------------------------
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT i.id, i.channel, i.step_id, c.email, c.phone, c.first_name"
                " FROM send_intents i JOIN customers c ON c.id = i.customer_id"
                " WHERE i.journey_id = :j AND i.status = 'planned' ORDER BY i.id"
            ),
            {"j": JOURNEY},
        ).all()
    engine.dispose()
    laps["read"] = time.perf_counter() - start

    def render(row: Any) -> dict[str, str]:
        step = steps[row.step_id]
        context = {**step["context"], "customer": {"first_name": row.first_name}}
        return {name: part.render(**context) for name, part in step["parts"].items()}

    def unsubscribe_url(intent_id: int) -> str:
        body = base64.urlsafe_b64encode(intent_id.to_bytes(8, "big")).rstrip(b"=").decode()
        mac = hmac.new(SIGNING_KEY, f"unsubscribe:{body}".encode(), hashlib.sha256).digest()[:16]
        token = f"{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
        return f"{unsubscribe_base}?token={quote(token)}"

    # -- email: 1,000 personalizations per request ---------------------------------------------
    mails = [r for r in rows if r.channel == "email"]
    sg = sendgrid_client(env["SENDGRID_HOST"], env["SENDGRID_API_KEY"], timeout=10.0)
    sender = {"email": env["SENDGRID_FROM_EMAIL"], "name": env["SENDGRID_FROM_NAME"]}
    accepted: Counter[str] = Counter()

    def send_mail(chunk: list[Any]) -> None:
        personalizations = []
        for row in chunk:
            rendered = render(row)
            unsubscribe = unsubscribe_url(row.id)
            personalizations.append(
                {
                    "to": [{"email": row.email}],
                    "custom_args": {"intent_id": str(row.id)},
                    "headers": {
                        "List-Unsubscribe": f"<{unsubscribe}>",
                        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                    },
                    "dynamic_template_data": {
                        "subject": rendered.get("subject"),
                        "preheader": rendered.get("preheader"),
                        "body": rendered.get("body", ""),
                        "first_name": row.first_name,
                        "data": steps[row.step_id]["data"],
                        "unsubscribe_url": unsubscribe,
                        "postal_address": postal_address,
                    },
                }
            )
        step = steps[chunk[0].step_id]
        body = {
            "personalizations": personalizations,
            "from": sender,
            "mail_settings": {"sandbox_mode": {"enable": False}},
            "template_id": step["template_id"],
            "categories": step["categories"],
        }
        response = sg.client.mail.send.post(request_body=body, timeout=10.0)
        if response.status_code != 202 or not response.headers.get("X-Message-Id"):
            raise RuntimeError(f"SendGrid answered {response.status_code}")
        accepted["email"] += len(chunk)

    chunks = (
        mails[i : i + PERSONALIZATIONS] for i in range(0, len(mails), PERSONALIZATIONS)
    )  # every step has its own template: one step per chunk (the journey has one email step)
    _pool(chunks, send_mail, concurrency)
    laps["email"] = time.perf_counter() - start - laps["read"]

    # -- SMS: one request each ------------------------------------------------------------------
    client = twilio_client(
        env["TWILIO_BASE_URL"],
        env["TWILIO_ACCOUNT_SID"],
        env["TWILIO_AUTH_TOKEN"],
        timeout=10.0,
        pool_size=concurrency,
    )
    callback = env["TWILIO_STATUS_CALLBACK_URL"]

    def send_text(row: Any) -> None:
        created = client.messages.create(
            to=row.phone,
            body=render(row)["body"],
            from_=env["TWILIO_FROM_NUMBER"],
            status_callback=f"{callback}?intent_id={row.id}",
        )
        if not created.sid:
            raise RuntimeError("Twilio answered without a sid")
        accepted["sms"] += 1

    _pool(iter([r for r in rows if r.channel == "sms"]), send_text, concurrency)
    wall = time.perf_counter() - start
    laps["sms"] = wall - laps["read"] - laps["email"]
    cpu = time.process_time() - cpu
    rss = own_peak_rss_mb()
    return {
        "kind": "bare",
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_mb": rss,
        "messages": sum(accepted.values()),
        "phases": {k: round(v, 3) for k, v in laps.items()},
        "requests": _delta(seen_before, control.requests_seen()),
        "counts": dict(accepted),
        "errors": [],
    }


def _pool(items: Iterator[T], work: Callable[[T], None], workers: int) -> None:
    """``work`` on every item with ``workers`` threads pulling from one iterator (bounded memory)."""
    lock = threading.Lock()
    failures: list[BaseException] = []

    def loop() -> None:
        while not failures:
            with lock:
                item = next(items, None)
            if item is None:
                return
            try:
                work(item)
            except BaseException as exc:
                failures.append(exc)

    threads = [threading.Thread(target=loop, name=f"bare-{i}") for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def _delta(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]) -> dict[str, Any]:
    return {
        provider: {k: v - before.get(provider, {}).get(k, 0) for k, v in counts.items()}
        for provider, counts in after.items()
    }


def child_main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", required=True, choices=["build", "framework", "bare"])
    ap.add_argument("--url", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--n-email", type=int)
    ap.add_argument("--n-sms", type=int)
    ap.add_argument("--emulator")
    ap.add_argument("--concurrency", type=int, default=CONCURRENCY)
    ap.add_argument("--profile", type=Path)
    args = ap.parse_args(argv)
    if args.child == "build":
        result = child_build(args.url, args.n_email, args.n_sms)
    elif args.child == "framework":
        result = child_framework(args.url, args.emulator, args.profile)
    else:
        result = child_bare(args.url, args.emulator, args.concurrency)
    result["loadavg"] = os.getloadavg()
    args.out.write_text(json.dumps(result, default=str))
    if result.get("errors"):
        print(f"{args.child}: checks failed: {result['errors']}", file=sys.stderr)
        sys.exit(1)


# ============================================================================ parent


class Emulator:
    """``python -m prefect_journeys.emulators`` on a free loopback port, stopped by its pid."""

    def __init__(self, log: Path, env: dict[str, str], latency: float = 0.0) -> None:
        self.log = log
        self.env = env
        self.latency = latency
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def __enter__(self) -> Emulator:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        with self.log.open("wb") as handle:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "prefect_journeys.emulators",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--callback-delay",
                    str(CALLBACK_DELAY),
                ],
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        from prefect_journeys.emulators.control import EmulatorControl

        control = EmulatorControl(self.url, timeout=2.0)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the emulator exited ({self.proc.returncode}); see {self.log}")
            try:
                control.info()
                break
            except ConnectionError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the emulator did not answer; see {self.log}") from None
                time.sleep(0.1)
        if self.latency > 0:  # a provider's round trip: every send request is answered later
            for provider in ("sendgrid", "twilio"):
                control.inject(provider, "delay", delay=self.latency, probability=1.0, seed=0)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()  # SIGTERM to this pid: the emulator command stops cleanly
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(15)

    def usage(self) -> dict[str, float]:
        """CPU seconds and RSS of the emulator process so far."""
        import psutil

        assert self.proc is not None
        process = psutil.Process(self.proc.pid)
        times = process.cpu_times()
        return {"cpu_s": times.user + times.system, "rss_mb": process.memory_info().rss / 2**20}


def expected_sends(url: str) -> dict[int, tuple[str, str]]:
    """intent id → (channel, address) of every planned intent of the built store."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT i.id, i.channel, CASE WHEN i.channel = 'email' THEN c.email ELSE c.phone END"
                " FROM send_intents i JOIN customers c ON c.id = i.customer_id"
                " WHERE i.journey_id = :j AND i.status = 'planned'"
            ),
            {"j": JOURNEY},
        ).all()
    engine.dispose()
    return {int(i): (str(channel), str(address)) for i, channel, address in rows}


def provider_ids(url: str) -> dict[int, str | None]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, provider_id FROM send_intents WHERE journey_id = :j"), {"j": JOURNEY}
        ).all()
    engine.dispose()
    return {int(i): p for i, p in rows}


def verify_emulator(
    emulator: str, expected: dict[int, tuple[str, str]], ids: dict[int, str | None] | None
) -> dict[str, Any]:
    """What the emulator received against the planned intents; digests of the payloads.

    ``ids``: the provider ids the framework recorded per intent (checked against the emulator's).
    """
    from prefect_journeys.emulators.control import EmulatorControl

    control = EmulatorControl(emulator, timeout=600.0)
    errors: list[str] = []
    want_email = {i for i, (channel, _) in expected.items() if channel == "email"}
    want_sms = {i for i, (channel, _) in expected.items() if channel == "sms"}
    stats = control.requests_seen()

    # SendGrid: every personalization of every accepted request
    email_lines: list[tuple[int, str]] = []
    seen: Counter[int] = Counter()
    wrong_to = 0
    sizes: list[int] = []
    for body in control.sendgrid_requests():
        shared = {k: body.get(k) for k in ("from", "mail_settings", "template_id", "categories")}
        sizes.append(len(body["personalizations"]))
        for item in body["personalizations"]:
            intent = int(item["custom_args"]["intent_id"])
            seen[intent] += 1
            if [t["email"] for t in item["to"]] != [expected.get(intent, ("", ""))[1]]:
                wrong_to += 1
            email_lines.append((intent, json.dumps({**shared, **item}, sort_keys=True)))
    _check_ids("SendGrid", seen, want_email, errors)
    if wrong_to:
        errors.append(f"SendGrid: {wrong_to} personalizations to another address than the intent's")
    sg_messages = control.sendgrid_messages()
    if len(sg_messages) != len(want_email):
        errors.append(
            f"SendGrid recorded {len(sg_messages)} recipients, expected {len(want_email)}"
        )
    if ids is not None:
        mismatched = sum(
            1 for m in sg_messages if ids.get(int(m["custom_args"]["intent_id"])) != m["message_id"]
        )
        if mismatched:
            errors.append(f"SendGrid: {mismatched} intents whose provider id is not the message id")
    del sg_messages

    # Twilio: every accepted create request (intent id from the status callback URL)
    sms_lines: list[tuple[int, str]] = []
    seen = Counter()
    wrong_to = 0
    for form in control.twilio_requests():
        callback = str(form.get("StatusCallback") or "")
        intent = int(parse_qs(urlsplit(callback).query).get("intent_id", ["0"])[0])
        seen[intent] += 1
        if form.get("To") != expected.get(intent, ("", ""))[1]:
            wrong_to += 1
        sms_lines.append((intent, json.dumps(form, sort_keys=True)))
    _check_ids("Twilio", seen, want_sms, errors)
    if wrong_to:
        errors.append(f"Twilio: {wrong_to} messages to another number than the intent's")
    tw_messages = control.twilio_messages()
    if len(tw_messages) != len(want_sms):
        errors.append(f"Twilio recorded {len(tw_messages)} messages, expected {len(want_sms)}")
    if ids is not None:
        mismatched = 0
        for message in tw_messages:
            query = urlsplit(message["status_callback"] or "").query
            intent = int(parse_qs(query).get("intent_id", ["0"])[0])
            mismatched += ids.get(intent) != message["sid"]
        if mismatched:
            errors.append(f"Twilio: {mismatched} intents whose provider id is not the message sid")
    for provider in ("sendgrid", "twilio"):
        counts = stats.get(provider, {})
        if counts.get("total") != counts.get("accepted"):
            errors.append(f"{provider}: {counts} (every request should be accepted)")
    return {
        "ok": not errors,
        "errors": errors,
        "sendgrid_recipients": sum(sizes),
        "sendgrid_requests": len(sizes),
        "largest_request": max(sizes, default=0),
        "twilio_messages": len(sms_lines),
        "emulator_stats": stats,
        "email_digest": _digest(email_lines),
        "sms_digest": _digest(sms_lines),
    }


def _check_ids(provider: str, seen: Counter[int], wanted: set[int], errors: list[str]) -> None:
    doubled = sum(1 for count in seen.values() if count > 1)
    missing = len(wanted - set(seen))
    extra = len(set(seen) - wanted)
    if doubled or missing or extra:
        errors.append(f"{provider}: {missing} intents missing, {doubled} doubled, {extra} unknown")


def _digest(lines: list[tuple[int, str]]) -> str:
    digest = hashlib.sha256()
    for intent, line in sorted(lines):
        digest.update(f"{intent}\t{line}\n".encode())
    return digest.hexdigest()[:16]


def parent_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description="Benchmark dispatch to the SendGrid/Twilio emulators.")
    ap.add_argument("--email", type=int, default=100_000, help="email intents (default 100,000)")
    ap.add_argument("--sms", type=int, default=20_000, help="SMS intents (default 20,000)")
    ap.add_argument("--quick", action="store_true", help="10,000 email and 2,000 SMS")
    ap.add_argument("--runs", default="bare,framework", help="which runs, in this order")
    ap.add_argument("--repeat", type=int, default=1, help="repeat the runs (median is compared)")
    ap.add_argument("--concurrency", type=int, default=CONCURRENCY, help="bare: requests in flight")
    ap.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="the emulator answers every send request this much later (default 0: loopback)",
    )
    ap.add_argument("--postgres", metavar="URL", help="run on Postgres (databases are created)")
    ap.add_argument("--profile", action="store_true", help="cProfile the framework run")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--workdir", type=Path, help="keep stores, logs and profiles here")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    args = ap.parse_args(argv)
    n_email, n_sms = (10_000, 2_000) if args.quick else (args.email, args.sms)
    if not 0 < n_sms <= n_email or n_sms > 1_000_000:
        ap.error("need 0 < SMS ≤ email and SMS ≤ 1,000,000")
    kinds = [k for k in args.runs.split(",") if k]
    if set(kinds) - set(KINDS):
        ap.error(f"--runs: choose from {', '.join(KINDS)}")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="pj-dispatch-"))
    workdir.mkdir(parents=True, exist_ok=True)
    workdir = workdir.resolve()
    env = dict(os.environ)
    env.update(
        {
            "PREFECT_HOME": str(workdir / "prefect-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PYTHONUNBUFFERED": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        env.pop(name, None)
    say = (
        (lambda *a: print(*a, file=sys.stderr, flush=True))
        if args.json
        else (lambda *a: print(*a, flush=True))
    )
    info = machine()
    info["backend"] = "postgresql" if args.postgres else "sqlite"
    info["workdir"] = str(workdir)
    info["latency_s"] = args.latency
    say(
        f"machine: {info['nproc']} cpu ({info.get('cpu')}), {info.get('ram_gb')} GB RAM, "
        f"load {fmt_load(info['loadavg_start'])}; backend {info['backend']}; workdir {workdir}"
    )
    stores = Stores(workdir, args.postgres)
    me = [sys.executable, str(Path(__file__).resolve())]
    runs: list[dict[str, Any]] = []
    try:
        base = stores.base(n_email)
        build = run_child(
            [*me, "--child", "build", "--url", base, "--n-email", str(n_email), "--n-sms",
             str(n_sms), "--out", str(workdir / "build.json")],
            workdir / "build.json",
            env,
            workdir / "build.log",
            args.timeout,
        )  # fmt: skip
        if build.get("failed"):
            say(f"build failed:\n{build['log_tail']}")
            return 2
        say(f"built {n_email:,} email + {n_sms:,} SMS intents in {build['wall_s']:.1f} s")
        expected = expected_sends(base)
        for round_no in range(args.repeat):
            for kind in kinds:
                tag = f"{kind}_{round_no}"
                url = stores.copy(n_email, tag)
                out = workdir / f"{tag}.json"
                with Emulator(workdir / f"emulator_{tag}.log", env, args.latency) as emu:
                    child_env = {**env, **credentials(emu.url)}
                    cmd = [*me, "--child", kind, "--url", url, "--emulator", emu.url]
                    cmd += ["--out", str(out), "--concurrency", str(args.concurrency)]
                    if kind == "framework" and args.profile and round_no == 0:
                        cmd += ["--profile", str(workdir / "framework.prof")]
                    load = os.getloadavg()
                    before = emu.usage()
                    res = run_child(cmd, out, child_env, workdir / f"{tag}.log", args.timeout)
                    after = emu.usage()
                    res["emulator_cpu_s"] = after["cpu_s"] - before["cpu_s"]
                    res["emulator_rss_mb"] = after["rss_mb"]
                    res["loadavg_before"] = load
                    res["run"] = kind
                    if not res.get("failed"):
                        ids = provider_ids(url) if kind == "framework" else None
                        res["verify"] = verify_emulator(emu.url, expected, ids)
                runs.append(res)
                if res.get("failed"):
                    say(f"  {kind:9s} FAILED (exit {res.get('returncode')}), log {res['log']}:")
                    say(res["log_tail"])
                else:
                    v = res["verify"]
                    say(
                        f"  {kind:9s} {res['wall_s']:8.2f} s  {res['messages'] / res['wall_s']:7.0f}"
                        f" msg/s  SendGrid {v['sendgrid_requests']} req  Twilio "
                        f"{v['twilio_messages']:,} req  RSS {res['peak_rss_mb']:.0f} MB  "
                        f"emulator CPU {res['emulator_cpu_s']:.1f} s  load {fmt_load(load)}  "
                        + ("verified" if v["ok"] else f"VERIFY FAILED: {v['errors']}")
                    )
                if args.workdir is None:
                    stores.drop(url)
        if args.workdir is None:
            stores.drop(base)
    finally:
        stores.cleanup()
    info["loadavg_end"] = os.getloadavg()
    summary = summarize(runs, n_email, n_sms)
    if args.json:
        doc = {"machine": info, "email": n_email, "sms": n_sms, "runs": runs, "summary": summary}
        print(json.dumps(doc, indent=2, default=str))
    else:
        print_table(runs, summary, info, n_email, n_sms)
    if args.workdir is None:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if summary["all_pass"] else 1


def credentials(url: str) -> dict[str, str]:
    """The environment both runs read: the journeys' ``sendgrid`` and ``twilio`` senders take
    their credentials from it (``SendGridCredentials.from_env``, ``TwilioCredentials.from_env``)."""
    from prefect_journeys.emulators.config import (
        DEFAULT_SENDGRID_API_KEY,
        DEFAULT_TWILIO_ACCOUNT_SID,
        DEFAULT_TWILIO_AUTH_TOKEN,
    )

    return {
        "SENDGRID_API_KEY": DEFAULT_SENDGRID_API_KEY,
        "SENDGRID_FROM_EMAIL": FROM_EMAIL,
        "SENDGRID_FROM_NAME": FROM_NAME,
        "SENDGRID_HOST": url,
        "TWILIO_ACCOUNT_SID": DEFAULT_TWILIO_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": DEFAULT_TWILIO_AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "TWILIO_BASE_URL": url,
        "TWILIO_STATUS_CALLBACK_URL": STATUS_CALLBACK,
        "TWILIO_MESSAGES_PER_SECOND": str(TWILIO_RATE),
    }


def summarize(runs: list[dict[str, Any]], n_email: int, n_sms: int) -> dict[str, Any]:
    def ok(r: dict[str, Any]) -> bool:
        return not r.get("failed") and bool(r.get("verify", {}).get("ok"))

    walls = {k: [r["wall_s"] for r in runs if r["run"] == k and ok(r)] for k in KINDS}
    median = {k: statistics.median(v) if v else None for k, v in walls.items()}
    fw, bare = median["framework"], median["bare"]
    ratio = fw / bare if fw and bare else None
    digests = {(r["verify"]["email_digest"], r["verify"]["sms_digest"]) for r in runs if ok(r)}
    per_request = math.ceil(n_email / PERSONALIZATIONS)
    sg_requests = {r["run"]: r["verify"]["sendgrid_requests"] for r in runs if ok(r)}
    targets = {
        "ratio": {
            "target": f"framework / bare <= {RATIO_TARGET}",
            "value": ratio,
            "pass": None if ratio is None else ratio <= RATIO_TARGET,
        },
        "sendgrid_requests": {
            "target": f"SendGrid requests = ceil(emails / {PERSONALIZATIONS:,}) = {per_request}",
            "value": sg_requests.get("framework"),
            "pass": None
            if "framework" not in sg_requests
            else sg_requests["framework"] <= per_request,
        },
        "verified": {
            "target": "every run verified, the same payloads in every run",
            "value": f"{sum(ok(r) for r in runs)}/{len(runs)} runs, {len(digests)} payload digest",
            "pass": bool(runs) and all(ok(r) for r in runs) and len(digests) == 1,
        },
    }
    messages = n_email + n_sms
    return {
        "median_s": median,
        "ratio": ratio,
        "overhead_us_per_message": (fw - bare) / messages * 1e6 if fw and bare else None,
        "cpu_ratio": _cpu_ratio(runs, ok),
        "targets": targets,
        "all_pass": all(t["pass"] is not False for t in targets.values()),
        "messages": messages,
    }


def _cpu_ratio(runs: list[dict[str, Any]], ok: Callable[[dict[str, Any]], bool]) -> float | None:
    """(client + emulator CPU) of the framework over the bare run's, medians."""
    total = {
        k: [r["cpu_s"] + r["emulator_cpu_s"] for r in runs if r["run"] == k and ok(r)]
        for k in KINDS
    }
    if not total["framework"] or not total["bare"]:
        return None
    return statistics.median(total["framework"]) / statistics.median(total["bare"])


def print_table(
    runs: list[dict[str, Any]], summary: dict[str, Any], info: dict[str, Any], ne: int, ns: int
) -> None:
    print()
    head = (
        f"{'run':<10} | {'messages':>8} | {'seconds':>8} | {'msgs/s':>7} | {'SendGrid req':>12} | "
        f"{'Twilio req':>10} | {'peak RSS MB':>11} | {'CPU s':>6} | {'emulator CPU s':>14}"
    )
    print(head)
    print("-" * len(head))
    for r in runs:
        if r.get("failed"):
            print(f"{r['run']:<10} | FAILED (exit {r.get('returncode')}), log {r.get('log')}")
            continue
        seen = r["verify"]["emulator_stats"]
        print(
            f"{r['run']:<10} | {r['messages']:>8,} | {r['wall_s']:>8.2f} | "
            f"{r['messages'] / r['wall_s']:>7.0f} | {seen['sendgrid']['accepted']:>12,} | "
            f"{seen['twilio']['accepted']:>10,} | {r['peak_rss_mb']:>11.0f} | {r['cpu_s']:>6.1f} | "
            f"{r['emulator_cpu_s']:>14.1f}"
        )
    for r in runs:
        if not r.get("failed") and r.get("phases"):
            print(f"phases {r['run']}: " + ", ".join(f"{k} {v}" for k, v in r["phases"].items()))
    print()
    for t in summary["targets"].values():
        value = t["value"]
        shown = f"{value:.2f}" if isinstance(value, float) else str(value)
        state = "n/a " if t["pass"] is None else "PASS" if t["pass"] else "FAIL"
        print(f"{state}  {t['target']}: {shown}")
    if summary["cpu_ratio"]:
        print(f"CPU (client + emulator) framework / bare: {summary['cpu_ratio']:.2f}")
    if summary["overhead_us_per_message"] is not None:
        print(
            "framework time over the bare run's: "
            f"{summary['overhead_us_per_message']:.0f} µs per message"
        )
    for r in runs:
        if not r.get("failed") and not r["verify"]["ok"]:
            print(f"verification of {r['run']}: {r['verify']['errors']}")
    print(
        f"{ne:,} email + {ns:,} SMS, provider latency {info['latency_s']:g} s; load average: "
        f"start {fmt_load(info['loadavg_start'])}, end {fmt_load(info['loadavg_end'])} ({info['nproc']} cpu)"
    )


if __name__ == "__main__":
    if "--child" in sys.argv:
        child_main(sys.argv[1:])
    else:
        sys.exit(parent_main(sys.argv[1:]))
