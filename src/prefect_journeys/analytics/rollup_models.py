"""Snapshots of heavier models (attribution, CLV, ...) kept fresh by the rollup flow.

A model is a function ``fn(conn, journey_id, as_of, **params) -> JSON-able`` registered under a
name with :func:`register_model`. Per-journey models run once per journey found in the rollups;
global ones once with ``journey_id='*'``. :func:`refresh_models` recomputes a snapshot when the
events it covers changed since it was taken (the highest ``seq`` folded into the rollups for
that journey, or overall for ``'*'``), but not more often than the model's ``min_interval``.
Readers call :func:`latest_snapshot`: the dashboard shows the stored result and its ``as_of``.

Modules that register models are listed in :data:`MODEL_MODULES` (imported by
:func:`load_models`); add yours there.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select

from prefect_journeys.store.database import utcnow
from prefect_journeys.store.models import ModelSnapshot, RollupDaily

snapshots_t = ModelSnapshot.__table__  # type: ignore[attr-defined]
rollup_t = RollupDaily.__table__  # type: ignore[attr-defined]

ALL_JOURNEYS = "*"
DEFAULT_MIN_INTERVAL = timedelta(minutes=15)
ModelFn = Callable[..., Any]
MODEL_MODULES: tuple[str, ...] = ("prefect_journeys.analytics.rollup_models",)


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: how to compute it and how often at most."""

    name: str
    fn: ModelFn
    per_journey: bool = True
    params: Mapping[str, Any] = field(default_factory=dict)
    min_interval: timedelta = DEFAULT_MIN_INTERVAL

    @property
    def params_hash(self) -> str:
        return params_hash(self.params)


_REGISTRY: dict[str, ModelSpec] = {}


def params_hash(params: Mapping[str, Any] | None) -> str:
    """A stable hash of a model's parameters (sorted JSON, sha256)."""
    data = json.dumps(dict(params or {}), sort_keys=True, default=str)
    return hashlib.sha256(data.encode()).hexdigest()


def register_model(
    name: str,
    fn: ModelFn,
    *,
    per_journey: bool = True,
    params: Mapping[str, Any] | None = None,
    min_interval: timedelta = DEFAULT_MIN_INTERVAL,
) -> ModelSpec:
    """Register (or replace) the model ``name``; ``params`` are passed to ``fn`` as keywords."""
    if not name:
        raise ValueError("a model needs a name")
    if min_interval < timedelta(0):
        raise ValueError(f"min_interval must not be negative, got {min_interval}")
    spec = ModelSpec(name, fn, per_journey, dict(params or {}), min_interval)
    _REGISTRY[name] = spec
    return spec


def unregister_model(name: str) -> None:
    _REGISTRY.pop(name, None)


def registered_models() -> list[ModelSpec]:
    return list(_REGISTRY.values())


def load_models(modules: Sequence[str] = MODEL_MODULES) -> list[ModelSpec]:
    """Import the modules that register models (a missing one is skipped); the registry."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            continue
    return registered_models()


def journey_watermarks(conn: Connection) -> dict[str, int]:
    """Per journey (and ``'*'`` overall): the highest event ``seq`` in its rollups."""
    rows = conn.execute(
        select(rollup_t.c.journey_id, func.max(rollup_t.c.last_seq)).group_by(rollup_t.c.journey_id)
    ).all()
    marks = {str(j): int(m) for j, m in rows}
    overall = max(marks.values(), default=0)
    marks = {j: m for j, m in marks.items() if j}
    marks[ALL_JOURNEYS] = overall
    return marks


def latest_snapshot(
    conn: Connection,
    model: str,
    journey_id: str = ALL_JOURNEYS,
    params: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The stored snapshot (``result``, ``as_of``, ``watermark``, ``computed_at``) or None."""
    row = (
        conn.execute(
            select(snapshots_t).where(
                snapshots_t.c.model == model,
                snapshots_t.c.journey_id == journey_id,
                snapshots_t.c.params_hash == params_hash(params),
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


def _store(conn: Connection, spec: ModelSpec, journey_id: str, values: dict[str, Any]) -> None:
    conn.execute(
        delete(snapshots_t).where(
            snapshots_t.c.model == spec.name,
            snapshots_t.c.journey_id == journey_id,
            snapshots_t.c.params_hash == spec.params_hash,
        )
    )
    conn.execute(
        insert(snapshots_t).values(
            model=spec.name,
            journey_id=journey_id,
            params_hash=spec.params_hash,
            params=dict(spec.params),
            **values,
        )
    )


def refresh_models(
    engine: Engine,
    *,
    now: datetime | None = None,
    as_of: datetime | None = None,
    force: bool = False,
    names: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Recompute the snapshots that are behind the rollups; one outcome per model × journey.

    Outcomes: ``refreshed``, ``current`` (no new events), ``too_soon`` (within the model's
    ``min_interval``) or ``failed`` (with ``error``; the other models still run).
    """
    moment = now or utcnow()
    at = as_of or moment
    specs = [s for s in registered_models() if names is None or s.name in names]
    with engine.connect() as conn:
        marks = journey_watermarks(conn)
    outcomes: list[dict[str, Any]] = []
    for spec in specs:
        journeys = [j for j in marks if j != ALL_JOURNEYS] if spec.per_journey else [ALL_JOURNEYS]
        for journey in sorted(journeys):
            outcome = {"model": spec.name, "journey_id": journey, "watermark": marks[journey]}
            with engine.connect() as conn:
                snap = latest_snapshot(conn, spec.name, journey, spec.params)
            if not force and snap is not None and int(snap["watermark"]) >= marks[journey]:
                outcomes.append({**outcome, "outcome": "current"})
                continue
            if not force and snap is not None and moment - snap["computed_at"] < spec.min_interval:
                outcomes.append({**outcome, "outcome": "too_soon"})
                continue
            try:
                with engine.begin() as conn:
                    result = spec.fn(conn, journey, at, **spec.params)
                    json.dumps(result)  # JSON-able, or a clear failure here
                    _store(
                        conn,
                        spec,
                        journey,
                        {
                            "as_of": at,
                            "watermark": marks[journey],
                            "result": result,
                            "computed_at": moment,
                        },
                    )
            except Exception as exc:
                outcomes.append(
                    {**outcome, "outcome": "failed", "error": f"{type(exc).__name__}: {exc}"}
                )
                continue
            outcomes.append({**outcome, "outcome": "refreshed"})
    return outcomes


def _journey_report_model(conn: Connection, journey_id: str, as_of: datetime) -> dict[str, Any]:
    """The demo report of one journey (from the event log), as the dashboard's fallback."""
    from prefect_journeys.analytics.report import journey_report

    return journey_report(conn, journey_id)


register_model("journey_report", _journey_report_model)

__all__ = [
    "ALL_JOURNEYS",
    "MODEL_MODULES",
    "ModelSpec",
    "journey_watermarks",
    "latest_snapshot",
    "load_models",
    "params_hash",
    "refresh_models",
    "register_model",
    "registered_models",
    "unregister_model",
]
