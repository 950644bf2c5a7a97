"""The incremental sync of one source into the store (``journeys sync``, the ``sync-source`` flow).

A run reads the source in batches (rows at or above the stored watermark, or everything with
``full``). Each batch is one transaction: its validation record, its quarantine rows and its
writes (customers upserted through identity resolution; events appended, deduplicated by a
deterministic ``source_id``). A batch whose counted failing fraction is above the source's
threshold stores only its validation record and quarantine rows and stops the run (``rejected``);
a source that cannot be read stops it (``failed``) and rolls back the batch in progress. Earlier
batches stay committed, but the watermark moves only when the whole run succeeds, so the next run
reads them again and — writes being idempotent — stores nothing twice.

Nothing personal leaves this module in results or logs: counts, row references (``file:line``,
``key=<id>``) and reasons (expectation labels, unparseable timestamps or amounts).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine

from prefect_journeys.expectations.parameters import FUTURE_TOLERANCE
from prefect_journeys.sources import customers, events, watermark
from prefect_journeys.sources.errors import SourceError, SyncRejected
from prefect_journeys.sources.model import CustomerSource, EventSource, Source
from prefect_journeys.sources.quarantine import quarantine_rows, store_quarantine
from prefect_journeys.sources.readers import RawBatch, Reader, open_reader
from prefect_journeys.sources.runs import finish_run, start_run
from prefect_journeys.store.database import to_utc_naive, utcnow

if TYPE_CHECKING:
    from prefect_journeys.definition.project import Project
    from prefect_journeys.expectations.runner import ValidationOutcome
    from prefect_journeys.sources.prepared import Prepared

Progress = Callable[[int, int | None], None]
MAX_PROBLEMS = 20
MAX_VALIDATIONS = 50  # validation summaries kept in a result (batches with failing rows)
COUNT_NAMES = (
    "read",
    "skipped",
    "collapsed",
    "superseded",
    "checked",
    "rejected",
    "inserted",
    "updated",
    "unchanged",
    "merged",
    "consents",
    "profiles_created",
    "aliases",
    "events_inserted",
    "events_duplicate",
    "batches",
)


@dataclass
class SyncResult:
    """What a sync did. ``counts``: read (rows read), skipped (below the watermark), collapsed
    (identical copies within a batch), superseded (older versions of a customer in the same batch),
    checked (rows given to the suite), rejected (quarantined), inserted/updated/unchanged/merged/
    consents (customers), profiles_created/aliases/events_inserted/events_duplicate (events),
    batches. ``problems``: the first rejected rows as ``<row ref>: <reasons>``."""

    source: str
    status: str  # succeeded | rejected | failed
    counts: dict[str, int]
    watermark_from: str | None = None
    watermark_to: str | None = None
    run_id: int | None = None
    validation_ids: list[int] = field(default_factory=list)
    validations: list[dict[str, Any]] = field(default_factory=list)  # batches with failures
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    validation_seconds: float = 0.0  # wall time spent in Great Expectations
    validation_cpu_seconds: float = 0.0  # its CPU time (unaffected by other processes)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "status": self.status,
            "counts": dict(self.counts),
            "watermark_from": self.watermark_from,
            "watermark_to": self.watermark_to,
            "run_id": self.run_id,
            "validation_ids": list(self.validation_ids),
            "validations": list(self.validations),
            "problems": list(self.problems),
            "seconds": round(self.seconds, 3),
            "validation_seconds": round(self.validation_seconds, 3),
            "validation_cpu_seconds": round(self.validation_cpu_seconds, 3),
            "error": self.error,
        }

    def raise_for_status(self) -> None:
        """:class:`SyncRejected` or :class:`SourceError` with the run's message, unless it succeeded."""
        if self.status == "rejected":
            raise SyncRejected(self.error or f"source {self.source}: rejected")
        if self.status != "succeeded":
            raise SourceError(self.error or f"source {self.source}: failed")


def find_source(project: Project, source_id: str) -> CustomerSource | EventSource:
    """The project's source ``source_id``; :class:`SourceError` naming its problems, or the
    sources there are, when it cannot be used."""
    found = project.sources.get(source_id)
    if isinstance(found, CustomerSource | EventSource):
        return found
    record = project.source_files.get(source_id)
    problems = project.problems_in(record.file) if record is not None else []
    if problems:
        raise SourceError(f"source {source_id}: {problems[0]} (run journeys validate)")
    known = ", ".join(sorted(project.sources)) or "none"
    raise SourceError(f"no source {source_id!r} in {project.root / 'sources'} (sources: {known})")


