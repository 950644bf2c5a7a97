"""Kill -9 the dispatching process at the dangerous points, recover, reconcile, and count against
what the providers recorded: no message twice, none lost."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import Engine
from tests.channels.test_dispatch_providers import HEADER
from tests.engine.helpers import customers, event, intents, project, when

from prefect_journeys.definition.project import Project
from prefect_journeys.emulators import Emulators
from prefect_journeys.engine.reconcile import reconcile
from prefect_journeys.engine.tick import run_tick

WORKER = Path(__file__).with_name("dispatch_worker.py")
TEMPLATES = {
    "promo": (
        "channel: email\nsubject: 'Hi {{ customer.first_name }}'\nbody: 'Hello'\n"
        "sendgrid_template_id: d-0123456789abcdef0123456789abcdef\n"
    ),
    "text": "channel: sms\nbody: 'Hi {{ customer.first_name }}, 10% off today'\n",
}
JOURNEY = (
    HEADER
    + """  sms_quiet_hours: null
steps:
  - id: mail
    send: {channel: email, template: promo}
    next: sms
  - id: sms
    send: {channel: sms, template: text}
"""
)
KILL_POINTS = ("after_claim", "after_sending_mark", "after_accept")
RUNS = int(os.environ.get("JOURNEYS_KILL_RUNS", "9"))  # a longer soak: JOURNEYS_KILL_RUNS=60
TERMINAL = {"sent", "failed", "suppressed", "abandoned"}


def _worker(root: Path, url: str, kill_at: str, occurrence: int, lease: float) -> int:
    args = [str(root), url, when(2, 12).isoformat(), kill_at, str(occurrence), str(lease)]
    done = subprocess.run(
        [sys.executable, str(WORKER), *args],
        env={**os.environ, "PYTHONPATH": os.getcwd()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(done.stderr[-3000:])
    return done.returncode


def _provider_counts(emu: Emulators) -> Counter[str]:
    """Provider-side acceptances per intent id (SendGrid custom arg, Twilio callback URL)."""
    seen: Counter[str] = Counter()
    for mail in emu.control.sendgrid_messages():
        seen[mail["custom_args"]["intent_id"]] += 1
    for text in emu.control.twilio_messages():
        seen[parse_qs(urlparse(text["status_callback"]).query)["intent_id"][0]] += 1
    return seen


@pytest.mark.parametrize("run", range(RUNS))
def test_kill_9_never_doubles_never_loses(
    run: int, engine: Engine, tmp_path: Path, emu: Emulators, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(run)
    monkeypatch.setenv("TWILIO_STATUS_CALLBACK_URL", "http://127.0.0.1:9/twilio/status")
    emu.control.configure(callback_delay=3600)  # record callbacks, never deliver them here
    root = project(tmp_path, JOURNEY, templates=TEMPLATES).root
    for i in range(10):
        cid = f"c{i:02d}"
        customers(engine, cid, email=f"{cid}@example.com", phone=f"+1415555{i:04d}")
        event(engine, cid, "signed_up", when(2, 12))
    url = engine.url.render_as_string(hide_password=False)
    kill_at = KILL_POINTS[run % len(KILL_POINTS)]
    occurrence = rng.randint(1, 3)
    code = _worker(root, url, kill_at, occurrence, lease=3600)
    assert code == -signal.SIGKILL, (kill_at, occurrence)
    # recover: a new dispatcher (lease 0: the dead one's claims are stale), then reconcile
    plan = Project.load(root).plan("j")
    for _ in range(4):
        run_tick(engine, plan, when(2, 12), lease=timedelta(0), signing_key=b"test-signing-key")
        reconcile(engine, settle=timedelta(0), signing_key=b"test-signing-key")
        if {i["status"] for i in intents(engine)} <= TERMINAL:
            break
    reconcile(engine, abandon_after=timedelta(0), signing_key=b"test-signing-key")
    rows = intents(engine)
    assert len(rows) == 20, (kill_at, occurrence, code)
    statuses = Counter(i["status"] for i in rows)
    assert set(statuses) <= TERMINAL, (kill_at, occurrence, statuses)
    seen = _provider_counts(emu)
    duplicated = {k: v for k, v in seen.items() if v > 1}
    assert duplicated == {}, (kill_at, occurrence)
    sent = {str(i["id"]) for i in rows if i["status"] == "sent"}
    # lost = accepted by a provider but not known to us as sent, or never settled
    assert set(seen) == sent, (kill_at, occurrence, statuses)
    assert statuses["sent"] + statuses["abandoned"] == 20, statuses


def test_two_dispatchers_at_once_call_the_provider_once_per_intent(
    engine: Engine, tmp_path: Path, emu: Emulators, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_STATUS_CALLBACK_URL", "http://127.0.0.1:9/twilio/status")
    emu.control.configure(callback_delay=3600)
    root = project(tmp_path, JOURNEY, templates=TEMPLATES).root
    for i in range(40):
        cid = f"d{i:02d}"
        customers(engine, cid, email=f"{cid}@example.com", phone=f"+1415556{i:04d}")
        event(engine, cid, "signed_up", when(2, 12))
    url = engine.url.render_as_string(hide_password=False)
    args = [str(root), url, when(2, 12).isoformat(), "none", "0", "3600"]
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    procs = [
        subprocess.Popen([sys.executable, str(WORKER), *args], env=env, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for proc in procs:
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr.decode()[-2000:]
    seen = _provider_counts(emu)
    assert len(seen) == 80 and max(seen.values()) == 1
    assert {i["status"] for i in intents(engine)} == {"sent"}
