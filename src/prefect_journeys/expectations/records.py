"""Validation results and quarantined rows in the store, and their summary for Prefect artifacts.

``validations``: one row per suite run over one batch (suite, target, batch, rows, failing rows,
threshold, passed, per-expectation results). ``quarantine``: one row per row kept out (a source row
that never reached the store, a customer held back from one send step, a stored row that
``journeys check-data`` found failing). Neither holds addresses from the audience gate or from
check-data: ids, expectation labels and counts only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, insert

from prefect_journeys.expectations.runner import ValidationOutcome
from prefect_journeys.store.database import utcnow
from prefect_journeys.store.models import Quarantine, Validation

VALIDATIONS = Validation.__table__  # type: ignore[attr-defined]
QUARANTINE = Quarantine.__table__  # type: ignore[attr-defined]
QUARANTINE_FIELDS = frozenset(
    {"kind", "target", "step_id", "validation_id", "customer_id", "intent_id", "row_ref"}
    | {"reasons", "row"}
)
KINDS = ("sync", "audience", "check")
CHUNK = 2000


def record_validation(
    conn: Connection,
    outcome: ValidationOutcome,
    *,
    target: str,
    batch: str | None,
    threshold: float,
) -> int:
    """Store one validation run; returns its id.

    ``failed_rows`` counts rows failing any expectation; ``passed`` compares the fraction of rows
    failing a *counted* expectation (``meta.counts_toward_threshold``, default true) with
    ``threshold``.
    """
    values = {
        "suite": outcome.suite,
        "target": target,
        "batch": batch,
        "checked_at": utcnow(),
        "rows": outcome.rows,
        "failed_rows": outcome.failed_rows,
        "threshold": threshold,
        "passed": outcome.passed(threshold),
        "results": [r.as_dict() for r in outcome.results],
    }
    return int(
        conn.execute(insert(VALIDATIONS).values(**values).returning(VALIDATIONS.c.id)).scalar_one()
    )


def quarantine(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert quarantine rows; returns how many.

    Each row needs ``kind`` (sync | audience | check), ``target`` and ``reasons`` (the failed
    expectations' labels); optional: ``step_id``, ``validation_id``, ``customer_id``,
    ``intent_id``, ``row_ref`` (file:line, row key, intent id) and ``row`` (the offending values,
    for sync only: never addresses from the store). ``ValueError`` for unknown fields or kinds.
    """
    now = utcnow()
    prepared: list[dict[str, Any]] = []
    for row in rows:
        unknown = set(row) - QUARANTINE_FIELDS
        if unknown:
            raise ValueError(f"unknown quarantine fields: {', '.join(sorted(unknown))}")
        if row.get("kind") not in KINDS:
            raise ValueError(f"quarantine kind must be one of {', '.join(KINDS)}")
        item = {field: row.get(field) for field in QUARANTINE_FIELDS}
        item["reasons"] = list(row.get("reasons") or [])
        item["row"] = dict(row.get("row") or {})
        item["created_at"] = now
        prepared.append(item)
    for start in range(0, len(prepared), CHUNK):
        conn.execute(insert(QUARANTINE), prepared[start : start + CHUNK])
    return len(prepared)


def quarantine_rows(
    outcome: ValidationOutcome,
    *,
    kind: str,
    target: str,
    refs: Callable[[int], Mapping[str, Any]],
    validation_id: int | None = None,
    step_id: str | None = None,
    counted_only: bool = False,
) -> list[dict[str, Any]]:
    """Quarantine rows for the failing rows of ``outcome``; ``refs(position)`` adds the row's
    ids (``customer_id``, ``intent_id``, ``row_ref``, ``row``). ``counted_only`` leaves out rows
    that fail only uncounted expectations."""
    positions = sorted(outcome.counted if counted_only else outcome.failures)
    return [
        {
            "kind": kind,
            "target": target,
            "step_id": step_id,
            "validation_id": validation_id,
            "reasons": outcome.failures[p],
            **refs(p),
        }
        for p in positions
    ]


def summary(outcome: ValidationOutcome, threshold: float, *, top: int = 3) -> str:
    """One line: ``"62.0% of 500 rows fail audience_email (threshold 5.0%): email: no address
    (expect_column_values_to_not_be_null) ×310; …"`` (labels and counts only)."""
    failed = [r for r in outcome.failed_expectations() if r.counts_toward_threshold][:top]
    parts = "; ".join(f"{r.label} ×{r.unexpected_count}" for r in failed)
    line = (
        f"{outcome.fraction:.1%} of {outcome.rows} rows fail {outcome.suite}"
        f" (threshold {threshold:.1%})"
    )
    return f"{line}: {parts}" if parts else line


def validation_entry(
    outcome: ValidationOutcome,
    *,
    target: str,
    threshold: float,
    validation_id: int | None = None,
    quarantined: int = 0,
    held: bool = False,
) -> dict[str, Any]:
    """A JSON-ready record of one validation for reports and artifacts: counts, no data."""
    return {
        "validation_id": validation_id,
        "suite": outcome.suite,
        "target": target,
        "rows": outcome.rows,
        "failed_rows": outcome.failed_rows,
        "counted_rows": len(outcome.counted),
        "fraction": round(outcome.fraction, 6),
        "threshold": threshold,
        "passed": outcome.passed(threshold),
        "quarantined": quarantined,
        "held": held,
        "seconds": round(outcome.seconds, 3),
        "failed_expectations": [
            {"label": r.label, "count": r.unexpected_count, "counted": r.counts_toward_threshold}
            for r in outcome.failed_expectations()
        ],
    }


def validation_markdown(entries: Sequence[Mapping[str, Any]], *, title: str) -> str:
    """A Markdown table of :func:`validation_entry` records, then the failed expectations."""
    lines = [
        f"# {title}",
        "",
        "| target | suite | rows | failing | fraction | threshold | result |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for e in entries:
        result = "HELD" if e.get("held") else ("passed" if e["passed"] else "failed")
        if e.get("quarantined"):
            result += f", {e['quarantined']} quarantined"
        lines.append(
            f"| {e['target']} | {e['suite']} | {e['rows']} | {e['failed_rows']} |"
            f" {e['fraction']:.1%} | {e['threshold']:.1%} | {result} |"
        )
    failed = [(e["target"], f) for e in entries for f in e["failed_expectations"]]
    if failed:
        lines += ["", "## Failed expectations", ""]
        for target, f in failed:
            note = "" if f["counted"] else " (not counted toward the threshold)"
            lines.append(f"- {target}: {f['label']}: {f['count']} rows{note}")
    if not entries:
        lines += ["", "Nothing was validated."]
    return "\n".join(lines) + "\n"


__all__ = [
    "QUARANTINE",
    "VALIDATIONS",
    "quarantine",
    "quarantine_rows",
    "record_validation",
    "summary",
    "validation_entry",
    "validation_markdown",
]
