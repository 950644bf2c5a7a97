"""Alembic environment for the store, shipped inside the package.

Run through :mod:`prefect_journeys.store.migrate`, which hands over an open connection in
``config.attributes["connection"]`` (inside a transaction that already holds the migration lock).
Run through the ``alembic`` command line, it connects to ``sqlalchemy.url`` (or the store's default
URL) itself.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from prefect_journeys.store.database import default_url, make_engine
from prefect_journeys.store.models import metadata

config = context.config
target_metadata = metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place: later migrations use batch mode there.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url") or default_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or None)
    try:
        with engine.connect() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
