"""Fixtures for SQL-backed segments: a source database separate from the store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text


@pytest.fixture(scope="module")
def warehouse_url(pg_url: str) -> Iterator[str]:
    """A separate Postgres database on the same server: the source, not the store."""
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    name = f"pj_src_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def warehouse(warehouse_url: str) -> Iterator[Engine]:
    """The source database with a fresh ``orders`` table (customer_ref, total)."""
    engine = create_engine(warehouse_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS orders"))
        conn.execute(text("DROP SEQUENCE IF EXISTS side_effect"))
        conn.execute(text("CREATE TABLE orders (customer_ref text, total numeric)"))
        conn.execute(text("CREATE SEQUENCE side_effect"))
    yield engine
    engine.dispose()
