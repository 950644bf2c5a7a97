"""Which store the dashboard reads, whether it holds anything, and a read-only engine on it.

The store is ``$JOURNEYS_DATABASE_URL`` (what every ``journeys`` command reads; ``journeys
dashboard --store`` sets it for the Streamlit process), else ``.journeys/journeys.db`` in the
project (``$JOURNEYS_PROJECT``, default the working folder). The dashboard never writes: a
missing SQLite file is reported, not created, and SQLite is opened in read-only mode.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect, select
from sqlalchemy.engine import make_url

from prefect_journeys.store.database import DEFAULT_PATH, DEFAULT_URL_ENV
from prefect_journeys.store.models import Event

PROJECT_ENV = "JOURNEYS_PROJECT"


def project_root() -> Path:
    """The project folder (holding ``journeys/``): ``$JOURNEYS_PROJECT`` or the working folder."""
    from prefect_journeys.definition.project import Project

    return Project.find_root(Path(os.environ.get(PROJECT_ENV) or Path.cwd()))


def as_url(store: str | Path) -> str:
    """A SQLAlchemy URL for ``store``: a URL as given, a file path as an absolute SQLite URL."""
    text = str(store)
    return text if "://" in text else f"sqlite:///{Path(text).expanduser().resolve()}"


def store_url() -> str:
    """The store the dashboard shows (see the module docstring)."""
    return os.environ.get(DEFAULT_URL_ENV) or as_url(project_root() / DEFAULT_PATH)


def display_url(url: str) -> str:
    """``url`` without its password (safe to show on a page)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return str(parsed.database or ":memory:")
    return parsed.render_as_string(hide_password=True)


def sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return Path(str(parsed.database))
    return None


_engines: dict[str, Engine] = {}


def read_engine(url: str) -> Engine:
    """One read-only engine per URL: SQLite opened with ``mode=ro`` (never created, never
    locked for writing), any other database as configured."""
    if url in _engines:
        return _engines[url]
    path = sqlite_file(url)
    if path is not None:
        engine = create_engine(
            f"sqlite:///file:{path.resolve()}?mode=ro&uri=true", connect_args={"timeout": 30}
        )

        @event.listens_for(engine, "connect")
        def _setup(dbapi_connection: object, _record: object) -> None:
            from prefect_journeys.store.database import bucket

            dbapi_connection.create_function(  # type: ignore[attr-defined]
                "pj_bucket", 1, bucket, deterministic=True
            )
            dbapi_connection.execute("PRAGMA busy_timeout=30000")  # type: ignore[attr-defined]

    else:
        engine = create_engine(url, pool_pre_ping=True)
    _engines[url] = engine
    return engine


@dataclass(frozen=True)
class StoreState:
    """``missing`` (no such file / cannot connect), ``empty`` (no events) or ``ready``."""

    url: str
    state: str
    detail: str = ""

    @property
    def ready(self) -> bool:
        return self.state == "ready"


def store_state(url: str) -> StoreState:
    """Whether the store exists and holds events; never raises, never creates anything."""
    path = sqlite_file(url)
    if path is not None and not path.is_file():
        return StoreState(url, "missing", f"no file {path}")
    try:
        engine = read_engine(url)
        with engine.connect() as conn:
            if not inspect(conn).has_table(Event.__tablename__):
                return StoreState(url, "empty", "no events table")
            first = conn.execute(select(Event.__table__.c.seq).limit(1)).first()  # type: ignore[attr-defined]
    except Exception as exc:  # unreachable server, not a database file, ...
        return StoreState(url, "missing", f"{type(exc).__name__}: {exc}")
    return StoreState(url, "ready" if first is not None else "empty")


__all__ = [
    "PROJECT_ENV",
    "StoreState",
    "as_url",
    "display_url",
    "project_root",
    "read_engine",
    "sqlite_file",
    "store_state",
    "store_url",
]
