"""The audience gate: before dispatch, each send step's due audience is validated with GX.

Run as the tick's ``audience`` phase, between ``settle`` and ``dispatch``. Set-based: one query
reads every planned intent of the journey due by ``as_of`` with its customer; consents and
suppressions are looked up in bulk; each channel's audience is one frame validated once with the
suite ``audience_<channel>`` (project file or packaged default; no suite → no gate). Results are
then judged per send step (journey version, step):

- the step's fraction of customers failing a *counted* expectation is within the journey's
  ``audience_threshold`` (default 5 %): the failing customers' intents become ``quarantined``
  (reason in ``error``), each with a ``quarantine`` row (kind ``audience``) and a
  ``message.quarantined`` event; the rest go to dispatch;
- above the threshold the step is **held**: nothing of it is quarantined or sent in this tick, its
  intents stay ``planned``, the dispatcher skips them, and the tick fails with a message naming
  journey, step, fraction and the top failed expectations. Fixed data passes the next tick.

Who is in a step's audience: intents whose enrollment has not exited, whose customer exists and,
for marketing sends, who consented to the channel and topic. The others are the dispatcher's, as
before (cancelled / suppressed), and would otherwise be judged for addresses never used. An
expectation with ``meta.counts_toward_threshold: false`` (the packaged suites' "not suppressed")
is reported but neither counts nor quarantines: a suppressed address still ends ``suppressed``
through the dispatcher. Every judged step stores a ``validations`` row. Nothing here stores or
reports an address: ids, expectation labels and counts only.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from prefect_journeys.compliance import consent, suppressions
from prefect_journeys.compliance.addresses import (
    hash_normalized,
    kind_of,
    normalize_email,
    normalize_phone,
)
from prefect_journeys.engine.context import TickReport
from prefect_journeys.engine.dispatch import message_event
from prefect_journeys.engine.sqlbits import C, E, I
from prefect_journeys.expectations.records import (
    quarantine,
    record_validation,
    summary,
    validation_entry,
)
from prefect_journeys.expectations.runner import ValidationOutcome, validate
from prefect_journeys.expectations.suites import SuiteError, suite_exists
from prefect_journeys.store.writes import insert_events

SUITE_PREFIX = "audience_"
QUARANTINED = "quarantined"  # terminal intent status
UNKNOWN_COUNTRY = "unknown"  # the frame's country for a number whose region cannot be told
PlanLookup = Callable[[Connection, str, int], Any]
StepKey = tuple[int, str]  # (journey version, step id)

_SET_QUARANTINED = (
    update(I)
    .where(I.c.id == bindparam("iid"), I.c.status == "planned")
    .values(status=QUARANTINED, error=bindparam("error"))
)


class AudienceHeld(Exception):
    """Send steps whose audience failed validation above the threshold: nothing of them was sent.
    The message names journey, step, fraction and the top failed expectations (one line each)."""


@dataclass
class StepAudience:
    """One send step's audience as validated: its intents (row positions in ``frame_rows``)."""

    key: StepKey
    channel: str
    rows: list[Any] = field(default_factory=list)  # intent rows (ids, step, enrollment)
    positions: list[int] = field(default_factory=list)  # rows in the channel frame


@dataclass
class StepVerdict:
    key: StepKey
    channel: str
    outcome: ValidationOutcome
    threshold: float
    rows: list[Any]

    @property
    def held(self) -> bool:
        return not self.outcome.passed(self.threshold)


