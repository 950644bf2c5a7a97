"""Quarantine rows for a sync batch: every refused source row, with its reasons and reference.

A row is written once: a re-run that refuses the same source row (same reference, same content,
same reasons) again does not add a second copy — the row is still counted as rejected.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from prefect_journeys.sources.prepared import Prepared, source_row
from prefect_journeys.store.models import Quarantine

if TYPE_CHECKING:
    from prefect_journeys.expectations.runner import ValidationOutcome

quarantine_t = Quarantine.__table__  # type: ignore[attr-defined]
_CHUNK = 500


def quarantine_rows(
    prepared: Prepared,
    outcome: ValidationOutcome,
    target: str,
    validation_id: int | None,
) -> list[dict[str, Any]]:
    """One row per position failing a counted check (kind ``sync``)."""
    rows: list[dict[str, Any]] = []
    for position in sorted(outcome.counted):
        customer = prepared.customers.get(position)
        rows.append(
            {
                "kind": "sync",
                "target": target,
                "step_id": None,
                "validation_id": validation_id,
                "customer_id": customer[:200] if customer else None,
                "intent_id": None,
                "row_ref": prepared.ref(position)[:300],
                "reasons": list(outcome.failures.get(position, [])),
                "row": source_row(prepared.batch.frame, position),
            }
        )
    return rows


def _fingerprint(ref: str | None, reasons: Any, row: Any) -> tuple[str | None, str, str]:
    return ref, json.dumps(reasons, sort_keys=True), json.dumps(row, sort_keys=True)


def store_quarantine(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Write the rows not already quarantined; returns how many were written."""
    if not rows:
        return 0
    target = rows[0]["target"]
    refs = sorted({r["row_ref"] for r in rows})
    seen: set[tuple[str | None, str, str]] = set()
    for start in range(0, len(refs), _CHUNK):
        found = conn.execute(
            select(quarantine_t.c.row_ref, quarantine_t.c.reasons, quarantine_t.c.row).where(
                quarantine_t.c.target == target,
                quarantine_t.c.kind == "sync",
                quarantine_t.c.row_ref.in_(refs[start : start + _CHUNK]),
            )
        )
        seen.update(_fingerprint(r.row_ref, r.reasons, r.row) for r in found)
    fresh = [r for r in rows if _fingerprint(r["row_ref"], r["reasons"], r["row"]) not in seen]
    if not fresh:
        return 0
    from prefect_journeys.expectations.records import quarantine

    return quarantine(conn, fresh)


__all__ = ["quarantine_rows", "store_quarantine"]
