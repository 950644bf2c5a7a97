"""How simulated customers behave: reactions to messages and background activity.

Every random draw is derived from the seed and a natural key (an intent id, an hour slot), never
from the order of calls, so the events written are the same however the simulated time is cut into
windows. A call for ``(since, until]`` writes exactly the events whose time falls in that window;
reactions that fall later are re-derived and written by the call whose window contains them
(events are deduplicated on their ``source_id``, so overlapping calls are harmless).
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from prefect_journeys.simulation.population import (
    CURRENCY,
    Population,
    Profile,
    purchase_event,
    write_profiles,
)
from prefect_journeys.store.database import to_utc_naive
from prefect_journeys.store.models import Event, SendIntent
from prefect_journeys.store.writes import insert_events

events_t = Event.__table__  # type: ignore[attr-defined]
intents_t = SendIntent.__table__  # type: ignore[attr-defined]

# Columns a reaction copies from its message.sent event.
MESSAGE_COLUMNS = (
    "journey_id",
    "journey_version",
    "step_id",
    "stage",
    "variant",
    "channel",
    "enrollment_id",
    "intent_id",
    "customer_id",
)
# The latest a reaction can come after its send (delivery + open + click + purchase delays).
REACTION_HORIZON = timedelta(days=3)
CART_HORIZON = timedelta(days=2, hours=2)
SLOT = timedelta(hours=1)
# Survey replies after conversions: how many answer, when, and the score distribution (the
# cumulative shares below pick a score from a uniform draw).
SURVEY_HORIZON = timedelta(hours=48)
SURVEY_REPLY_RATE = 0.35
SCORE_QUANTILES = (0.04, 0.08, 0.12, 0.18, 0.25, 0.33, 0.45, 0.62, 0.8)
NPS_SCORES = (2, 3, 4, 5, 6, 6, 7, 8, 9, 10)
CSAT_SCORES = (1, 2, 2, 3, 3, 3, 4, 4, 5, 5)
OPEN_TRACKED = frozenset({"email"})


@dataclass(frozen=True)
class Rates:
    """Probabilities for one message: each conditional on the step before it."""

    deliver: float = 0.97
    open: float = 0.35  # of delivered (channels without open tracking: read, not recorded)
    click: float = 0.30  # of opened
    purchase: float = 0.15  # of clicked
    amount_low: float = 20.0
    amount_high: float = 160.0

    def merged(self, overrides: Mapping[str, float]) -> Rates:
        return replace(self, **dict(overrides))


RATE_FIELDS = frozenset(f.name for f in fields(Rates))
RATE_SCOPES = ("channel", "journey", "template", "variant", "step")

# Keys: "default", or "<scope>:<name>" with scope one of RATE_SCOPES (applied in that order, the
# later more specific). Defaults make the example journeys show a real difference: the bigger
# discount converts better, and a holdout (nothing sent) converts least.
DEFAULT_RATES: dict[str, dict[str, float]] = {
    "default": {},
    "channel:sms": {"open": 1.0, "click": 0.08, "purchase": 0.2},
    "template:cart_reminder": {"open": 0.45, "click": 0.40, "purchase": 0.30},
    "template:cart_discount": {"open": 0.45, "click": 0.45, "purchase": 0.40},
    "variant:discount_10": {"open": 0.38, "click": 0.35, "purchase": 0.25},
    "variant:discount_20": {"open": 0.42, "click": 0.45, "purchase": 0.40},
    "variant:comeback_15": {"open": 0.38, "click": 0.40, "purchase": 0.30},
}


def _check_rates(rates: Mapping[str, Mapping[str, float]]) -> None:
    for key, values in rates.items():
        scope = key.split(":", 1)[0]
        if key != "default" and (":" not in key or scope not in RATE_SCOPES):
            raise ValueError(
                f"unknown rate key {key!r}: use 'default' or '<scope>:<name>' with scope one of "
                f"{', '.join(RATE_SCOPES)} (e.g. 'variant:discount_20')"
            )
        unknown = set(values) - RATE_FIELDS
        if unknown:
            raise ValueError(
                f"rate key {key!r}: unknown field(s) {', '.join(sorted(unknown))}; "
                f"fields: {', '.join(sorted(RATE_FIELDS))}"
            )
        for name, value in values.items():
            if name in ("deliver", "open", "click", "purchase") and not 0.0 <= value <= 1.0:
                raise ValueError(f"rate {key}.{name} must be between 0 and 1, got {value}")


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 50:  # normal approximation, plenty for a simulation
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, product, count = math.exp(-lam), rng.random(), 0
    while product > limit:
        product *= rng.random()
        count += 1
    return count


def _write(conn: Connection, rows: list[dict[str, Any]]) -> int:
    return insert_events(conn, rows) if rows else 0


def _floor_hour(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=round(value))


class BehaviourModel:
    """Simulated customers: react to sent messages, sign up, abandon carts and buy.

    ``rates`` overrides :data:`DEFAULT_RATES` per key (see there). The background methods
    (:meth:`signups`, :meth:`carts`, :meth:`organic_purchases`) need the ``population``.
    """

    def __init__(
        self,
        seed: int,
        rates: Mapping[str, Mapping[str, float]] | None = None,
        *,
        population: Population | None = None,
        carts_per_customer_day: float = 0.02,
        cart_self_recovery: float = 0.10,
        organic_purchases_per_customer_day: float = 0.002,
    ) -> None:
        merged: dict[str, dict[str, float]] = {k: dict(v) for k, v in DEFAULT_RATES.items()}
        for key, values in (rates or {}).items():
            merged.setdefault(key, {}).update(values)
        _check_rates(merged)
        self.seed = seed
        self.rates = merged
        self.population = population
        self.carts_per_customer_day = carts_per_customer_day
        self.cart_self_recovery = cart_self_recovery
        self.organic_purchases_per_customer_day = organic_purchases_per_customer_day
        self._rate_cache: dict[tuple[str | None, ...], Rates] = {}
        # Pure functions of (seed, key), kept while they can still produce events in a window.
        self._reaction_cache: dict[Any, tuple[datetime, list[dict[str, Any]]]] = {}
        self._cart_slots: dict[datetime, list[dict[str, Any]]] = {}
        self._new: list[Profile] = []
        self._new_times: list[datetime] = []
        if population is not None:
            self._new = sorted(
                (p for p in population.profiles if p.is_new), key=lambda p: (p.signup_at, p.index)
            )
            self._new_times = [p.signup_at for p in self._new]

    # ------------------------------------------------------------------------------ rates

    def rates_for(
        self,
        *,
        channel: str | None = None,
        journey: str | None = None,
        template: str | None = None,
        variant: str | None = None,
        step: str | None = None,
    ) -> Rates:
        key = (channel, journey, template, variant, step)
        found = self._rate_cache.get(key)
        if found is None:
            found = Rates().merged(self.rates.get("default", {}))
            for scope, name in zip(RATE_SCOPES, key, strict=True):
                if name is not None:
                    found = found.merged(self.rates.get(f"{scope}:{name}", {}))
            self._rate_cache[key] = found
        return found

    # ------------------------------------------------------------------------------ reactions

    def react(self, conn: Connection, since: datetime, until: datetime) -> dict[str, int]:
        """Write deliveries, opens, clicks and purchases that happen in ``(since, until]``.

        Reactions follow ``message.sent`` events; sends up to :data:`REACTION_HORIZON` before
        ``since`` are considered, so reactions due after an earlier window are written now.
        Returns the number of events written per name.
        """
        since, until = to_utc_naive(since), to_utc_naive(until)
        columns = [events_t.c[name] for name in MESSAGE_COLUMNS]
        query = (
            select(*columns, events_t.c.occurred_at, events_t.c.source_id, intents_t.c.template)
            .select_from(events_t.outerjoin(intents_t, intents_t.c.id == events_t.c.intent_id))
            .where(
                events_t.c.name == "message.sent",
                events_t.c.occurred_at > since - REACTION_HORIZON,
                events_t.c.occurred_at <= until,
            )
            .order_by(events_t.c.seq)
        )
        out: dict[str, list[dict[str, Any]]] = {
            "message.delivered": [],
            "message.opened": [],
            "message.clicked": [],
            "purchase": [],
        }
        oldest = since - REACTION_HORIZON
        for key in [k for k, (sent_at, _) in self._reaction_cache.items() if sent_at <= oldest]:
            del self._reaction_cache[key]
        for row in conn.execute(query).mappings():
            sent = dict(row)
            key = sent["intent_id"] if sent["intent_id"] is not None else sent["source_id"]
            cached = self._reaction_cache.get(key)
            if cached is None:
                cached = (sent["occurred_at"], list(self._reactions(sent)))
                self._reaction_cache[key] = cached
            for event in cached[1]:
                if since < event["occurred_at"] <= until:
                    out[event["name"]].append(event)
        return {name: _write(conn, rows) for name, rows in out.items()}

    def _reactions(self, sent: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Every reaction to one send, with its time (deterministic per intent)."""
        key = sent["intent_id"] if sent["intent_id"] is not None else sent["source_id"]
        rng = random.Random(f"react:{self.seed}:{key}")
        rates = self.rates_for(
            channel=sent["channel"],
            journey=sent["journey_id"],
            template=sent["template"],
            variant=sent["variant"],
            step=sent["step_id"],
        )
        # Draw everything up front, in a fixed order, whatever the outcome.
        u_deliver, u_open, u_click, u_buy = rng.random(), rng.random(), rng.random(), rng.random()
        d_deliver = rng.uniform(2.0, 120.0)
        d_open = min(rng.expovariate(1.0 / (3 * 3600.0)), 36 * 3600.0) + 60.0
        d_click = rng.uniform(20.0, 15 * 60.0)
        d_buy = rng.uniform(5 * 60.0, 20 * 3600.0)
        amount = round(rng.uniform(rates.amount_low, rates.amount_high), 2)

        base = {name: sent[name] for name in MESSAGE_COLUMNS}
        base["properties"] = {"simulated": True}

        def event(kind: str, when: datetime) -> dict[str, Any]:
            return {
                **base,
                "name": f"message.{kind}",
                "source_id": f"sim:{key}:{kind}",
                "occurred_at": when,
                "received_at": when,
            }

        if u_deliver >= rates.deliver:
            return
        delivered_at = sent["occurred_at"] + _seconds(d_deliver)
        yield event("delivered", delivered_at)
        if u_open >= rates.open:
            return
        opened_at = delivered_at + _seconds(d_open)
        if sent["channel"] in OPEN_TRACKED:
            yield event("opened", opened_at)
        if u_click >= rates.click:
            return
        clicked_at = opened_at + _seconds(d_click)
        yield event("clicked", clicked_at)
        if u_buy >= rates.purchase:
            return
        yield purchase_event(
            sent["customer_id"],
            clicked_at + _seconds(d_buy),
            f"sim-{self.seed}-{key}",
            amount,
            f"sim:{key}:purchase",
        )

    # ------------------------------------------------------------------------------ background

    def _need_population(self) -> Population:
        if self.population is None:
            raise ValueError("background activity needs BehaviourModel(..., population=...)")
        return self.population

    def signups(self, conn: Connection, since: datetime, until: datetime) -> dict[str, int]:
        """New customers who sign up in ``(since, until]``: customer rows and ``signed_up``."""
        self._need_population()
        since, until = to_utc_naive(since), to_utc_naive(until)
        low = bisect_right(self._new_times, since)
        high = bisect_right(self._new_times, until)
        profiles = self._new[low:high]
        if profiles:
            write_profiles(conn, profiles, signed_up=True)
        return {"signed_up": len(profiles)}

    def _slots(self, since: datetime, until: datetime, horizon: timedelta) -> Iterator[datetime]:
        slot = _floor_hour(since - horizon)
        while slot < until:
            yield slot
            slot += SLOT

    def _pick(self, rng: random.Random, when: datetime) -> str | None:
        population = self._need_population()
        index = rng.randrange(population.n)
        return population.customer_id(index) if population.exists_at(index, when) else None

    def _cart_slot(self, slot: datetime) -> list[dict[str, Any]]:
        """Every event of the carts abandoned in one hour slot (cached: it never changes)."""
        found = self._cart_slots.get(slot)
        if found is not None:
            return found
        population = self._need_population()
        rate = population.n * self.carts_per_customer_day / 24.0
        rng = random.Random(f"carts:{self.seed}:{slot.isoformat()}")
        found = []
        for k in range(_poisson(rng, rate)):
            when = slot + _seconds(rng.uniform(0.0, 3599.0))
            customer = self._pick(rng, when)
            items = rng.randint(1, 5)
            amount = round(rng.uniform(15.0, 60.0) * items, 2)
            recovered = rng.random() < self.cart_self_recovery
            bought_at = when + _seconds(rng.uniform(1800.0, 2 * 86400.0))
            if customer is None:
                continue
            cart_id = f"cart-{self.seed}-{slot:%Y%m%d%H}-{k}"
            found.append(
                {
                    "source_id": f"sim:{cart_id}",
                    "customer_id": customer,
                    "name": "cart_abandoned",
                    "occurred_at": when,
                    "received_at": when,
                    "properties": {
                        "cart_id": cart_id,
                        "items": items,
                        "amount": amount,
                        "currency": CURRENCY,
                    },
                    "value": amount,
                }
            )
            if recovered:
                found.append(
                    purchase_event(
                        customer, bought_at, f"order-{cart_id}", amount, f"sim:{cart_id}:bought"
                    )
                )
        self._cart_slots[slot] = found
        return found

    def carts(self, conn: Connection, since: datetime, until: datetime) -> dict[str, int]:
        """``cart_abandoned`` events in ``(since, until]`` (and carts bought without a message)."""
        since, until = to_utc_naive(since), to_utc_naive(until)
        out: dict[str, list[dict[str, Any]]] = {"cart_abandoned": [], "purchase": []}
        oldest = _floor_hour(since - CART_HORIZON)
        for slot in [s for s in self._cart_slots if s < oldest]:
            del self._cart_slots[slot]
        for slot in self._slots(since, until, CART_HORIZON):
            for event in self._cart_slot(slot):
                if since < event["occurred_at"] <= until:
                    out[event["name"]].append(event)
        return {name: _write(conn, rows) for name, rows in out.items()}

    def organic_purchases(
        self, conn: Connection, since: datetime, until: datetime
    ) -> dict[str, int]:
        """Purchases in ``(since, until]`` that no message caused (a low base rate)."""
        population = self._need_population()
        since, until = to_utc_naive(since), to_utc_naive(until)
        rows: list[dict[str, Any]] = []
        rate = population.n * self.organic_purchases_per_customer_day / 24.0
        for slot in self._slots(since, until, timedelta(0)):
            rng = random.Random(f"organic:{self.seed}:{slot.isoformat()}")
            for k in range(_poisson(rng, rate)):
                when = slot + _seconds(rng.uniform(0.0, 3599.0))
                customer = self._pick(rng, when)
                amount = round(rng.uniform(15.0, 200.0), 2)
                if customer is None or not since < when <= until:
                    continue
                order_id = f"organic-{self.seed}-{slot:%Y%m%d%H}-{k}"
                rows.append(purchase_event(customer, when, order_id, amount, f"sim:{order_id}"))
        return {"purchase": _write(conn, rows)}

    def surveys(self, conn: Connection, since: datetime, until: datetime) -> dict[str, int]:
        """``survey.answered`` replies in ``(since, until]``: some customers answer an NPS or a
        CSAT survey 2–48 hours after a purchase; when a journey converted them with that
        purchase, the reply names the journey (``properties.journey_id``).

        Replies derive from events already written (ticks of at most two hours have written a
        purchase's conversion before its reply is due)."""
        since, until = to_utc_naive(since), to_utc_naive(until)
        bought = events_t.alias("bought")
        conv = events_t.alias("conv")
        query = (
            select(
                bought.c.source_id,
                bought.c.customer_id,
                bought.c.occurred_at,
                conv.c.journey_id,
                conv.c.variant,
            )
            .select_from(
                bought.outerjoin(
                    conv,
                    (conv.c.name == "journey.converted")
                    & (conv.c.customer_id == bought.c.customer_id)
                    & (conv.c.occurred_at == bought.c.occurred_at),
                )
            )
            .where(
                bought.c.name == "purchase",
                bought.c.occurred_at > since - SURVEY_HORIZON,
                bought.c.occurred_at <= until,
            )
        )
        rows: dict[str, dict[str, Any]] = {}
        for key, customer, bought_at, journey, variant in conn.execute(query):
            rng = random.Random(f"survey:{self.seed}:{key}")
            answers, kind, u_score = rng.random(), rng.random(), rng.random()
            when = bought_at + _seconds(rng.uniform(2 * 3600.0, SURVEY_HORIZON.total_seconds()))
            if answers >= SURVEY_REPLY_RATE or not since < when <= until:
                continue
            survey = "nps" if kind < 0.6 else "csat"
            scale = NPS_SCORES if survey == "nps" else CSAT_SCORES
            lift = 0.1 if journey is not None and variant != "holdout" else 0.0
            score = scale[min(bisect_right(SCORE_QUANTILES, u_score + lift), len(scale) - 1)]
            properties: dict[str, Any] = {"survey": survey, "score": score}
            if journey is not None:
                properties["journey_id"] = journey
            rows[key] = {
                "source_id": f"sim:survey:{key}",
                "customer_id": customer,
                "name": "survey.answered",
                "occurred_at": when,
                "received_at": when,
                "properties": properties,
            }
        return {"survey.answered": _write(conn, list(rows.values()))}

    def background(self, conn: Connection, since: datetime, until: datetime) -> dict[str, int]:
        """Sign-ups, carts, organic purchases and survey replies in ``(since, until]``; counts
        per event name."""
        totals: dict[str, int] = {}
        for part in (
            self.signups(conn, since, until),
            self.carts(conn, since, until),
            self.organic_purchases(conn, since, until),
            self.surveys(conn, since, until),
        ):
            for name, count in part.items():
                totals[name] = totals.get(name, 0) + count
        return totals


__all__ = ["DEFAULT_RATES", "REACTION_HORIZON", "BehaviourModel", "Rates"]