class AudienceGate:
    """The ``audience`` phase of one tick of one journey (see the module docstring)."""

    def __init__(
        self,
        journey_id: str,
        as_of: datetime,
        report: TickReport,
        plan_of: PlanLookup,
        *,
        threshold: float,
        project_root: Path | None = None,
    ) -> None:
        self.journey_id = journey_id
        self.as_of = as_of
        self.report = report
        self.plan_of = plan_of
        self.threshold = threshold
        self.project_root = project_root

    def run(self, connection: Callable[[], AbstractContextManager[Connection]]) -> set[StepKey]:
        """Read (one transaction), validate (none open), write (one transaction). Returns the
        held steps. A channel whose suite cannot be used (:class:`SuiteError`) has every step
        held with that message: nothing is sent unvalidated."""
        with connection() as conn:
            audiences = self.collect(conn)
        if not audiences:
            return set()
        verdicts, broken = self.judge(audiences)
        held: set[StepKey] = {v.key for v in verdicts if v.held}
        for keys, error in broken:
            held |= keys
            message = (
                f"journey {self.journey_id}: audience gate cannot run, send steps"
                f" {', '.join(sorted(k[1] for k in keys))} held: {error}"
            )
            self.report.held.append(message)
            self.report.problem(message)
        with connection() as conn:
            self.apply(conn, verdicts)
        return held

    # -- read --------------------------------------------------------------------------------
    def collect(self, conn: Connection) -> dict[str, tuple[Any, list[StepAudience]]]:
        """Per gated channel: the audience frame and its steps. A few set-based queries."""
        query = (
            select(
                I.c.id.label("intent_id"),
                I.c.customer_id,
                I.c.version,
                I.c.step_id,
                I.c.channel,
                I.c.stage,
                I.c.variant,
                I.c.enrollment_id,
                C.c.id.label("c_id"),
                C.c.email.label("c_email"),
                C.c.phone.label("c_phone"),
                *[C.c[flag].label(f"c_{flag}") for flag in consent.FLAG.values()],
                E.c.state.label("enrollment_state"),
            )
            .select_from(
                I.outerjoin(C, C.c.id == I.c.customer_id).outerjoin(E, E.c.id == I.c.enrollment_id)
            )
            .where(
                I.c.journey_id == self.journey_id,
                I.c.status == "planned",
                I.c.due_at <= self.as_of,
            )
            .order_by(I.c.id)
        )
        by_channel: dict[str, list[Any]] = defaultdict(list)
        for row in conn.execute(query):
            if row.enrollment_state == "exited" or row.c_id is None:
                continue  # the dispatcher cancels / suppresses these, as before
            by_channel[row.channel].append(row)
        out: dict[str, tuple[Any, list[StepAudience]]] = {}
        for channel, rows in by_channel.items():
            if self._suite(channel) is None:
                continue  # no suite for this channel (webhook by default): no gate
            marketing = self._marketing_steps(conn, rows)
            rows = self._consenting(conn, rows, marketing)
            if rows:
                out[channel] = self._frame(conn, channel, rows, marketing)
        return out

    def _suite(self, channel: str) -> str | None:
        name = f"{SUITE_PREFIX}{channel}"
        return name if suite_exists(name, self.project_root) else None

    def _marketing_steps(self, conn: Connection, rows: list[Any]) -> dict[StepKey, str | None]:
        """Per step of ``rows``: its consent topic for a marketing send, None if transactional."""
        out: dict[StepKey, str | None] = {}
        for key in {(r.version, r.step_id) for r in rows}:
            send = self.plan_of(conn, self.journey_id, key[0]).journey.step(key[1]).send
            out[key] = None if send.transactional else send.topic
        return out

    @staticmethod
    def _consenting(
        conn: Connection, rows: list[Any], topics: dict[StepKey, str | None]
    ) -> list[Any]:
        """Rows of customers who may get this message: a recorded decision for the channel and
        topic, else the customer's consent flag (transactional sends need none)."""
        wanted: dict[tuple[str, str], set[str]] = defaultdict(set)
        for row in rows:
            topic = topics[(row.version, row.step_id)]
            if topic is not None and row.channel in consent.FLAG:
                wanted[(row.channel, topic)].add(row.customer_id)
        recorded = {
            (channel, topic): consent.decisions(conn, ids, channel, topic)
            for (channel, topic), ids in wanted.items()
        }
        kept = []
        for row in rows:
            topic = topics[(row.version, row.step_id)]
            if topic is None or row.channel not in consent.FLAG:
                kept.append(row)
                continue
            decision = recorded[(row.channel, topic)].get(row.customer_id)
            flag = getattr(row, f"c_{consent.FLAG[row.channel]}")
            if decision if decision is not None else bool(flag):
                kept.append(row)
        return kept

    def _frame(
        self,
        conn: Connection,
        channel: str,
        rows: list[Any],
        topics: dict[StepKey, str | None],
    ) -> tuple[Any, list[StepAudience]]:
        """The channel's frame (see the runner's docstring) and each step's rows in it."""
        import pandas as pd

        kind = kind_of(channel)
        values: list[str | None] = []
        hashes: list[str | None] = []
        for row in rows:
            raw = row.c_email if kind == "email" else row.c_phone if kind == "phone" else None
            clean = None
            if raw is not None and kind is not None:
                clean = normalize_email(raw) if kind == "email" else normalize_phone(raw)
            values.append(clean or raw)  # the suite sees the raw text where it is no address
            hashes.append(hash_normalized(kind, clean) if clean and kind else None)
        scopes = suppressions.scopes_of(conn, [h for h in hashes if h])
        suppressed = []
        for row, hashed in zip(rows, hashes, strict=True):
            found = scopes.get(hashed, set()) if hashed else set()
            marketing = topics[(row.version, row.step_id)] is not None
            suppressed.append("all" in found or (marketing and "marketing" in found))
        columns: dict[str, Any] = {
            "intent_id": [r.intent_id for r in rows],
            "customer_id": [r.customer_id for r in rows],
        }
        if kind == "email":
            columns["email"] = pd.array(values, dtype="str")
        elif kind == "phone":
            columns["phone"] = pd.array(values, dtype="str")
            columns["country"] = pd.array([_country(v) for v in values], dtype="str")
        columns["suppressed"] = suppressed
        steps: dict[StepKey, StepAudience] = {}
        for position, row in enumerate(rows):
            key = (row.version, row.step_id)
            step = steps.setdefault(key, StepAudience(key, channel))
            step.rows.append(row)
            step.positions.append(position)
        return pd.DataFrame(columns), list(steps.values())

    # -- validate ----------------------------------------------------------------------------
    def judge(
        self, audiences: dict[str, tuple[Any, list[StepAudience]]]
    ) -> tuple[list[StepVerdict], list[tuple[set[StepKey], SuiteError]]]:
        """Validate each channel's frame once (no database), then judge every step on its own.
        Also returns the steps of channels whose suite could not be used, with the error."""
        verdicts = []
        broken = []
        for channel, (frame, steps) in sorted(audiences.items()):
            try:
                outcome = validate(
                    f"{SUITE_PREFIX}{channel}", frame, project_root=self.project_root
                )
            except SuiteError as exc:
                broken.append(({step.key for step in steps}, exc))
                continue
            for step in steps:
                part = outcome.subset(step.positions)
                verdicts.append(StepVerdict(step.key, channel, part, self.threshold, step.rows))
        return verdicts, broken

    # -- write -------------------------------------------------------------------------------
    def apply(self, conn: Connection, verdicts: list[StepVerdict]) -> int:
        """Store each step's validation; quarantine the failing customers of steps that pass.
        Returns the intents quarantined; held steps are in ``report.held``."""
        total = 0
        for verdict in verdicts:
            step = verdict.key[1]
            target = f"journey:{self.journey_id}/{step}"
            vid = record_validation(
                conn,
                verdict.outcome,
                target=target,
                batch=f"{self.as_of.isoformat()} v{verdict.key[0]}",
                threshold=verdict.threshold,
            )
            done = 0
            if verdict.held:
                message = (
                    f"journey {self.journey_id}, step {step}: audience held, nothing sent: "
                    f"{summary(verdict.outcome, verdict.threshold)}"
                )
                self.report.held.append(message)
                self.report.problem(message)
            else:
                done = self._quarantine(conn, verdict, target, vid)
                total += done
            self.report.validations.append(
                validation_entry(
                    verdict.outcome,
                    target=target,
                    threshold=verdict.threshold,
                    validation_id=vid,
                    quarantined=done,
                    held=verdict.held,
                )
            )
        self.report.quarantined += total
        return total

    def _quarantine(self, conn: Connection, verdict: StepVerdict, target: str, vid: int) -> int:
        outcome = verdict.outcome
        failing = {verdict.rows[p].intent_id: p for p in sorted(outcome.counted)}
        if not failing:
            return 0
        still = select(I.c.id).where(I.c.id.in_(list(failing)), I.c.status == "planned")
        if conn.dialect.name == "postgresql":
            still = still.with_for_update()
        ids = sorted(conn.execute(still).scalars())
        if not ids:
            return 0
        step = verdict.key[1]
        reasons = {iid: outcome.failures[failing[iid]] for iid in ids}
        conn.execute(
            _SET_QUARANTINED,
            [{"iid": iid, "error": "quarantined: " + "; ".join(reasons[iid])} for iid in ids],
        )
        rows = {iid: verdict.rows[failing[iid]] for iid in ids}
        quarantine(
            conn,
            [
                {
                    "kind": "audience",
                    "target": target,
                    "step_id": step,
                    "validation_id": vid,
                    "customer_id": rows[iid].customer_id,
                    "intent_id": iid,
                    "row_ref": f"intent:{iid}",
                    "reasons": reasons[iid],
                }
                for iid in ids
            ],
        )
        insert_events(
            conn,
            [
                message_event(
                    self.journey_id,
                    rows[iid],
                    "message.quarantined",
                    {"reasons": reasons[iid], "validation_id": vid},
                    self.as_of,
                )
                for iid in ids
            ],
            complete=True,
        )
        top = Counter(label for iid in ids for label in reasons[iid]).most_common(2)
        examples = ", ".join(rows[iid].customer_id for iid in ids[:5])
        self.report.problem(
            f"journey {self.journey_id}, step {step}: {len(ids)} of {outcome.rows} customers"
            f" quarantined ({'; '.join(f'{label} ×{n}' for label, n in top)}); customers"
            f" {examples}{' …' if len(ids) > 5 else ''}"
        )
        return len(ids)


@lru_cache(maxsize=100_000)
def _country(number: str | None) -> str | None:
    """ISO 3166 region of a phone number (from its country code where the number's own region
    is unknown, e.g. numbers reserved for fiction); ``"unknown"`` when none can be told, None
    when there is no number."""
    if not number:
        return None
    import phonenumbers

    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return UNKNOWN_COUNTRY
    region = phonenumbers.region_code_for_number(parsed)
    if not region and parsed.country_code:
        region = phonenumbers.region_code_for_country_code(parsed.country_code)
    return UNKNOWN_COUNTRY if region in (None, "", phonenumbers.UNKNOWN_REGION) else region


__all__ = ["QUARANTINED", "AudienceGate", "AudienceHeld", "StepVerdict"]