class _Run:
    """One sync run's state: counts, problems, the watermark seen so far."""

    def __init__(
        self,
        engine: Engine,
        project: Project,
        source: CustomerSource | EventSource,
        now: datetime,
        full: bool,
        progress: Progress | None,
    ) -> None:
        self.engine = engine
        self.project = project
        self.source = source
        self.now = now
        self.full = full
        self.progress = progress
        self.counts: Counter[str] = Counter({name: 0 for name in COUNT_NAMES})
        self.problems: list[str] = []
        self.validation_ids: list[int] = []
        self.validations: list[dict[str, Any]] = []
        self.validation_seconds = 0.0
        self.validation_cpu_seconds = 0.0
        self.mark: watermark.Watermark | None = None
        self.stored: watermark.Watermark | None = None
        self.since: watermark.Watermark | None = None
        self.run_id: int | None = None

    @property
    def target(self) -> str:
        return f"source:{self.source.id}"

    def run(self) -> SyncResult:
        started = time.perf_counter()
        with self.engine.connect() as conn:
            self.stored = watermark.load(conn, self.source.id)
        self.since = None if self.full else self.stored
        since_text = self.since.text() if self.since else None
        self.run_id = start_run(self.engine, self.source.id, since_text, self.now)
        status, error = "succeeded", None
        try:
            reader = open_reader(self.source)
            try:
                self._read(reader)
            finally:
                reader.close()
        except SyncRejected as exc:
            status, error = "rejected", str(exc)
        except SourceError as exc:
            status, error = "failed", str(exc)
        except BaseException as exc:
            self._finish("failed", f"source {self.source.id}: {type(exc).__name__}: {exc}")
            raise
        mark = self._finish(status, error)
        return SyncResult(
            source=self.source.id,
            status=status,
            counts=dict(self.counts),
            watermark_from=since_text,
            watermark_to=mark,
            run_id=self.run_id,
            validation_ids=self.validation_ids,
            validations=self.validations,
            problems=self.problems,
            seconds=time.perf_counter() - started,
            validation_seconds=self.validation_seconds,
            validation_cpu_seconds=self.validation_cpu_seconds,
            error=error,
        )

    def _finish(self, status: str, error: str | None) -> str | None:
        """Settle the run row; on success store the new watermark in the same transaction."""
        assert self.run_id is not None
        new_mark = self.mark or self.stored  # no row at or above it: the stored one stays
        text = new_mark.text() if new_mark is not None and status == "succeeded" else None
        with self.engine.begin() as conn:
            finish_run(
                conn,
                self.run_id,
                status=status,
                finished_at=utcnow(),
                counts=dict(self.counts),
                watermark_to=text,
                error=error,
            )
            if status == "succeeded":
                watermark.save(conn, self.source.id, new_mark, self.now)
        return text

    def _read(self, reader: Reader) -> None:
        since = watermark.param(self.since) if reader.filters_watermark else None
        total = reader.total
        for number, batch in enumerate(reader.batches(since), start=1):
            self._batch(number, batch, reader)
            if self.progress is not None:
                done = self.counts["read"]
                self.progress(done, max(total, done) if total is not None else None)

    def _batch(self, number: int, batch: RawBatch, reader: Reader) -> None:
        source = self.source
        window = watermark.window(
            source, batch.frame, self.stored, self.since, in_database=reader.filters_watermark
        )
        if isinstance(source, CustomerSource):
            prepared = customers.prepare(source, batch, window)
        else:
            prepared = events.prepare(source, batch, window)
        self.counts["read"] += len(batch)
        self.counts["batches"] += 1
        for name in ("skipped", "collapsed", "superseded"):
            self.counts[name] += getattr(prepared, name)
        self.mark = watermark.later(self.mark, window.mark, database_order=reader.filters_watermark)
        if prepared.considered == 0:
            return
        outcome = self._validate(prepared)
        accepted = [p for p in prepared.positions if p not in outcome.counted]
        label = f"run {self.run_id} batch {number}"
        if batch.file is not None:
            label += f" ({batch.file})"
        over = outcome.fraction > source.threshold
        written = Counter[str]()
        with self.engine.begin() as conn:  # one transaction: all of it, or none of it
            validation_id = _record(conn, outcome, self.target, label[:200], source.threshold)
            rows = quarantine_rows(prepared, outcome, self.target, validation_id)
            quarantined = store_quarantine(conn, rows)
            if not over:
                self._write(conn, prepared, accepted, written)
        self.counts.update(written)
        self.counts["checked"] += len(prepared.positions)
        self.counts["rejected"] += len(outcome.counted)
        self.validation_ids.append(validation_id)
        self._note_problems(prepared, outcome)
        if outcome.failures and len(self.validations) < MAX_VALIDATIONS:
            from prefect_journeys.expectations.records import validation_entry

            entry = validation_entry(
                outcome,
                target=self.target,
                threshold=source.threshold,
                validation_id=validation_id,
                quarantined=quarantined,
                held=over,
            )
            self.validations.append({**entry, "batch": label})
        if over:
            raise SyncRejected(_rejection(source, number, outcome, prepared))

    def _validate(self, prepared: Prepared) -> ValidationOutcome:
        """The suite's outcome over the checked rows, merged with the rows refused while
        mapping, in batch positions (``rows`` = rows considered)."""
        from prefect_journeys.expectations.runner import (
            ExpectationResult,
            ValidationOutcome,
            validate,
        )

        outcome = validate(
            self.source.suite_name,
            prepared.frame,
            project_root=self.project.root,
            parameters={"latest_event_time": self.now + FUTURE_TOLERANCE},
        )
        self.validation_seconds += outcome.seconds
        self.validation_cpu_seconds += outcome.cpu_seconds
        failures: dict[int, list[str]] = {p: list(r) for p, r in prepared.refused.reasons.items()}
        counted = set(failures)
        for index, labels in outcome.failures.items():
            position = prepared.positions[index]
            failures.setdefault(position, []).extend(labels)
            if index in outcome.counted:
                counted.add(position)
        results = list(outcome.results)
        if isinstance(self.source, CustomerSource):
            extra = {
                p: r
                for p, r in customers.unnormalised_reasons(prepared).items()
                if p not in counted
            }
            for position, reasons in extra.items():
                failures.setdefault(position, []).extend(reasons)
                counted.add(position)
            by_label = Counter(r for reasons in extra.values() for r in reasons)
            for text, n in by_label.items():
                results.append(
                    ExpectationResult(
                        text + " (normalisation)", "normalize", text.split(":", 1)[0], False, n
                    )
                )
        for (text, mapped), n in prepared.refused.labels.items():
            results.append(
                ExpectationResult(text + " (mapping)", "source_mapping", mapped, False, n)
            )
        return ValidationOutcome(
            suite=outcome.suite,
            rows=prepared.considered,
            failures=failures,
            counted=counted,
            results=results,
            seconds=outcome.seconds,
        )

    def _note_problems(self, prepared: Prepared, outcome: ValidationOutcome) -> None:
        for position in sorted(outcome.counted):
            if len(self.problems) >= MAX_PROBLEMS:
                return
            reasons = "; ".join(outcome.failures.get(position, []))
            self.problems.append(f"{prepared.ref(position)}: {reasons}")

    def _write(
        self, conn: Connection, prepared: Prepared, accepted: list[int], counts: Counter[str]
    ) -> None:
        """Store the accepted rows of a batch; ``counts`` gets what was written (kept only if
        the batch's transaction commits)."""
        if not accepted:
            return
        source = self.source
        if isinstance(source, CustomerSource):
            from prefect_journeys.identity.resolve import upsert_profiles

            rows = customers.profile_rows(prepared, accepted)
            result = upsert_profiles(conn, rows, source=source.id, now=self.now)
            for name in ("inserted", "updated", "unchanged", "merged", "consents"):
                counts[name] += getattr(result, name)
            return
        assert isinstance(source, EventSource)
        self._write_events(conn, source, prepared, accepted, counts)

    def _write_events(
        self,
        conn: Connection,
        source: EventSource,
        prepared: Prepared,
        accepted: list[int],
        counts: Counter[str],
    ) -> None:
        from prefect_journeys.identity.resolve import alias, resolve_keys
        from prefect_journeys.sources.eventstore import append_events

        pairs = events.alias_pairs(prepared, accepted)
        if pairs:
            counts["aliases"] += _aliases(conn, pairs, source.id, self.now, alias, resolve_keys)
        external, anonymous = events.customer_keys(prepared, accepted)
        profile_of = self._resolve(conn, external, "external_id", resolve_keys, counts)
        anonymous_of = self._resolve(conn, anonymous, "anonymous_id", resolve_keys, counts)
        rows = events.event_rows(source, prepared, accepted, profile_of, anonymous_of)
        inserted = append_events(conn, rows, self.now)
        counts["events_inserted"] += inserted
        counts["events_duplicate"] += len(rows) - inserted

    def _resolve(
        self,
        conn: Connection,
        keys: set[str],
        kind: str,
        resolve_keys: Any,
        counts: Counter[str],
    ) -> dict[str, str]:
        """Profile ids for the keys; unknown keys get a bare profile (``profiles_created``)."""
        if not keys:
            return {}
        found: dict[str, str] = resolve_keys(conn, keys, kind=kind)
        missing = keys - set(found)
        if missing:
            created = resolve_keys(
                conn, missing, kind=kind, create=True, source=self.source.id, now=self.now
            )
            counts["profiles_created"] += len(created)
            found.update(created)
        return found


