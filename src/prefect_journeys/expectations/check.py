"""``journeys check-data``: validate what is already in the store, on demand.

The store's customers go through the ``customers`` suite and its customer events (events with no
journey: ``signed_up``, ``purchase``, … — not the engine's ``journey.*``/``message.*`` events)
through the ``events`` suite, in chunks read by key (``id`` / ``seq``), so memory stays flat
whatever the store's size. Per suite one ``validations`` row (target ``store:customers`` /
``store:events``, totals over all chunks) and one ``quarantine`` row of kind ``check`` per failing
row (its customer id, ``row_ref`` ``customers:<id>`` / ``events:<seq>`` and the failed
expectations; no values). Nothing else is written and nothing is deleted: the rows stay where they
are for the user to fix at the source.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Float, cast, select, update

from prefect_journeys.expectations.parameters import FUTURE_TOLERANCE
from prefect_journeys.expectations.records import VALIDATIONS, quarantine, record_validation
from prefect_journeys.expectations.runner import ExpectationResult, ValidationOutcome, validate
from prefect_journeys.store.database import utcnow
from prefect_journeys.store.models import Customer, Event

CUSTOMERS = Customer.__table__  # type: ignore[attr-defined]
EVENTS = Event.__table__  # type: ignore[attr-defined]
CHUNK = 200_000
EXAMPLES = 5  # customer ids shown per failed expectation


@dataclass
class CheckResult:
    """One suite's verdict over the store: counts, failed expectations, example customer ids."""

    suite: str
    target: str
    threshold: float
    validation_id: int = 0
    rows: int = 0
    failed_rows: int = 0
    counted_rows: int = 0
    seconds: float = 0.0
    failed: Counter[str] = field(default_factory=Counter)  # label → failing rows
    uncounted: set[str] = field(default_factory=set)  # labels not counted toward the threshold
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    @property
    def fraction(self) -> float:
        return self.counted_rows / self.rows if self.rows else 0.0

    @property
    def passed(self) -> bool:
        return self.fraction <= self.threshold


def check_store(
    engine: Engine,
    *,
    project_root: Path | None = None,
    threshold: float = 0.05,
    chunk: int = CHUNK,
    now: datetime | None = None,
) -> list[CheckResult]:
    """Validate the store's customers and customer events (see the module docstring)."""
    at = now or utcnow()
    params = {"latest_event_time": at + FUTURE_TOLERANCE}
    plans: list[tuple[str, str, Callable[[int], Iterator[tuple[Any, list[str], list[str]]]]]] = [
        ("customers", "store:customers", lambda size: _customer_chunks(engine, size)),
        ("events", "store:events", lambda size: _event_chunks(engine, size)),
    ]
    results = []
    for suite, target, chunks in plans:
        result = CheckResult(suite, target, threshold)
        with engine.begin() as conn:
            result.validation_id = record_validation(
                conn,
                ValidationOutcome(suite, 0),
                target=target,
                batch=f"check-data {at.isoformat()}",
                threshold=threshold,
            )
        outcome_results: dict[str, ExpectationResult] = {}
        for frame, customer_ids, refs in chunks(chunk):
            outcome = validate(suite, frame, project_root=project_root, parameters=params)
            _add(result, outcome, customer_ids)
            outcome_results.update({r.label: r for r in outcome.results})
            rows = [
                {
                    "kind": "check",
                    "target": target,
                    "validation_id": result.validation_id,
                    "customer_id": customer_ids[p],
                    "row_ref": refs[p],
                    "reasons": labels,
                }
                for p, labels in sorted(outcome.failures.items())
            ]
            if rows:
                with engine.begin() as conn:
                    quarantine(conn, rows)
        with engine.begin() as conn:
            conn.execute(
                update(VALIDATIONS)
                .where(VALIDATIONS.c.id == result.validation_id)
                .values(
                    rows=result.rows,
                    failed_rows=result.failed_rows,
                    passed=result.passed,
                    results=[
                        {**r.as_dict(), "unexpected_count": result.failed[label]}
                        | {"success": result.failed[label] == 0}
                        for label, r in outcome_results.items()
                    ],
                )
            )
        results.append(result)
    return results


def _add(result: CheckResult, outcome: ValidationOutcome, customer_ids: list[str]) -> None:
    result.rows += outcome.rows
    result.failed_rows += outcome.failed_rows
    result.counted_rows += len(outcome.counted)
    result.seconds += outcome.seconds
    for r in outcome.results:
        if not r.counts_toward_threshold:
            result.uncounted.add(r.label)
    for position, labels in sorted(outcome.failures.items()):
        for label in labels:
            result.failed[label] += 1
            examples = result.examples[label]
            customer = customer_ids[position]
            if len(examples) < EXAMPLES and customer and customer not in examples:
                examples.append(customer)


def _customer_chunks(engine: Engine, size: int) -> Iterator[tuple[Any, list[str], list[str]]]:
    """(frame, customer ids, row refs) per chunk of customers, by id."""
    import pandas as pd

    columns = ["id", "email", "phone", "timezone", "locale"]
    consents = ["email_consent", "sms_consent", "whatsapp_consent"]
    last: str | None = None
    while True:
        query = select(*[CUSTOMERS.c[c] for c in columns + consents]).order_by(CUSTOMERS.c.id)
        if last is not None:
            query = query.where(CUSTOMERS.c.id > last)
        with engine.connect() as conn:
            batch = conn.execute(query.limit(size)).all()
        if not batch:
            return
        last = batch[-1].id
        frame = pd.DataFrame(
            {
                **{c: pd.array([getattr(r, c) for r in batch], dtype="str") for c in columns},
                **{c: pd.array([getattr(r, c) for r in batch], dtype="boolean") for c in consents},
            }
        )
        ids = [r.id for r in batch]
        yield frame, ids, [f"customers:{i}" for i in ids]


def _event_chunks(engine: Engine, size: int) -> Iterator[tuple[Any, list[str], list[str]]]:
    """(frame, customer ids, row refs) per chunk of customer events, by ``seq``."""
    import pandas as pd

    currency = EVENTS.c.properties["currency"].as_string()
    order_id = EVENTS.c.properties["order_id"].as_string()
    last = 0
    while True:
        query = (
            select(
                EVENTS.c.seq,
                EVENTS.c.customer_id,
                EVENTS.c.name,
                EVENTS.c.occurred_at,
                cast(EVENTS.c.value, Float).label("value"),
                currency.label("currency"),
                order_id.label("order_id"),
            )
            .where(
                EVENTS.c.seq > last,
                EVENTS.c.journey_id.is_(None),
                EVENTS.c.name.not_like("journey.%"),
                EVENTS.c.name.not_like("message.%"),
            )
            .order_by(EVENTS.c.seq)
            .limit(size)
        )
        with engine.connect() as conn:
            batch = conn.execute(query).all()
        if not batch:
            return
        last = batch[-1].seq
        frame = pd.DataFrame(
            {
                "customer_key": pd.array([r.customer_id or None for r in batch], dtype="str"),
                "name": pd.array([r.name for r in batch], dtype="str"),
                "timestamp": pd.to_datetime([r.occurred_at for r in batch]),
                "amount": pd.array([r.value for r in batch], dtype="float64"),
                "currency": pd.array([r.currency for r in batch], dtype="str"),
                "order_id": pd.array([r.order_id for r in batch], dtype="str"),
            }
        )
        yield frame, [r.customer_id for r in batch], [f"events:{r.seq}" for r in batch]


__all__ = ["CheckResult", "check_store"]
