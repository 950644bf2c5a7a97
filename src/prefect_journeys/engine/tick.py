"""One tick of one journey at time ``as_of``: exits and goals, enroll, advance, the audience
gate, dispatch.

Every phase is set-based SQL over all due enrollments, so the number of phases (and of Prefect
task runs, when a flow runs them) depends on the journey's steps, never on the audience size.
Phases commit one by one; a dry run runs them all in one transaction that is rolled back and calls
no channel. Re-running a tick at the same ``as_of`` changes nothing: every insert is guarded by a
natural key and every move needs a due enrollment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine, insert, or_, select, update

from prefect_journeys.connectors.base import Channel, ChannelConfigError
from prefect_journeys.connectors.outbox import OutboxChannel
from prefect_journeys.definition.model import PHASES_AFTER, PHASES_BEFORE, WaitForStep
from prefect_journeys.engine import versions
from prefect_journeys.engine.context import StepContext, TickReport
from prefect_journeys.engine.dispatch import Dispatcher, SenderOpener
from prefect_journeys.engine.enroll import enroll
from prefect_journeys.engine.goals import apply_exits, apply_goals
from prefect_journeys.engine.segments import segments_to_refresh
from prefect_journeys.engine.sqlbits import STATE, TICKS, E
from prefect_journeys.engine.steps import process_step
from prefect_journeys.expectations.gate import AudienceGate, AudienceHeld
from prefect_journeys.segments.refresh import SegmentSourceError, SourceOpener, refresh_segments
from prefect_journeys.store.database import to_utc_naive, utcnow

if TYPE_CHECKING:
    from prefect_journeys.definition.compiler import Plan

T = TypeVar("T")
Runner = Callable[[str, Callable[[], T]], T]
MAX_SETTLE_PASSES = 50


def _direct(_name: str, fn: Callable[[], T]) -> T:
    return fn()


class Tick:
    """The phases of one tick, callable one by one (the Prefect flow wraps each in a task)."""

    def __init__(
        self,
        engine: Engine,
        plan: Plan,
        as_of: datetime | None = None,
        *,
        dry_run: bool = False,
        channel: Channel | None = None,
        outbox_path: Path | None = None,
        batch_size: int = 1000,
        senders: SenderOpener | None = None,
        signing_key: bytes | None = None,
        lease: timedelta = timedelta(minutes=15),
        sources: SourceOpener | None = None,
        project_root: Path | None = None,
    ) -> None:
        self.engine = engine
        self.plan = plan
        self.as_of = to_utc_naive(as_of) if as_of else utcnow()
        self.now = utcnow()
        self.dry_run = dry_run
        self.channel = channel or OutboxChannel(outbox_path)
        self.batch_size = batch_size
        self.senders = senders
        self.signing_key = signing_key
        self.lease = lease  # a claim older than this belonged to a dispatcher that died
        self.sources = sources  # source id → engine, for segments backed by a SQL query
        self.stopped: SegmentSourceError | None = None  # why the tick stopped early
        self.project_root = project_root  # its expectations/ folder overrides the packaged suites
        self.held: set[tuple[int, str]] = set()  # (version, step) the audience gate held
        self.journey_id = str(plan.journey.id)
        self._dry_conn: Connection | None = None
        self.pending: dict[int, set[str]] | None = None  # steps with due work, per version
        self.version = 0
        self.activated_at = self.as_of
        self.last_fire: datetime | None = None
        self.report = TickReport(self.journey_id, 0, self.as_of, dry_run)

    @contextmanager
    def session(self) -> Iterator[Tick]:
        """Wraps a whole tick: a dry run keeps one transaction open and rolls it back."""
        if not self.dry_run:
            yield self
            return
        with self.engine.connect() as conn:
            transaction = conn.begin()
            self._dry_conn = conn
            try:
                yield self
            finally:
                self._dry_conn = None
                transaction.rollback()

    @contextmanager
    def _conn(self) -> Iterator[Connection]:
        if self._dry_conn is not None:
            yield self._dry_conn
        else:
            with self.engine.begin() as conn:
                yield conn

    def _ctx(self, conn: Connection, version: int) -> StepContext:
        plan = (
            self.plan
            if version == self.version
            else versions.plan_of(conn, self.journey_id, version)
        )
        return StepContext(conn, plan, version, self.as_of, self.now, self.report)

    # -- phases -------------------------------------------------------------------------------
    def segments(self) -> int:
        """Refresh the members of the SQL-backed segments this journey uses from their sources
        (all queries, then one write). A failing source writes nothing and stops the tick:
        :meth:`run` raises its ``SegmentSourceError`` after this phase, outside the runner, so
        a Prefect task never fails with a traceback. Returns the members added plus removed."""
        with self._conn() as conn:
            wanted = segments_to_refresh(conn, self.plan, self.as_of)
        try:
            done = refresh_segments(wanted, self.sources, self._conn, now=self.now)
        except SegmentSourceError as exc:
            self.stopped = exc
            return 0
        for item in done:
            if item.problem:
                self.report.problem(item.problem)
        return sum(item.added + item.removed for item in done)

    def prepare(self) -> int:
        with self._conn() as conn:
            self.version = versions.register(conn, self.plan, self.now)
            self.activated_at, self.last_fire = versions.ensure_state(
                conn, self.journey_id, self.as_of
            )
            self.live = versions.live_versions(conn, self.journey_id, self.as_of)
        self.report.version = self.version
        if self.version not in self.live:
            self.live.append(self.version)
        return self.version

    def rules(self) -> int:
        """Exit conditions and goal conversions, for every live version."""
        moved = 0
        with self._conn() as conn:
            for version in self.live:
                ctx = self._ctx(conn, version)
                moved += apply_exits(ctx) + apply_goals(ctx)
        return moved

    def enroll(self) -> int:
        with self._conn() as conn:
            count = enroll(self._ctx(conn, self.version), self.activated_at, self.last_fire)
        self.pending = None  # newcomers and rule exits change what is due
        return count

    def _find_work(self, conn: Connection) -> None:
        """Which steps have due enrollments (or wait for events), per live version: one query."""
        self.pending = {version: set() for version in self.live}
        waiting_for = {
            step.id
            for version in self.live
            for step in self._ctx(conn, version).journey.steps
            if isinstance(step, WaitForStep)
        }
        query = (
            select(E.c.version, E.c.step_id)
            .where(
                E.c.journey_id == self.journey_id,
                E.c.state == "active",
                or_(E.c.due_at <= self.as_of, E.c.step_id.in_(waiting_for)),
            )
            .group_by(E.c.version, E.c.step_id)
        )
        for version, step_id in conn.execute(query):
            self.pending.setdefault(int(version), set()).add(step_id)

    def step(self, step_id: str) -> int:
        """Process one step id in every live version that has due work there.

        Steps without due enrollments are skipped without a statement; a step that receives
        arrivals during the pass becomes pending, so the ordered pass carries customers along.
        """
        moved = 0
        if self.pending is not None and not any(step_id in t for t in self.pending.values()):
            return 0  # nothing due here: no transaction at all
        with self._conn() as conn:
            if self.pending is None:
                self._find_work(conn)
            assert self.pending is not None
            for version in self.live:
                todo = self.pending.setdefault(version, set())
                if step_id not in todo:
                    continue
                todo.discard(step_id)
                ctx = self._ctx(conn, version)
                before = dict(self.report.moved)
                moved += process_step(ctx, step_id)
                todo.update(t for t, n in self.report.moved.items() if n != before.get(t, 0))
        return moved

    def steps_in_order(self) -> list[str]:
        ordered = list(self.plan.order)
        with self._conn() as conn:
            for version in self.live:
                for step_id in self._ctx(conn, version).plan.order:
                    if step_id not in ordered:
                        ordered.append(step_id)
        return ordered

    def settle(self) -> int:
        """Further passes until nothing moves (rare: the ordered first pass moves almost all)."""
        total = 0
        for _ in range(MAX_SETTLE_PASSES):
            self.pending = None  # look again: what is due now
            moved = sum(self.step(step_id) for step_id in self.steps_in_order())
            total += moved
            if not moved:
                return total
        raise RuntimeError(f"journey {self.journey_id}: enrollments still moving after settling")

    def audience(self) -> int:
        """The audience gate (:mod:`prefect_journeys.expectations.gate`): validate every send
        step's due audience; quarantine failing customers, or hold a step whose failing fraction
        is above the journey's ``audience_threshold`` (its intents stay planned and dispatch
        skips them). Returns the intents quarantined."""
        gate = AudienceGate(
            self.journey_id,
            self.as_of,
            self.report,
            versions.plan_of,
            threshold=self.plan.journey.settings.audience_threshold,
            project_root=self.project_root,
        )
        before = self.report.quarantined
        self.held = gate.run(self._conn)
        return self.report.quarantined - before

    def dispatch(self) -> int:
        Dispatcher(
            self.engine,
            self.journey_id,
            self.as_of,
            self.now,
            self.report,
            versions.plan_of,
            self.channel,
            senders=self.senders,
            current=self.plan.journey.settings,
            signing_key=self.signing_key,
            dry_conn=self._dry_conn,
            batch_size=self.batch_size,
            lease=self.lease,
            held=self.held,
        ).run()
        return self.report.sent

    def finish(self) -> TickReport:
        with self._conn() as conn:
            conn.execute(
                update(STATE)
                .where(STATE.c.journey_id == self.journey_id)
                .values(last_tick_at=self.as_of)
            )
            conn.execute(
                insert(TICKS).values(
                    journey_id=self.journey_id,
                    as_of=self.as_of,
                    started_at=self.now,
                    finished_at=utcnow(),
                    dry_run=self.dry_run,
                    counts=self.report.to_dict(),
                )
            )
        return self.report

    def run(self, runner: Runner[Any] = _direct) -> TickReport:
        """All phases in order; ``runner(name, fn)`` lets a caller wrap each (e.g. as a task)."""
        name = self.journey_id
        before = {
            "segments": self.segments,
            "prepare": self.prepare,
            "rules": self.rules,
            "enroll": self.enroll,
        }
        after = {"settle": self.settle, "audience": self.audience, "dispatch": self.dispatch}
        assert tuple(before) == PHASES_BEFORE and (*after, "finish") == PHASES_AFTER
        with self.session():
            for phase, fn in before.items():
                runner(f"{name}/{phase}", fn)
                if self.stopped is not None:
                    raise self.stopped
            for step_id in self.steps_in_order():
                runner(f"{name}/{step_id}", partial(self.step, step_id))
            for phase, fn in after.items():
                runner(f"{name}/{phase}", fn)
            return runner(f"{name}/finish", self.finish)


def run_tick(
    engine: Engine,
    plan: Plan,
    as_of: datetime | None = None,
    *,
    dry_run: bool = False,
    channel: Channel | None = None,
    outbox_path: Path | None = None,
    runner: Runner[Any] = _direct,
    senders: SenderOpener | None = None,
    signing_key: bytes | None = None,
    batch_size: int = 1000,
    lease: timedelta = timedelta(minutes=15),
    sources: SourceOpener | None = None,
    project_root: Path | None = None,
) -> TickReport:
    """Run one tick of ``plan`` at ``as_of`` (default: now). See the module docstring.

    Raises ``ChannelConfigError`` when a sender could not open and ``AudienceHeld`` when the
    audience gate held a send step (in both cases after the tick finished: everything else of it
    is done and recorded, those messages stay planned)."""
    tick = Tick(
        engine,
        plan,
        as_of,
        dry_run=dry_run,
        channel=channel,
        outbox_path=outbox_path,
        senders=senders,
        signing_key=signing_key,
        batch_size=batch_size,
        lease=lease,
        sources=sources,
        project_root=project_root,
    )
    report = tick.run(runner)
    if report.blocked:
        raise ChannelConfigError("; ".join(report.blocked))
    if report.held:
        raise AudienceHeld("; ".join(report.held))
    return report
