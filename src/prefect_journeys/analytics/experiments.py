"""A/B tests and holdouts: is a variant really better, and is there enough data to say so?

The input is one row per variant: how many enrollments were assigned to it and how many of them
reached the journey goal (``variant``, ``enrollments``, ``conversions``, ``holdout``).
:func:`load_variant_counts` reads it from the store (the ``enrollments`` table), and
:func:`counts_from_events` computes the same from an events frame. Everything else is a pure
function over those counts:

- :func:`wilson_interval` — each variant's conversion rate with a 95% Wilson score interval;
- :func:`newcombe_interval` / :func:`ratio_interval` — the lift over the control (absolute, in
  rate units, and relative), each with its confidence interval;
- :func:`two_proportion_ztest` — the pooled two-sided z-test p-value;
- :func:`prob_best` — the Bayesian probability that each variant has the highest rate;
- :func:`sample_size_per_arm` — the enrollments per arm needed to detect a minimum effect;
- :func:`experiment_table` and :func:`experiment_verdict` put them together, the verdict in plain
  English or Chinese, refusing to call a winner on too little data.

The statistics live in :mod:`.proportions` (intervals, z-test, corrections, sample size),
:mod:`.bayes` (probability to be best, bandit allocation) and :mod:`.verdict`; this module loads
the counts, builds the table and re-exports them all. The engine's ``bandit`` split
(``engine/bandit.py``) allocates traffic with :func:`prob_best` (Thompson sampling
probabilities) through :func:`floored_shares` and :func:`bucket_weights`, and logs each tick's
allocation as an ``experiment.allocation`` event (:func:`allocation_history` reads them back).
Definitions and the references the tests check against: ``docs/metrics.md`` ("Experiments").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, func, select

from prefect_journeys.analytics.bayes import bucket_weights, floored_shares, prob_best
from prefect_journeys.analytics.proportions import (
    Correction,
    adjust_pvalues,
    newcombe_interval,
    ratio_interval,
    sample_size_per_arm,
    two_proportion_ztest,
    wilson_interval,
)
from prefect_journeys.analytics.verdict import Comparison, Locale, Verdict, experiment_verdict
from prefect_journeys.store.models import Enrollment

enrollments_t = Enrollment.__table__  # type: ignore[attr-defined]

HOLDOUT_NAMES: tuple[str, ...] = ("holdout",)
ALLOCATION_EVENT = "experiment.allocation"  # written by the engine's bandit split, once a tick
ALLOCATION_COLUMNS: tuple[str, ...] = (
    "occurred_at",
    "journey_id",
    "journey_version",
    "step_id",
    "variant",
    "holdout",
    "enrollments",
    "conversions",
    "prob_best",
    "share",
    "weight",
)
COUNT_COLUMNS: tuple[str, ...] = ("variant", "enrollments", "conversions", "holdout")

# ----------------------------------------------------------------------------- counts


def _empty_counts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "variant": pd.Series(dtype="object"),
            "enrollments": pd.Series(dtype="int64"),
            "conversions": pd.Series(dtype="int64"),
            "holdout": pd.Series(dtype="bool"),
        }
    )


def _finish_counts(frame: pd.DataFrame, holdouts: Sequence[str]) -> pd.DataFrame:
    if frame.empty:
        return _empty_counts()
    frame = frame.astype({"enrollments": "int64", "conversions": "int64"})
    frame["variant"] = frame["variant"].astype(str)
    frame["holdout"] = frame["variant"].isin(list(holdouts))
    # Controls last, then by name: a stable order for tables and charts.
    frame = frame.sort_values(["holdout", "variant"], kind="stable").reset_index(drop=True)
    return frame[list(COUNT_COLUMNS)]


def load_variant_counts(
    conn: Connection,
    journey_id: str,
    *,
    version: int | None = None,
    holdouts: Sequence[str] = HOLDOUT_NAMES,
) -> pd.DataFrame:
    """Per variant of one journey: enrollments assigned to it and those that reached the goal.

    Read from the ``enrollments`` table (``converted_at`` is set by the engine when the goal event
    happens within the goal window). Enrollments not (yet) split — ``variant`` null — are not
    part of the experiment and are left out. ``version`` restricts to one journey version.
    """
    query = (
        select(
            enrollments_t.c.variant,
            func.count(),
            func.count(enrollments_t.c.converted_at),
        )
        .where(enrollments_t.c.journey_id == journey_id, enrollments_t.c.variant.is_not(None))
        .group_by(enrollments_t.c.variant)
    )
    if version is not None:
        query = query.where(enrollments_t.c.version == version)
    rows = [tuple(r) for r in conn.execute(query)]
    frame = pd.DataFrame.from_records(rows, columns=["variant", "enrollments", "conversions"])
    return _finish_counts(frame, holdouts)


def counts_from_events(
    events: pd.DataFrame, *, holdouts: Sequence[str] = HOLDOUT_NAMES
) -> pd.DataFrame:
    """The same counts from an events frame (columns ``enrollment_id``, ``name``, ``variant``).

    An enrollment's variant is the last non-null ``variant`` on its events (the split sets it;
    events before the split carry none); it converted when it has a ``journey.converted`` event.
    Enrollments with no variant are left out.
    """
    missing = [c for c in ("enrollment_id", "name", "variant") if c not in events.columns]
    if missing:
        raise ValueError(f"events frame lacks column(s): {', '.join(missing)}")
    ids = events["enrollment_id"]
    # the last event with a variant, per enrollment (rows are in recording order)
    split = events.loc[ids.notna() & events["variant"].notna(), ["enrollment_id", "variant"]]
    per = split.drop_duplicates("enrollment_id", keep="last")
    if per.empty:
        return _empty_counts()
    converted_ids = ids[(events["name"] == "journey.converted") & ids.notna()].unique()
    converted = per["enrollment_id"].isin(converted_ids)
    out = (
        converted.groupby(per["variant"].to_numpy(), sort=False)
        .agg(["size", "sum"])
        .rename_axis("variant")
        .reset_index()
    )
    out.columns = ["variant", "enrollments", "conversions"]
    return _finish_counts(out, holdouts)


# ----------------------------------------------------------------------------- the table


def _control_of(counts: pd.DataFrame, control: str | None) -> str | None:
    if counts.empty:
        return None
    if control is not None:
        if control not in set(counts["variant"]):
            raise ValueError(f"control variant {control!r} is not among the variants")
        return control
    holdouts = counts.loc[counts["holdout"], "variant"]
    return str(holdouts.iloc[0]) if len(holdouts) else str(counts["variant"].iloc[0])


def experiment_table(
    counts: pd.DataFrame,
    *,
    control: str | None = None,
    confidence: float = 0.95,
    correction: Correction = "holm",
) -> pd.DataFrame:
    """One row per variant: rate with its Wilson interval, lift over the control (absolute with
    Newcombe's interval, relative with the Katz interval), pooled z-test p-value (raw and
    corrected for the number of comparisons), and the probability to be best.

    The control is ``control``, else the (first) holdout, else the first variant. Its own lift,
    z and p-values are NaN. An empty ``counts`` gives an empty table.
    """
    missing = [c for c in ("variant", "enrollments", "conversions") if c not in counts.columns]
    if missing:
        raise ValueError(f"counts lack column(s): {', '.join(missing)}")
    columns = [
        "variant",
        "holdout",
        "control",
        "enrollments",
        "conversions",
        "rate",
        "rate_low",
        "rate_high",
        "lift_abs",
        "lift_abs_low",
        "lift_abs_high",
        "lift_rel",
        "lift_rel_low",
        "lift_rel_high",
        "z",
        "p_value",
        "p_adjusted",
        "prob_best",
    ]
    if counts.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns}).astype(
            {"variant": "object", "holdout": "bool", "control": "bool"}
        )
    table = counts.reset_index(drop=True).copy()
    if "holdout" not in table:
        table["holdout"] = table["variant"].isin(list(HOLDOUT_NAMES))
    ctrl = _control_of(table, control)
    x = table["conversions"].to_numpy(dtype="float64")
    n = table["enrollments"].to_numpy(dtype="float64")
    is_ctrl = (table["variant"] == ctrl).to_numpy()
    x0 = np.full_like(x, x[is_ctrl][0])
    n0 = np.full_like(n, n[is_ctrl][0])
    table["control"] = is_ctrl
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = x / n
        base = x0 / n0
        table["rate"] = rate
        table["rate_low"], table["rate_high"] = wilson_interval(x, n, confidence)
        table["lift_abs"] = np.where(is_ctrl, np.nan, rate - base)
        low, high = newcombe_interval(x, n, x0, n0, confidence)
        table["lift_abs_low"] = np.where(is_ctrl, np.nan, low)
        table["lift_abs_high"] = np.where(is_ctrl, np.nan, high)
        table["lift_rel"] = np.where(is_ctrl | (base == 0), np.nan, rate / base - 1)
    low, high = ratio_interval(x, n, x0, n0, confidence)
    table["lift_rel_low"] = np.where(is_ctrl, np.nan, low)
    table["lift_rel_high"] = np.where(is_ctrl, np.nan, high)
    z, p = two_proportion_ztest(x, n, x0, n0)
    table["z"] = np.where(is_ctrl, np.nan, z)
    table["p_value"] = np.where(is_ctrl, np.nan, p)
    table["p_adjusted"] = adjust_pvalues(table["p_value"].to_numpy(), correction)
    table["prob_best"] = prob_best(x, n)
    return table[columns]


def journey_experiment(
    conn: Connection,
    journey_id: str,
    *,
    control: str | None = None,
    correction: Correction = "holm",
    mde: float = 0.2,
    relative: bool = True,
    holdouts: Sequence[str] = HOLDOUT_NAMES,
) -> tuple[pd.DataFrame, Verdict]:
    """One journey's experiment from the store: :func:`experiment_table` over
    :func:`load_variant_counts`, and its :func:`experiment_verdict`."""
    table = experiment_table(
        load_variant_counts(conn, journey_id, holdouts=holdouts),
        control=control,
        correction=correction,
    )
    return table, experiment_verdict(table, mde=mde, relative=relative)


# ----------------------------------------------------------------------------- bandit allocation


def allocation_history(events: pd.DataFrame) -> pd.DataFrame:
    """How a bandit split's traffic moved: one row per tick and variant from the
    ``experiment.allocation`` events (other events are ignored).

    ``share`` is the arm's share of the non-holdout traffic (its probability to be best,
    floored); ``weight`` the hash buckets out of 100 it got, i.e. its share of all customers
    reaching the split in percent. Holdouts appear with their fixed weight and no posterior.
    """
    needed = ("name", "occurred_at", "properties")
    missing = [c for c in needed if c not in events.columns]
    if missing:
        raise ValueError(f"events frame lacks column(s): {', '.join(missing)}")
    rows = events.loc[events["name"] == ALLOCATION_EVENT]
    records: list[dict[str, Any]] = []
    nan = float("nan")
    for event in rows.to_dict("records"):  # one row per split per tick: small
        props = event["properties"] or {}
        base = {
            "occurred_at": event["occurred_at"],
            "journey_id": event.get("journey_id"),
            "journey_version": event.get("journey_version"),
            "step_id": event.get("step_id") or props.get("step_id"),
        }
        for arm in props.get("arms", []):
            records.append(
                {
                    **base,
                    "variant": arm["variant"],
                    "holdout": False,
                    "enrollments": arm["enrollments"],
                    "conversions": arm["conversions"],
                    "prob_best": arm["prob_best"],
                    "share": arm["share"],
                    "weight": arm["weight"],
                }
            )
        for hold in props.get("holdouts", []):
            records.append(
                {
                    **base,
                    "variant": hold["variant"],
                    "holdout": True,
                    "enrollments": nan,
                    "conversions": nan,
                    "prob_best": nan,
                    "share": nan,
                    "weight": hold["weight"],
                }
            )
    if not records:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in ALLOCATION_COLUMNS})
    return pd.DataFrame.from_records(records, columns=list(ALLOCATION_COLUMNS))


__all__ = [
    "ALLOCATION_COLUMNS",
    "ALLOCATION_EVENT",
    "COUNT_COLUMNS",
    "HOLDOUT_NAMES",
    "Comparison",
    "Correction",
    "Locale",
    "Verdict",
    "adjust_pvalues",
    "allocation_history",
    "bucket_weights",
    "counts_from_events",
    "experiment_table",
    "experiment_verdict",
    "floored_shares",
    "journey_experiment",
    "load_variant_counts",
    "newcombe_interval",
    "prob_best",
    "ratio_interval",
    "sample_size_per_arm",
    "two_proportion_ztest",
    "wilson_interval",
]
