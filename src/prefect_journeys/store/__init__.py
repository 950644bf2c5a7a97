"""The store: customers, identities, consents, enrollments, send intents and the event log."""

from prefect_journeys.store.database import make_engine, to_utc_naive, transaction, utcnow
from prefect_journeys.store.models import metadata

__all__ = ["make_engine", "metadata", "to_utc_naive", "transaction", "utcnow"]
