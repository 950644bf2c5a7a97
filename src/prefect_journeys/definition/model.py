"""The journey language as pydantic models: a journey is an entry, a goal, exits, settings and steps.

Steps are a union discriminated by the one key that names their kind (``send``, ``wait``,
``wait_for``, ``branch``, ``split``, ``update``, ``exit``). Structure is checked here; cross-step
rules (ids, targets, reachability, cycles, templates, segments) live in :mod:`.checks`.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from prefect_journeys.definition.durations import parse_cap, parse_duration, parse_time_of_day
from prefect_journeys.segments.rules import Condition, Scalar

DEFAULT_STAGES = ("awareness", "consideration", "decision", "retention", "advocacy")
CHANNELS = ("email", "sms", "whatsapp", "webhook")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EXIT_TARGET = "exit"  # reserved `next` target: leave the journey (state `exited`)
# The phases of a tick around its steps (engine.tick.Tick.run), each one Prefect task; reserved.
PHASES_BEFORE = ("segments", "prepare", "rules", "enroll")
PHASES_AFTER = ("settle", "audience", "dispatch", "finish")  # audience: the GX gate
ENGINE_TASKS = PHASES_BEFORE + PHASES_AFTER
ID_PATTERN = r"^[a-z][a-z0-9_]*$"
# Who delivers each channel: a sender is "<provider>" (credentials from environment variables) or
# "<provider>/<block name>" (a saved Prefect block); "outbox" keeps messages in the local store.
SENDER_PROVIDERS: dict[str, tuple[str, ...]] = {
    "outbox": CHANNELS,
    "sendgrid": ("email",),
    "twilio": ("sms", "whatsapp"),
    "webhook": ("webhook",),
}
DEFAULT_TOPIC = "marketing"
DEFAULT_BANDIT_FLOOR = 0.05  # split mode bandit: minimum share per non-holdout arm


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except Exception:
        raise ValueError(
            f"unknown time zone {value!r}: use an IANA name such as 'Europe/Berlin' or 'UTC'"
        ) from None
    return value


def _check_duration(value: str) -> str:
    parse_duration(value)
    return value


# ----------------------------------------------------------------------------- entry, goal, exit


class ScheduleSpec(_Model):
    cron: str
    timezone: str = "UTC"
    catch_up: str = "1d"  # a fire older than this when first seen is skipped, not run late

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(value):
            raise ValueError(
                f"invalid cron expression {value!r}: five fields 'minute hour day month weekday', "
                "e.g. '0 10 * * mon'"
            )
        return value

    _tz = field_validator("timezone")(_check_timezone)
    _cu = field_validator("catch_up")(_check_duration)


class ReEntryAfter(_Model):
    after: str

    _d = field_validator("after")(_check_duration)


class Entry(_Model):
    """How customers enter: exactly one of ``event``, ``segment`` or ``schedule``.

    A schedule entry takes its audience from ``segment`` (all customers when absent) at each fire.
    """

    event: str | None = None
    key: str | None = None  # event property: one concurrent enrollment per key (e.g. cart_id)
    where: dict[str, Scalar] = Field(default_factory=dict)  # event property filter
    segment: str | Condition | None = None
    schedule: ScheduleSpec | None = None
    re_entry: Literal["never", "always"] | ReEntryAfter = "never"
    lookback: str = "1d"  # event entry: how far back the first tick looks for events

    _lb = field_validator("lookback")(_check_duration)

    @model_validator(mode="after")
    def _one_kind(self) -> Entry:
        kinds = [k for k in ("event", "schedule") if getattr(self, k) is not None]
        if not kinds and self.segment is None:
            raise ValueError("entry needs one of 'event', 'segment' or 'schedule'")
        if self.event is not None and self.schedule is not None:
            raise ValueError("entry has both 'event' and 'schedule': choose one")
        if self.event is not None and self.segment is not None:
            raise ValueError(
                "entry has both 'event' and 'segment': use a branch step to filter event entrants"
            )
        if self.key is not None and self.event is None:
            raise ValueError("entry 'key' only applies to an event entry")
        return self

    @property
    def kind(self) -> Literal["event", "segment", "schedule"]:
        if self.event is not None:
            return "event"
        if self.schedule is not None:
            return "schedule"
        return "segment"


class Goal(_Model):
    event: str
    within: str = "14d"
    where: dict[str, Scalar] = Field(default_factory=dict)
    exit: bool = False  # leave the journey once converted

    _w = field_validator("within")(_check_duration)


class ExitRules(_Model):
    on_event: list[str] = Field(default_factory=list)
    on_leaving_segment: bool | str = False  # True: the entry segment; or a named segment


# ----------------------------------------------------------------------------- settings


class QuietHours(_Model):
    start: str
    end: str

    _s = field_validator("start", "end")(lambda v: (parse_time_of_day(v), v)[1])

    @property
    def window(self) -> tuple[time, time]:
        return parse_time_of_day(self.start), parse_time_of_day(self.end)


def parse_sender(ref: str) -> tuple[str, str | None]:
    """``"sendgrid/marketing"`` → ``("sendgrid", "marketing")``; ``"twilio"`` → ``("twilio", None)``."""
    provider, _, block = ref.partition("/")
    return provider, (block or None)


class Compliance(_Model):
    """What every marketing email carries: a postal address footer and a one-click unsubscribe URL
    (our intake service's ``/unsubscribe`` endpoint; an opaque signed token is appended)."""

    postal_address: str = Field(min_length=5)
    unsubscribe_url: str = Field(pattern=r"^https?://\S+$")


class Settings(_Model):
    timezone: str = "UTC"  # for customers whose time zone is unknown
    quiet_hours: QuietHours | None = None  # every channel
    # SMS and WhatsApp are never sent outside 08:00–21:00 local time (US telemarketing rules)
    # unless a journey sets its own window here (or null to send around the clock).
    sms_quiet_hours: QuietHours | None = QuietHours(start="21:00", end="08:00")
    frequency_cap: dict[str, str] = Field(default_factory=dict)  # channel → "2/day"
    stages: tuple[str, ...] = DEFAULT_STAGES
    channels: dict[str, str] = Field(default_factory=dict)  # channel → sender; default outbox
    compliance: Compliance | None = None
    # The audience gate (docs/data-quality.md): a send step whose due audience has more than this
    # fraction of customers failing its channel's suite is held (nothing sent) and the tick fails.
    audience_threshold: float = Field(default=0.05, ge=0.0, le=1.0)

    _tz = field_validator("timezone")(_check_timezone)

    @field_validator("channels")
    @classmethod
    def _senders(cls, value: dict[str, str]) -> dict[str, str]:
        for channel, ref in value.items():
            if channel not in CHANNELS:
                raise ValueError(
                    f"channels names unknown channel {channel!r}; channels: {', '.join(CHANNELS)}"
                )
            provider, block = parse_sender(ref)
            if provider not in SENDER_PROVIDERS:
                raise ValueError(
                    f"unknown sender {ref!r} for {channel}: use one of"
                    f" {', '.join(SENDER_PROVIDERS)}, optionally followed by '/<block name>'"
                )
            if channel not in SENDER_PROVIDERS[provider]:
                raise ValueError(
                    f"{provider} cannot send {channel}; it sends"
                    f" {', '.join(SENDER_PROVIDERS[provider])}"
                )
            if block is not None and not re.fullmatch(r"[a-z0-9][a-z0-9\-_]*", block):
                raise ValueError(
                    f"block name {block!r} in sender {ref!r}: Prefect block names use lowercase"
                    " letters, digits and '-'"
                )
        return value

    def sender(self, channel: str) -> str:
        return self.channels.get(channel, "outbox")

    def quiet_windows(self, channel: str) -> tuple[tuple[time, time], ...]:
        """Every quiet window that applies to ``channel`` (a send waits until all are over)."""
        windows = [self.quiet_hours.window] if self.quiet_hours else []
        if channel in ("sms", "whatsapp") and self.sms_quiet_hours is not None:
            windows.append(self.sms_quiet_hours.window)
        return tuple(windows)

    @field_validator("frequency_cap")
    @classmethod
    def _caps(cls, value: dict[str, str]) -> dict[str, str]:
        for channel, cap in value.items():
            if channel not in CHANNELS:
                raise ValueError(
                    f"frequency_cap names unknown channel {channel!r}; channels: {', '.join(CHANNELS)}"
                )
            parse_cap(cap)
        return value


# ----------------------------------------------------------------------------- steps


class _Step(_Model):
    id: str = Field(pattern=ID_PATTERN)
    stage: str | None = None
    name: str | None = None
    description: str | None = None

    def targets(self) -> list[str]:
        """Step ids (or ``exit``) this step can move a customer to."""
        return []


class _Linear(_Step):
    next: str | None = None

    def targets(self) -> list[str]:
        return [self.next] if self.next else []


class SendSpec(_Model):
    channel: str
    template: str
    data: dict[str, Any] = Field(default_factory=dict)
    # transactional messages (receipts, password resets) need no marketing consent and skip
    # marketing-only suppressions (unsubscribes); hard bounces and SMS opt-outs still apply
    transactional: bool = False
    topic: str = Field(default=DEFAULT_TOPIC, pattern=ID_PATTERN)  # consent topic

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        if value not in CHANNELS:
            raise ValueError(f"unknown channel {value!r}; channels: {', '.join(CHANNELS)}")
        return value


class SendStep(_Linear):
    kind: Literal["send"] = "send"
    send: SendSpec


class WaitUntil(_Model):
    """Wait until a local time of day (customer's time zone), optionally on given weekdays."""

    until: str
    weekdays: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] | None = None

    _u = field_validator("until")(lambda v: (parse_time_of_day(v), v)[1])