def _aliases(
    conn: Connection,
    pairs: list[tuple[str, str]],
    source_id: str,
    now: datetime,
    alias: Any,
    resolve_keys: Any,
) -> int:
    """Link or merge (earlier id, customer key) pairs not already on one profile."""
    earlier = {a for a, _ in pairs}
    keys = {b for _, b in pairs}
    by_external = resolve_keys(conn, earlier | keys, kind="external_id")
    by_anonymous = resolve_keys(conn, earlier, kind="anonymous_id")
    done = 0
    for previous, key in pairs:
        owner = by_external.get(key)
        if owner is not None and owner in (by_external.get(previous), by_anonymous.get(previous)):
            continue
        alias(conn, previous, key, source=source_id, now=now, evidence={"source": source_id})
        done += 1
    return done


def _record(
    conn: Connection, outcome: ValidationOutcome, target: str, batch: str, threshold: float
) -> int:
    from prefect_journeys.expectations.records import record_validation

    return record_validation(conn, outcome, target=target, batch=batch, threshold=threshold)


def _rejection(source: Source, number: int, outcome: ValidationOutcome, prepared: Prepared) -> str:
    failed = len(outcome.counted)
    top = "; ".join(
        f"{r.label} ({r.unexpected_count})"
        for r in sorted(
            (r for r in outcome.results if not r.success and r.counts_toward_threshold),
            key=lambda r: -r.unexpected_count,
        )[:3]
    )
    first = "; ".join(
        f"{prepared.ref(p)}: {', '.join(outcome.failures.get(p, []))}"
        for p in sorted(outcome.counted)[:3]
    )
    return (
        f"source {source.id}: batch {number} rejected: {failed} of {outcome.rows} rows"
        f" ({outcome.fraction:.1%}) failed their checks, above the source's threshold of"
        f" {source.threshold:.1%}. Top failures: {top}. First rows: {first}. Nothing of this"
        " batch was stored (see the quarantine table) and the watermark did not move."
    )


def sync_source(
    engine: Engine,
    project: Project,
    source_id: str,
    *,
    now: datetime | None = None,
    full: bool = False,
    progress: Progress | None = None,
) -> SyncResult:
    """Sync one source of ``project`` into the store behind ``engine`` (schema already current).

    Returns the run's :class:`SyncResult`: ``succeeded``, ``rejected`` (a batch above the
    threshold) or ``failed`` (the source could not be read: ``error`` says where). Raises
    :class:`SourceError` only when ``source_id`` names no usable source (nothing was run).
    ``now`` is the run's clock (naive UTC; default now); ``full`` ignores the stored watermark;
    ``progress(rows_read, rows_expected_or_None)`` is called after every batch.
    """
    source = find_source(project, source_id)
    moment = to_utc_naive(now) if now is not None else utcnow()
    return _Run(engine, project, source, moment, full, progress).run()


__all__ = ["COUNT_NAMES", "SyncResult", "find_source", "sync_source"]
