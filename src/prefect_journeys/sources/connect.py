"""Opening a ``sql`` source: its URL from the environment, read-only, errors without secrets.

Read-only is enforced by the database, not by us parsing SQL: Postgres sessions start with
``default_transaction_read_only=on`` (a write fails with "cannot execute ... in a read-only
transaction"); SQLite files are opened with ``mode=ro``. Other databases get a plain engine: give
the source a read-only database user there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url

from prefect_journeys.sources.errors import SourceError

if TYPE_CHECKING:
    from prefect_journeys.sources.model import Source


def source_url(source: Source) -> URL:
    """The source's database URL (from ``url_env`` or ``url``); SQLite paths are made absolute
    against the project root."""
    if source.kind != "sql":
        raise SourceError(f"source {source.id}: a {source.kind} source has no database")
    if source.url_env is not None:
        text = os.environ.get(source.url_env)
        if not text:
            raise SourceError(
                f"source {source.id}: environment variable {source.url_env} is not set"
                " (it should hold the database URL, e.g. postgresql+psycopg://user:pw@host/db)"
            )
        origin = f"${source.url_env}"
    else:
        text = str(source.url)
        origin = "url"
    try:
        url = make_url(text)
    except Exception:
        raise SourceError(f"source {source.id}: {origin} is not a database URL") from None
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = Path(url.database)
        if not path.is_absolute():
            path = source.root / path
        url = url.set(database=str(path))
    return url


def describe(url: URL) -> str:
    """Where a database is, without user or password: ``postgresql 127.0.0.1:5432/shop``."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        return f"sqlite file {url.database}"
    host = url.host or "localhost"
    port = f":{url.port}" if url.port else ""
    return f"{backend} {host}{port}/{url.database or ''}"


def source_engine(source: Source) -> Engine:
    """A read-only engine for a ``sql`` source. Dispose of it when done."""
    url = source_url(source)
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.database in (None, "", ":memory:"):
            raise SourceError(f"source {source.id}: a SQLite source needs a database file")
        path = Path(str(url.database))
        if not path.is_file():
            raise SourceError(f"source {source.id}: no database file {path}")
        return create_engine(
            f"sqlite:///file:{path}?mode=ro&uri=true", connect_args={"timeout": 30}
        )
    if backend == "postgresql":
        return create_engine(
            url,
            pool_pre_ping=True,
            connect_args={"options": "-c default_transaction_read_only=on"},
        )
    return create_engine(url, pool_pre_ping=True)


def connection_error(source: Source, url: URL, exc: BaseException) -> SourceError:
    """A database error as one line naming the source and the host, never the password."""
    detail = " ".join(str(getattr(exc, "orig", None) or exc).split())
    if url.password:
        detail = detail.replace(str(url.password), "***")
    if len(detail) > 300:
        detail = detail[:297] + "..."
    return SourceError(f"source {source.id}: cannot read {describe(url)}: {detail}")


__all__ = ["connection_error", "describe", "source_engine", "source_url"]
