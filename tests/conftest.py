"""Shared fixtures: a fresh SQLite file store and a fresh Postgres database (real server on loopback).

Postgres: the server at 127.0.0.1:5432 (``$JOURNEYS_TEST_PG``), started if stopped. In CI (``CI`` set)
a missing server is an error; elsewhere the Postgres variants skip with the reason.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from prefect_journeys.emulators import Emulators
from prefect_journeys.store import make_engine, metadata

PG_ADMIN_URL = os.environ.get(
    "JOURNEYS_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _pg_admin() -> Engine | str:
    """An admin engine, or the reason there is none."""
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    for attempt in range(2):
        try:
            with engine.connect() as conn:
                conn.execute(text("select 1"))
            return engine
        except Exception as exc:  # server down: try to start the local cluster once
            if attempt == 0 and Path("/etc/postgresql").exists():
                versions = os.listdir("/etc/postgresql")
                if versions:
                    subprocess.run(
                        [
                            "pg_ctlcluster",
                            "--skip-systemctl-redirect",
                            versions[0],
                            "main",
                            "start",
                        ],
                        check=False,
                        capture_output=True,
                    )
                    continue
            return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}"
    return "PostgreSQL not reachable"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    admin = _pg_admin()
    if isinstance(admin, str):
        if os.environ.get("CI"):
            pytest.fail(admin)
        pytest.skip(admin)
    name = f"pj_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _fresh(engine: Engine) -> Engine:
    metadata.drop_all(engine)
    metadata.create_all(engine)
    return engine


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = _fresh(make_engine(f"sqlite:///{tmp_path / 'store.db'}"))
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = _fresh(make_engine(pg_url))
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """The same test on both backends."""
    name = "sqlite_engine" if request.param == "sqlite" else "pg_engine"
    return request.getfixturevalue(name)


# ----------------------------------------------------------------------------- providers
FROM_NUMBER = "+15005550006"  # Twilio's magic valid-sender test number


@pytest.fixture(scope="session")
def emulators() -> Iterator[Emulators]:
    with Emulators(port=0) as emu:
        yield emu


@pytest.fixture
def emu(emulators: Emulators, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulators]:
    """A clean emulator, and the environment the ``sendgrid``/``twilio`` senders read."""
    emulators.control.reset()
    env = {
        "SENDGRID_API_KEY": emulators.sendgrid_api_key,
        "SENDGRID_HOST": emulators.url,
        "SENDGRID_FROM_EMAIL": "news@shop.example",
        "TWILIO_ACCOUNT_SID": emulators.twilio_account_sid,
        "TWILIO_AUTH_TOKEN": emulators.twilio_auth_token,
        "TWILIO_BASE_URL": emulators.url,
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "TWILIO_WHATSAPP_FROM": FROM_NUMBER,
        "TWILIO_MESSAGES_PER_SECOND": "500",
        "JOURNEYS_SIGNING_KEY": "test-signing-key",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("SENDGRID_SANDBOX", "TWILIO_MESSAGING_SERVICE_SID", "TWILIO_STATUS_CALLBACK_URL"):
        monkeypatch.delenv(name, raising=False)
    yield emulators
    emulators.control.clear_faults()


# ----------------------------------------------------------------------------- prefect


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        prefect_test_harness(server_startup_timeout=180),
        temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield
