"""Ordered funnels: hand-computed edge cases, and real ClickHouse (chdb) as the oracle."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from prefect_journeys.analytics.funnel import (
    FunnelStep,
    as_steps,
    funnel_levels,
    ordered_funnel,
)

T0 = datetime(2026, 3, 2, 9)


def frame(rows: list[tuple[str, str, float]], **extra: list[Any]) -> pd.DataFrame:
    """(customer, event name, seconds after T0) rows, plus optional extra columns."""
    out = pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "name": [r[1] for r in rows],
            "occurred_at": [T0 + timedelta(seconds=r[2]) for r in rows],
        }
    )
    for key, values in extra.items():
        out[key] = values
    return out


def levels(rows: list[tuple[str, str, float]], steps: list[Any], window: float, **kw: Any) -> dict:
    got = funnel_levels(frame(rows), steps, window, **kw)
    return dict(zip(got["customer_id"], got["level"], strict=True))


ABC = ["A", "B", "C"]


# --- hand cases --------------------------------------------------------------------------


def test_window_edge_is_inside() -> None:
    rows = [("u", "A", 0), ("u", "B", 10), ("u", "C", 20)]
    assert levels(rows, ABC, 20) == {"u": 3}  # C exactly at start + window counts
    assert levels(rows, ABC, 19.999) == {"u": 2}
    assert levels(rows, ABC, 0) == {"u": 1}


def test_ties_count_in_step_order_whatever_the_arrival_order() -> None:
    rows = [("u", "C", 5), ("u", "B", 5), ("u", "A", 5)]  # all at once, arrived backwards
    assert levels(rows, ABC, 0) == {"u": 3}
    rows = [("u", "B", 0), ("u", "A", 1), ("u", "C", 2)]  # B before A: no chain A→B
    assert levels(rows, ABC, 60) == {"u": 1}


def test_first_vs_any_semantics() -> None:
    # First A at 0 goes nowhere within 60 s; a later A at 100 reaches C.
    rows = [("u", "A", 0), ("u", "A", 100), ("u", "B", 110), ("u", "C", 150)]
    assert levels(rows, ABC, 60, semantics="first") == {"u": 1}
    assert levels(rows, ABC, 60, semantics="any") == {"u": 3}
    # The window counts from the start of the chain, not from the previous step.
    rows = [("u", "A", 0), ("u", "B", 50), ("u", "C", 100)]
    assert levels(rows, ABC, 60, semantics="any") == {"u": 2}


def test_repeated_steps_and_a_funnel_that_repeats_an_event() -> None:
    rows = [("u", "A", 0), ("u", "A", 1), ("u", "B", 2), ("u", "B", 3), ("u", "A", 4)]
    assert levels(rows, ["A", "B", "A"], 10) == {"u": 3}
    assert levels(rows[:4], ["A", "B", "A"], 10) == {"u": 2}


def test_strict_order_breaks_on_other_events_and_early_steps() -> None:
    rows = [("u", "A", 0), ("u", "B", 1), ("u", "D", 2), ("u", "C", 3)]
    assert levels(rows, ABC, 10) == {"u": 3}
    assert levels(rows, ABC, 10, strict_order=True) == {"u": 2}
    # An unrelated event before the first A does not matter.
    rows = [("u", "D", 0), ("u", "A", 1), ("u", "B", 2), ("u", "C", 3)]
    assert levels(rows, ABC, 10, strict_order=True) == {"u": 3}
    # C before B (after A) breaks the chain.
    rows = [("u", "A", 0), ("u", "C", 1), ("u", "B", 2), ("u", "C", 3)]
    assert levels(rows, ABC, 10) == {"u": 3}
    assert levels(rows, ABC, 10, strict_order=True) == {"u": 1}
    assert levels(rows, ABC, 10, strict_order=True, semantics="first") == {"u": 1}


def test_property_filters_and_column_filters() -> None:
    events = frame(
        [("u", "view", 0), ("u", "purchase", 5), ("v", "view", 0), ("v", "purchase", 5)],
        properties=[{}, {"plan": "pro"}, {}, {"plan": "free"}],
        channel=[None, "email", None, "email"],
    )
    steps = ["view", {"event": "purchase", "where": {"plan": "pro", "channel": "email"}}]
    got = funnel_levels(events, steps, 60)
    assert got.set_index("customer_id")["level"].to_dict() == {"u": 2, "v": 1}
    assert as_steps(steps)[1].title == "purchase[plan=pro,channel=email]"


def test_ordered_funnel_counts_rates_and_median_times() -> None:
    rows = [
        ("a", "A", 0), ("a", "B", 10), ("a", "C", 40),
        ("b", "A", 0), ("b", "B", 30),
        ("c", "A", 0), ("c", "B", 20), ("c", "C", 30),
        ("d", "A", 0),
        ("e", "B", 0), ("e", "C", 1),  # never started
    ]  # fmt: skip
    got = ordered_funnel(frame(rows), [FunnelStep("A"), "B", FunnelStep("C", label="bought")], 60)
    assert got["step"].tolist() == ["A", "B", "bought"]
    assert got["customers"].tolist() == [4, 3, 2]
    assert np.isnan(got["conversion_from_previous"][0])
    assert got["conversion_from_previous"].tolist()[1:] == [0.75, 2 / 3]
    assert got["conversion_from_first"].tolist() == [1.0, 0.75, 0.5]
    assert got["median_seconds_from_previous"].tolist()[1:] == [20.0, 20.0]  # (10,30,20), (30,10)
    assert got["median_seconds_from_first"].tolist()[1:] == [20.0, 35.0]  # (10,30,20), (40,30)


def test_chain_times_are_those_of_the_best_chain() -> None:
    rows = [("u", "A", 0), ("u", "A", 100), ("u", "B", 110)]
    got = funnel_levels(frame(rows), ["A", "B"], 60, semantics="any")
    assert got.loc[0, "step_1_at"] == T0 + timedelta(seconds=100)
    assert got.loc[0, "step_2_at"] == T0 + timedelta(seconds=110)
    got = funnel_levels(frame(rows), ["A", "B"], 60, semantics="first")
    assert got.loc[0, "step_1_at"] == T0 and pd.isna(got.loc[0, "step_2_at"])


def test_empty_and_bad_input() -> None:
    empty = frame([])
    out = ordered_funnel(empty, ABC, 60)
    assert out["customers"].tolist() == [0, 0, 0]
    assert funnel_levels(empty, ABC, 60).empty
    unrelated = funnel_levels(frame([("u", "D", 0), ("v", "E", 1)]), ABC, 60)
    assert unrelated["level"].tolist() == [0, 0]
    with pytest.raises(ValueError, match="non-negative"):
        ordered_funnel(empty, ABC, -1)
    with pytest.raises(ValueError, match="semantics"):
        ordered_funnel(frame([("u", "A", 0)]), ABC, 1, semantics="last")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="missing column"):
        ordered_funnel(pd.DataFrame({"name": ["A"]}), ABC, 1)
    with pytest.raises(ValueError, match="at least one step"):
        ordered_funnel(empty, [], 1)
    with pytest.raises(ValueError, match="properties"):
        ordered_funnel(frame([("u", "A", 0)]), [{"event": "A", "where": {"x": 1}}], 1)


# --- ClickHouse (chdb) as the oracle -----------------------------------------------------

NAMES = np.array(["view", "cart", "checkout", "purchase", "other", "support"])


def generated(seed: int, customers: int = 3000) -> pd.DataFrame:
    """Seeded, realistic-looking sessions: customers view, some add to cart, fewer check out
    and buy, with noise (other events, repeated views, steps out of order), minute-granular
    clocks (many ties) and rows shuffled (out-of-order arrival)."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list[Any]] = {"customer_id": [], "name": [], "sec": [], "plan": []}

    def add(c: int, name: str, t: int) -> None:
        rows["customer_id"].append(f"c{c:05d}")
        rows["name"].append(name)
        rows["sec"].append(t)
        rows["plan"].append(
            str(rng.choice(["pro", "free"], p=[0.7, 0.3])) if name == "purchase" else ""
        )

    gaps = np.array([0, 60, 120, 600, 3600, 86400])
    gap_p = [0.15, 0.35, 0.2, 0.15, 0.1, 0.05]
    for c in range(customers):
        t = int(rng.integers(0, 3 * 86400)) // 60 * 60
        if rng.random() < 0.05:  # never viewed: level 0
            add(c, "support", t)
            add(c, "cart", t + 60)
            continue
        for _ in range(int(rng.integers(1, 4))):  # sessions
            t += int(rng.choice(gaps, p=gap_p))
            for name in NAMES[:4]:
                if name != "view" and rng.random() < 0.3:
                    break
                add(c, str(name), t)
                while rng.random() < 0.2:  # noise: another event, a repeat, a step out of order
                    t += int(rng.choice(gaps, p=gap_p))
                    add(c, str(rng.choice(NAMES)), t)
                t += int(rng.choice(gaps, p=gap_p))
            t += 2 * 86400
    out = pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    out["occurred_at"] = pd.Timestamp(T0) + pd.to_timedelta(out["sec"], unit="s")
    out["properties"] = [{"plan": p} if p else {} for p in out["plan"]]
    return out


STEPS: list[Any] = ["view", "cart", "checkout", {"event": "purchase", "where": {"plan": "pro"}}]
CONDS = "name='view', name='cart', name='checkout', name='purchase' and plan='pro'"


@pytest.fixture(scope="module")
def chdb() -> Any:
    return pytest.importorskip(
        "chdb", reason="chdb (ClickHouse in-process, reference extra) missing"
    )


def clickhouse_levels(
    chdb: Any, data: pd.DataFrame, window: int, option: str = "", first: bool = False
) -> dict:
    params = f"{window}, '{option}'" if option else f"{window}"
    df = data[["customer_id", "name", "sec", "plan"]]  # noqa: F841 (chdb reads it: Python(df))
    cond1 = "name='view'"
    source = "Python(df)"
    if first:  # anchored on the first 'view': step 1 is only the customer's earliest view(s)
        source = "(select *, minIf(sec, name='view') over (partition by customer_id) as t0 from Python(df))"
        cond1 = "name='view' and sec = t0"
    conds = CONDS.replace("name='view'", cond1, 1)
    sql = (
        f"select customer_id, windowFunnel({params})(toUInt64(sec), {conds}) as level "
        f"from {source} group by customer_id"
    )
    result = chdb.query(sql, "DataFrame")
    return dict(zip(result["customer_id"], result["level"].astype(int), strict=True))


@pytest.mark.parametrize("window", [0, 60, 600, 3600, 86400])
@pytest.mark.parametrize("strict_order", [False, True])
def test_any_semantics_equal_clickhouse_window_funnel(
    chdb: Any, window: int, strict_order: bool
) -> None:
    data = generated(seed=window + int(strict_order))
    expected = clickhouse_levels(chdb, data, window, "strict_order" if strict_order else "")
    got = funnel_levels(data, STEPS, window, semantics="any", strict_order=strict_order)
    assert dict(zip(got["customer_id"], got["level"], strict=True)) == expected
    assert len(set(expected.values())) == 5  # every level 0..4 occurs: the data exercises them


@pytest.mark.parametrize("window", [60, 3600, 86400])
def test_first_semantics_equal_clickhouse_anchored_on_the_first_view(
    chdb: Any, window: int
) -> None:
    data = generated(seed=100 + window)
    expected = clickhouse_levels(chdb, data, window, first=True)
    got = funnel_levels(data, STEPS, window, semantics="first")
    assert dict(zip(got["customer_id"], got["level"], strict=True)) == expected
    anyway = funnel_levels(data, STEPS, window, semantics="any")
    assert (anyway["level"].to_numpy() >= got["level"].to_numpy()).all()
    assert (anyway["level"].to_numpy() > got["level"].to_numpy()).any()


def test_hand_edge_cases_agree_with_clickhouse(chdb: Any) -> None:
    cases = [
        [("u", "view", 0), ("u", "cart", 60), ("u", "checkout", 60), ("u", "purchase", 60)],
        [("u", "purchase", 5), ("u", "checkout", 5), ("u", "cart", 5), ("u", "view", 5)],
        [("u", "view", 0), ("u", "cart", 1), ("u", "other", 2), ("u", "checkout", 3)],
        [("u", "view", 0), ("u", "checkout", 1), ("u", "cart", 2), ("u", "checkout", 3)],
        [("u", "view", 0), ("u", "view", 59), ("u", "cart", 60), ("u", "checkout", 119)],
        [("u", "other", 0), ("u", "view", 0), ("u", "cart", 0), ("u", "other", 0)],
    ]
    for rows in cases:
        data = frame(rows)
        data["sec"] = [int(r[2]) for r in rows]
        data["plan"] = ["pro" if r[1] == "purchase" else "" for r in rows]
        data["properties"] = [{"plan": p} if p else {} for p in data["plan"]]
        for option in ("", "strict_order"):
            expected = clickhouse_levels(chdb, data, 60, option)
            got = levels(
                rows, [*STEPS[:3], "purchase"], 60, semantics="any", strict_order=bool(option)
            )
            assert got == expected, (rows, option)
