"""A synthetic population: made-up customers with history, deterministic for a seed.

Nothing here is real person's data: names are combined from small invented lists, email addresses
use the reserved domains example.com/.org/.net (RFC 2606), and phone numbers come from ranges set
aside for fiction and testing (UK +44 7700 900000–900999, US +1 NXX 555-0100–0199).

Most of the population exists when the simulation starts (some of them past buyers, so that a
win-back segment has an audience); a share is "new" and signs up during the simulated days
(:meth:`Population.signups_between`, written by the behaviour model).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import Connection

from prefect_journeys.store.database import to_utc_naive
from prefect_journeys.store.writes import add_tags, insert_events, upsert_customers

FIRST_NAMES = (
    "Ada", "Bram", "Cleo", "Dario", "Elin", "Fenna", "Gus", "Hana", "Ilio", "Juna",
    "Kasimir", "Lio", "Mira", "Nilo", "Oona", "Pim", "Quilla", "Rasmo", "Selka", "Tove",
    "Ulme", "Vero", "Wim", "Xeni", "Yara", "Zeno",
)  # fmt: skip
LAST_NAMES = (
    "Ambermoor", "Brightwell", "Copperfield", "Dunwhistle", "Elderbrook", "Fernsby",
    "Glimmerton", "Hollowmere", "Ivywood", "Juniperhall", "Kettleby", "Larkspire",
    "Mossgrove", "Nettlecombe", "Oakhollow", "Pebblestone", "Quarrington", "Rushwick",
    "Saltmarsh", "Thistledown", "Umberfield", "Vellacott", "Willowmere", "Yarrowby",
)  # fmt: skip
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")

# (time zone, locale, country, phone plan) — a mix of regions.
REGIONS: tuple[tuple[str, str, str, str], ...] = (
    ("Europe/Berlin", "de-DE", "DE", "uk"),
    ("Europe/London", "en-GB", "GB", "uk"),
    ("Europe/Paris", "fr-FR", "FR", "uk"),
    ("Europe/Madrid", "es-ES", "ES", "uk"),
    ("America/New_York", "en-US", "US", "us"),
    ("America/Chicago", "en-US", "US", "us"),
    ("America/Los_Angeles", "en-US", "US", "us"),
    ("Asia/Tokyo", "ja-JP", "JP", "uk"),
    ("Australia/Sydney", "en-AU", "AU", "uk"),
    ("UTC", "en-GB", "GB", "uk"),
)
REGION_WEIGHTS = (18, 16, 8, 6, 14, 8, 10, 8, 7, 5)
US_AREA_CODES = ("201", "212", "303", "312", "415", "503", "617", "702", "808", "917")
PLANS = ("free", "basic", "pro")
PLAN_WEIGHTS = (60, 30, 10)
SIGNUP_SOURCES = ("organic", "ads", "referral", "social", "partner")
SIGNUP_WEIGHTS = (40, 25, 15, 15, 5)
CURRENCY = "EUR"

DEFAULT_NEW_SHARE = 0.15  # of the population signs up during the simulation
LAPSED_SHARE = 0.08  # bought 60–200 days before the start, nothing since
ACTIVE_BUYER_SHARE = 0.15  # bought within the 60 days before the start
MIN_HISTORY_DAYS = 30  # existing customers joined between 30 days and ~3 years before the start


def uk_fiction_phone(number: int) -> str:
    """``+447700900NNN`` (Ofcom's drama range), ``number`` in 0..999."""
    return f"+447700900{number % 1000:03d}"


def us_fiction_phone(area: str, number: int) -> str:
    """``+1 area 555-01NN`` (the range reserved for fictional use), ``number`` in 0..99."""
    return f"+1{area}55501{number % 100:02d}"


@dataclass(frozen=True)
class Purchase:
    occurred_at: datetime
    order_id: str
    amount: float


@dataclass(frozen=True)
class Profile:
    """One synthetic customer: the ``customers`` row, tags and purchase history."""

    index: int
    id: str
    signup_at: datetime
    is_new: bool  # signs up during the simulation (after the start)
    row: dict[str, Any]
    tags: tuple[str, ...]
    purchases: tuple[Purchase, ...]


@dataclass(frozen=True)
class Population:
    """``n`` customers derived from ``seed``; customer ``i`` is the same whatever else is asked."""

    n: int
    seed: int
    start: datetime
    new_share: float = DEFAULT_NEW_SHARE
    signup_span: timedelta = field(default=timedelta(days=14))

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError("population size must be ≥ 0")
        if not 0.0 <= self.new_share <= 1.0:
            raise ValueError("new_share must be between 0 and 1")
        object.__setattr__(self, "start", to_utc_naive(self.start))

    def customer_id(self, index: int) -> str:
        return f"sim-{self.seed}-{index:06d}"

    @cached_property
    def profiles(self) -> tuple[Profile, ...]:
        return tuple(self._profile(i) for i in range(self.n))

    def existing(self) -> list[Profile]:
        """Customers who exist when the simulation starts."""
        return [p for p in self.profiles if not p.is_new]

    def signups_between(self, since: datetime, until: datetime) -> list[Profile]:
        """New customers whose sign-up time falls in ``(since, until]``, in time order."""
        found = [p for p in self.profiles if p.is_new and since < p.signup_at <= until]
        return sorted(found, key=lambda p: (p.signup_at, p.index))

    def exists_at(self, index: int, when: datetime) -> bool:
        return self.profiles[index].signup_at <= when

    # ------------------------------------------------------------------------------------ details

    def _profile(self, index: int) -> Profile:
        rng = random.Random(f"population:{self.seed}:{index}")
        customer_id = self.customer_id(index)
        first = rng.choice(FIRST_NAMES)
        last = rng.choice(LAST_NAMES)
        tz, locale, country, phone_plan = rng.choices(REGIONS, weights=REGION_WEIGHTS)[0]
        domain = EMAIL_DOMAINS[index % len(EMAIL_DOMAINS)]
        email = f"{first.lower()}.{last.lower()}.{index}@{domain}"
        if rng.random() < 0.85:
            if phone_plan == "us":
                phone: str | None = us_fiction_phone(rng.choice(US_AREA_CODES), rng.randrange(100))
            else:
                phone = uk_fiction_phone(rng.randrange(1000))
        else:
            phone = None

        is_new = rng.random() < self.new_share
        span = max(self.signup_span.total_seconds(), 1.0)
        if is_new:
            signup_at = self.start + timedelta(seconds=rng.uniform(1.0, span))
        else:
            days_before = rng.uniform(MIN_HISTORY_DAYS, 3 * 365)
            signup_at = self.start - timedelta(days=days_before)
        signup_at = signup_at.replace(microsecond=0)

        purchases: list[Purchase] = []
        if not is_new:
            roll = rng.random()
            history_days = (self.start - signup_at).total_seconds() / 86400
            if roll < LAPSED_SHARE:
                windows = [(60.0, min(200.0, history_days))]
            elif roll < LAPSED_SHARE + ACTIVE_BUYER_SHARE:
                windows = [(1.0, min(59.0, history_days)), (60.0, min(200.0, history_days))]
            else:
                windows = []
            for number, (low, high) in enumerate(windows):
                if high <= low:
                    continue
                count = 1 + int(rng.random() < 0.4) if number == 0 else int(rng.random() < 0.5)
                for k in range(count):
                    when = self.start - timedelta(days=rng.uniform(low, high))
                    purchases.append(
                        Purchase(
                            occurred_at=when.replace(microsecond=0),
                            order_id=f"hist-{self.seed}-{index}-{number}-{k}",
                            amount=round(rng.uniform(15.0, 220.0), 2),
                        )
                    )
        purchases.sort(key=lambda p: p.occurred_at)
        lifetime_value = round(sum(p.amount for p in purchases), 2)

        has_phone = phone is not None
        row: dict[str, Any] = {
            "id": customer_id,
            "email": email,
            "phone": phone,
            "first_name": first,
            "last_name": last,
            "timezone": tz,
            "locale": locale,
            "email_consent": rng.random() < 0.92,
            "sms_consent": has_phone and rng.random() < 0.7,
            "whatsapp_consent": has_phone and rng.random() < 0.2,
            "attributes": {
                "lifetime_value": lifetime_value,
                "orders": len(purchases),
                "plan": rng.choices(PLANS, weights=PLAN_WEIGHTS)[0],
                "country": country,
                "signup_source": rng.choices(SIGNUP_SOURCES, weights=SIGNUP_WEIGHTS)[0],
            },
            "created_at": signup_at,
            "updated_at": signup_at,
        }
        tags: list[str] = []
        if rng.random() < 0.3:
            tags.append("newsletter")
        if lifetime_value > 300:
            tags.append("vip")
        if rng.random() < 0.05:
            tags.append("beta_tester")
        return Profile(
            index=index,
            id=customer_id,
            signup_at=signup_at,
            is_new=is_new,
            row=row,
            tags=tuple(tags),
            purchases=tuple(purchases),
        )


def purchase_event(
    customer_id: str, when: datetime, order_id: str, amount: float, source_id: str
) -> dict[str, Any]:
    return {
        "source_id": source_id,
        "customer_id": customer_id,
        "name": "purchase",
        "occurred_at": when,
        "received_at": when,
        "properties": {"order_id": order_id, "amount": amount, "currency": CURRENCY},
        "value": amount,
    }


def write_profiles(conn: Connection, profiles: Sequence[Profile], *, signed_up: bool) -> None:
    """Insert customers, their tags and purchase history (and a ``signed_up`` event when asked)."""
    upsert_customers(conn, (p.row for p in profiles))
    add_tags(conn, ((p.id, tag) for p in profiles for tag in p.tags))
    insert_events(conn, _history_events(profiles, signed_up=signed_up))


def _history_events(profiles: Sequence[Profile], *, signed_up: bool) -> Iterator[dict[str, Any]]:
    for p in profiles:
        if signed_up:
            yield {
                "source_id": f"sim:signup:{p.id}",
                "customer_id": p.id,
                "name": "signed_up",
                "occurred_at": p.signup_at,
                "received_at": p.signup_at,
                "properties": {"source": p.row["attributes"]["signup_source"]},
            }
        for purchase in p.purchases:
            yield purchase_event(
                p.id,
                purchase.occurred_at,
                purchase.order_id,
                purchase.amount,
                f"sim:history:{purchase.order_id}",
            )


def generate_population(
    conn: Connection,
    n: int,
    seed: int,
    start: datetime,
    *,
    new_share: float = DEFAULT_NEW_SHARE,
    signup_span: timedelta = timedelta(days=14),
) -> list[str]:
    """Write the customers who exist at ``start`` (with tags and purchases); return their ids.

    The remaining ``new_share`` of the ``n`` customers sign up during ``signup_span`` after
    ``start``; :class:`~prefect_journeys.simulation.behaviour.BehaviourModel` writes them (give it
    the same :class:`Population`). Deterministic for ``seed``.
    """
    population = Population(n, seed, start, new_share=new_share, signup_span=signup_span)
    return seed_population(conn, population)


def seed_population(conn: Connection, population: Population) -> list[str]:
    """Write ``population``'s existing customers; return their ids."""
    existing = population.existing()
    write_profiles(conn, existing, signed_up=False)
    return [p.id for p in existing]


__all__ = [
    "EMAIL_DOMAINS",
    "Population",
    "Profile",
    "generate_population",
    "seed_population",
    "uk_fiction_phone",
    "us_fiction_phone",
]