class WaitDuration(_Model):
    duration: str

    _d = field_validator("duration")(_check_duration)


class WaitStep(_Linear):
    kind: Literal["wait"] = "wait"
    wait: WaitDuration | WaitUntil

    @field_validator("wait", mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        return {"duration": value} if isinstance(value, str | int) else value


class WaitForSpec(_Model):
    event: str
    timeout: str
    where: dict[str, Scalar] = Field(default_factory=dict)

    _t = field_validator("timeout")(_check_duration)


class WaitForStep(_Step):
    kind: Literal["wait_for"] = "wait_for"
    wait_for: WaitForSpec
    on_event: str | None = None
    on_timeout: str | None = None

    def targets(self) -> list[str]:
        return [t for t in (self.on_event, self.on_timeout) if t]


class BranchCase(_Model):
    when: Condition
    next: str | None = None


class BranchElse(_Model):
    else_: str | None = Field(alias="else")
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class BranchStep(_Step):
    kind: Literal["branch"] = "branch"
    branch: list[BranchCase | BranchElse] = Field(min_length=1)

    @field_validator("branch")
    @classmethod
    def _else_last(cls, value: list[BranchCase | BranchElse]) -> list[BranchCase | BranchElse]:
        for index, case in enumerate(value):
            if isinstance(case, BranchElse) and index != len(value) - 1:
                raise ValueError("'else' must be the last entry of a branch")
        return value

    @property
    def cases(self) -> list[BranchCase]:
        return [c for c in self.branch if isinstance(c, BranchCase)]

    @property
    def otherwise(self) -> str | None:
        last = self.branch[-1]
        return last.else_ if isinstance(last, BranchElse) else None

    def targets(self) -> list[str]:
        found = [c.next for c in self.cases if c.next]
        return found + ([self.otherwise] if self.otherwise else [])


class SplitVariant(_Model):
    variant: str = Field(pattern=ID_PATTERN)
    weight: int = Field(ge=0, le=100)
    next: str | None = None
    holdout: bool = False

    @property
    def is_holdout(self) -> bool:
        return self.holdout or self.variant == "holdout"


class SplitStep(_Step):
    """``mode: random`` (default): each variant gets its ``weight`` percent of customers.
    ``mode: bandit``: holdout variants keep their weight; the other arms share the rest by
    Thompson sampling on the journey goal, each arm getting at least ``floor`` of that rest."""

    kind: Literal["split"] = "split"
    split: list[SplitVariant] = Field(min_length=2)
    # Left out of the dump at their defaults: existing journeys keep their content hash.
    mode: Literal["random", "bandit"] = Field(
        default="random", exclude_if=lambda value: value == "random"
    )
    floor: float | None = Field(default=None, ge=0.0, le=1.0, exclude_if=lambda v: v is None)

    def targets(self) -> list[str]:
        return [v.next for v in self.split if v.next]

    @property
    def arms(self) -> list[SplitVariant]:
        """The variants a bandit allocates between (every variant but the holdouts)."""
        return [v for v in self.split if not v.is_holdout]

    @property
    def arm_floor(self) -> float:
        """The minimum share of the non-holdout traffic each bandit arm gets (default 5%)."""
        return DEFAULT_BANDIT_FLOOR if self.floor is None else self.floor

    @model_validator(mode="after")
    def _bandit(self) -> SplitStep:
        if self.mode == "random":
            if self.floor is not None:
                raise ValueError("'floor' only applies to a split with 'mode: bandit'")
            return self
        arms = len(self.arms)
        if arms < 2:
            raise ValueError(
                f"a bandit split needs at least 2 non-holdout variants to choose between, has {arms}"
            )
        if self.arm_floor * arms > 1:
            raise ValueError(
                f"floor {self.arm_floor} × {arms} arms = {self.arm_floor * arms:g} is more than 1:"
                f" use a floor of at most {1 / arms:.4g}"
            )
        return self


class UpdateSpec(_Model):
    set: dict[str, Scalar] = Field(default_factory=dict)
    add_tags: list[str] = Field(default_factory=list)
    remove_tags: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something(self) -> UpdateSpec:
        if not (self.set or self.add_tags or self.remove_tags):
            raise ValueError("update needs at least one of 'set', 'add_tags', 'remove_tags'")
        return self


class UpdateStep(_Linear):
    kind: Literal["update"] = "update"
    update: UpdateSpec


class ExitStep(_Step):
    kind: Literal["exit"] = "exit"
    exit: bool | str = True  # True, or a reason


STEP_KINDS = ("send", "wait", "wait_for", "branch", "split", "update", "exit")


def step_kind(value: Any) -> str | None:
    if isinstance(value, _Step):
        return str(value.kind)  # type: ignore[attr-defined]
    if isinstance(value, dict):
        found = [k for k in STEP_KINDS if k in value]
        return found[0] if len(found) == 1 else None
    return None


Step = Annotated[
    Annotated[SendStep, Tag("send")]
    | Annotated[WaitStep, Tag("wait")]
    | Annotated[WaitForStep, Tag("wait_for")]
    | Annotated[BranchStep, Tag("branch")]
    | Annotated[SplitStep, Tag("split")]
    | Annotated[UpdateStep, Tag("update")]
    | Annotated[ExitStep, Tag("exit")],
    Discriminator(
        step_kind,
        custom_error_type="invalid_step",
        custom_error_message=(
            "a step needs exactly one of: send, wait, wait_for, branch, split, update, exit"
        ),
    ),
]


# ----------------------------------------------------------------------------- KPI targets

Rate = Annotated[float, Field(ge=0.0, le=1.0)]


class StepTargets(_Model):
    """Targets for one step's rates (see docs/metrics.md, step statistics)."""

    delivery_rate: Rate | None = None
    open_rate: Rate | None = None
    click_rate: Rate | None = None
    conversion_rate: Rate | None = None


class Targets(_Model):
    """A journey's KPI targets, compared with actuals by ``analytics.friction.gaps``:
    ``conversion`` (goal conversions / entered), ``stages`` (share of entered reaching each
    stage) and ``steps`` (rates per step id)."""

    conversion: Rate | None = None
    stages: dict[str, Rate] = Field(default_factory=dict)
    steps: dict[str, StepTargets] = Field(default_factory=dict)


# ----------------------------------------------------------------------------- journey


class Journey(_Model):
    id: str = Field(pattern=ID_PATTERN)
    name: str | None = None
    description: str | None = None
    entry: Entry
    goal: Goal | None = None
    exit: ExitRules = Field(default_factory=ExitRules)
    settings: Settings = Field(default_factory=Settings)
    steps: list[Step] = Field(min_length=1)
    # Left out of the dump when absent: journeys without targets keep their content hash.
    targets: Targets | None = Field(default=None, exclude_if=lambda value: value is None)

    def step(self, step_id: str) -> Any:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    @property
    def first_step(self) -> str:
        return str(self.steps[0].id)


def duration(text: str) -> timedelta:
    return parse_duration(text)


def cap(text: str) -> tuple[int, str]:
    return parse_cap(text)
