"""Touch paths from events: lookback, one conversion per touch, dedup, null paths, keys, store."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from prefect_journeys.analytics.attribution import attribution_table
from prefect_journeys.analytics.attribution_paths import (
    Paths,
    aggregate_paths,
    build_paths,
    paths_from_store,
    paths_from_table,
)
from prefect_journeys.analytics.frames import empty_events
from prefect_journeys.store.writes import insert_events

T0 = datetime(2026, 3, 1, 8)
J = "welcome"


def ev(customer: str, name: str, day: float, **extra: Any) -> dict[str, Any]:
    row = {
        "seq": 0,
        "customer_id": customer,
        "name": name,
        "occurred_at": T0 + timedelta(days=day),
        "journey_id": J if name.startswith(("message.", "journey.")) else None,
        "step_id": None,
        "variant": None,
        "channel": None,
        "intent_id": None,
        "value": None,
    }
    row.update(extra)
    return row


def touch(
    customer: str, day: float, channel: str, intent: int, kind: str = "delivered", **kw: Any
) -> dict[str, Any]:
    return ev(
        customer,
        f"message.{kind}",
        day,
        channel=channel,
        intent_id=intent,
        step_id=f"s_{channel}",
        **kw,
    )


def rows() -> list[dict[str, Any]]:
    out = [
        # c1: email, (its open), sms, email → purchase + journey.converted at the same instant
        touch("c1", 0, "email", 1),
        touch("c1", 0.1, "email", 1, kind="opened"),
        touch("c1", 1, "sms", 2),
        touch("c1", 2, "email", 3, variant="b"),
        ev("c1", "purchase", 3, value=50.0),
        ev("c1", "journey.converted", 3, value=259200.0),
        # then sms → a second purchase; then an email no conversion follows (null path)
        touch("c1", 4, "sms", 4),
        ev("c1", "purchase", 5, value=20.0),
        touch("c1", 6, "email", 5),
        # c2: a touch 40 days before the purchase: outside the 30-day lookback
        touch("c2", 0, "email", 6),
        ev("c2", "purchase", 40, value=30.0),
        # c3: two sms in a row (two messages), no conversion; a message without a channel
        touch("c3", 0, "sms", 7),
        touch("c3", 1, "sms", 8),
        ev("c3", "message.delivered", 1.5, intent_id=9, step_id="s_x"),
        # noise: events that are neither touches nor conversions
        ev("c3", "message.sent", 1.2, channel="email", intent_id=10),
        ev("c3", "signed_up", 0.5),
    ]
    for i, row in enumerate(out, start=1):
        row["seq"] = i
    return out


def frame(data: list[dict[str, Any]] | None = None) -> pd.DataFrame:
    return pd.DataFrame(data if data is not None else rows())


def as_lists(paths: Paths) -> dict[int, list[str]]:
    grouped = paths.touches.groupby("path_id")["key"].agg(list)
    return dict(zip(grouped.index.tolist(), grouped.tolist(), strict=True))


def described(paths: Paths) -> list[tuple[list[str], float, float, float]]:
    """(keys, conversions, nulls, revenue) per path, in path order."""
    keys = as_lists(paths)
    outcomes = paths.outcomes.sort_index()
    values = outcomes[["conversions", "nulls", "revenue"]].to_numpy(dtype=float).tolist()
    return [
        (keys[pid], conv, nulls, revenue)
        for pid, (conv, nulls, revenue) in zip(outcomes.index.tolist(), values, strict=True)
    ]


def test_paths_by_channel() -> None:
    paths = build_paths(frame())
    assert described(paths) == [
        (["email", "sms", "email"], 1.0, 0.0, 50.0),  # one conversion, not two
        (["sms"], 1.0, 0.0, 20.0),  # touches of the first purchase are not reused
        (["email"], 0.0, 1.0, 0.0),  # c1's touch after the last conversion
        (["sms"], 0.0, 1.0, 0.0),  # c3: repeated sms collapsed; the channel-less one ignored
    ]
    assert paths.total_conversions == 2
    assert paths.total_revenue == 70
    assert paths.unattributed_conversions == 1
    assert paths.unattributed_revenue == 30
    first = paths.touches[paths.touches["path_id"] == paths.outcomes.index[0]]
    assert first["age"].tolist() == [3 * 86400, 2 * 86400, 1 * 86400]  # open at 0.1 not a touch
    assert first["position"].tolist() == [0, 1, 2]
    assert first["length"].tolist() == [3, 3, 3]
    assert paths.keys == ["email", "sms"]


def test_lookback_drops_old_touches_without_making_them_null() -> None:
    paths = build_paths(frame(), lookback=timedelta(days=2.5))
    assert described(paths)[0] == (["sms", "email"], 1.0, 0.0, 50.0)
    assert len(paths.outcomes) == 4
    lists = as_lists(paths)
    assert sorted(map(tuple, lists.values())) == [("email",), ("sms",), ("sms",), ("sms", "email")]


def test_repeats_kept_when_asked_and_latest_of_a_run_is_kept() -> None:
    data = rows()
    paths = build_paths(frame(data), collapse_repeats=False)
    assert described(paths)[-1] == (["sms", "sms"], 0.0, 1.0, 0.0)
    data.append(ev("c3", "purchase", 3, value=5.0))
    collapsed = build_paths(frame(data))
    pid = collapsed.outcomes.index[collapsed.outcomes["revenue"] == 5.0][0]
    conv3 = collapsed.touches[collapsed.touches["path_id"] == pid]
    # one touch: the sms of day 1 (age 2 days) stands for the run of day 0 and day 1
    assert conv3[["key", "age"]].values.tolist() == [["sms", 2 * 86400]]


def test_conversion_events_and_revenue_events_are_configurable() -> None:
    only_goal = build_paths(frame(), conversion_events=["journey.converted"])
    # c1 converts once (day 3) with no revenue: journey.converted's value is a duration
    assert described(only_goal)[0] == (["email", "sms", "email"], 1.0, 0.0, 0.0)
    assert only_goal.total_conversions == 1
    clicks = build_paths(frame(), touch_events=["message.opened"])
    assert described(clicks) == [(["email"], 1.0, 0.0, 50.0)]


def test_step_and_message_keys() -> None:
    step = build_paths(frame(), key="step")
    assert described(step)[0][0] == ["welcome/s_email", "welcome/s_sms", "welcome/s_email"]
    message = build_paths(frame(), key="message")
    assert described(message)[0][0] == [
        "welcome/s_email/-/email",
        "welcome/s_sms/-/sms",
        "welcome/s_email/b/email",
    ]
    # the channel-less message has a step but no channel: a step touch, not a message touch
    assert ["welcome/s_sms", "welcome/s_x"] in list(as_lists(step).values())


def test_empty_and_bad_input() -> None:
    empty = build_paths(empty_events())
    assert empty.empty and empty.total_conversions == 0 and empty.touches.empty
    with pytest.raises(ValueError, match="lookback must be positive"):
        build_paths(frame(), lookback=timedelta(0))
    with pytest.raises(ValueError, match="unknown touch key"):
        build_paths(frame(), key="campaign")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"missing column.*channel"):
        build_paths(frame().drop(columns="channel"))
    with pytest.raises(ValueError, match="both conversion and touch"):
        build_paths(frame(), touch_events=["purchase"])
    everything = frame()
    only_purchases = everything[everything["name"] == "purchase"]
    nothing = build_paths(only_purchases)
    assert nothing.empty and nothing.unattributed_conversions == 3


def test_paths_from_table() -> None:
    table = pd.DataFrame(
        {
            "path": ["a > b > b > a", "b", "c > a"],
            "total_conversions": [2, 1, 0],
            "total_conversion_value": [10.0, 3.0, 0.0],
            "total_null": [1, 4, 2],
        }
    )
    paths = paths_from_table(table)
    assert described(paths) == [
        (["a", "b", "a"], 2.0, 1.0, 10.0),
        (["b"], 1.0, 4.0, 3.0),
        (["c", "a"], 0.0, 2.0, 0.0),
    ]
    assert paths.touches["age"].isna().all()
    raw = paths_from_table(table, collapse_repeats=False)
    assert described(raw)[0][0] == ["a", "b", "b", "a"]
    with pytest.raises(ValueError, match=r"missing column.*total_null"):
        paths_from_table(table.drop(columns="total_null"))


def test_paths_from_store_match_the_frame(engine: Engine) -> None:
    data = rows()
    data.append(touch("c4", 1, "email", 11, journey_id="other"))
    data.append(ev("c4", "purchase", 2, value=7.0))
    data.append(ev("c4", "journey.converted", 2.5, journey_id="other"))
    for row in data:
        row["source_id"] = (
            f"s{row.pop('seq')}-{row['name']}-{row['customer_id']}-{row['occurred_at']}"
        )
    with engine.begin() as conn:
        insert_events(conn, data)
    with engine.connect() as conn:
        everything = paths_from_store(conn)
        welcome = paths_from_store(conn, journey_id=J)
        later = paths_from_store(conn, journey_id=J, since=T0 + timedelta(days=4))
    assert sorted(map(tuple, (p[0] for p in described(everything)))) == [
        ("email",),
        ("email",),  # c4: purchase on day 2 (its journey.converted on 2.5 has no touch left)
        ("email", "sms", "email"),
        ("sms",),
        ("sms",),
    ]
    assert everything.total_revenue == 77
    assert everything.unattributed_conversions == 2  # c2 (too old) and c4's day-2.5 goal
    assert described(welcome) == described(build_paths(frame()))
    assert welcome.unattributed_conversions == 2  # c2, and c4's purchase (no welcome touch)
    # From day 4: the day-5 purchase keeps only its own sms (day 4) — the touches of the day-3
    # purchase were read (lookback) and claimed by it, and that path ends before the period.
    # c3's null path ends on day 1: before the period.
    assert described(later) == [(["sms"], 1.0, 0.0, 20.0), (["email"], 0.0, 1.0, 0.0)]
    assert later.unattributed_conversions == 1  # c2's purchase on day 40


def naive_paths(
    data: pd.DataFrame, lookback: timedelta
) -> list[tuple[tuple[str, ...], tuple[float, ...], float, float]]:
    """The path rules written the slow, obvious way: one customer, one touch at a time."""
    out = []
    for _, events in data.sort_values(["occurred_at", "seq"]).groupby("customer_id"):
        conversions: dict[datetime, float] = {}
        for row in events.itertuples():
            if row.name in ("purchase", "journey.converted"):
                value = row.value if row.name == "purchase" else 0.0
                conversions[row.occurred_at] = conversions.get(row.occurred_at, 0.0) + value
        times = sorted(conversions)
        seen: set[Any] = set()
        claimed: dict[Any, list[tuple[str, datetime]]] = {}
        for row in events.itertuples():
            if not row.name.startswith("message.") or row.name == "message.sent":
                continue
            if pd.isna(row.channel) or row.intent_id in seen:
                continue
            seen.add(row.intent_id)
            conv = next((t for t in times if t >= row.occurred_at), None)
            if conv is None or conv - row.occurred_at <= lookback:
                claimed.setdefault(conv, []).append((row.channel, row.occurred_at))
        for conv, touches in claimed.items():
            end = conv if conv is not None else touches[-1][1]
            touches = [t for t in touches if end - t[1] <= lookback]
            runs = [
                t
                for i, t in enumerate(touches)
                if i + 1 == len(touches) or touches[i + 1][0] != t[0]
            ]
            keys = tuple(k for k, _ in runs)
            ages = tuple((end - t).total_seconds() for _, t in runs)
            converted = 1.0 if conv is not None else 0.0
            out.append((keys, ages, converted, conversions.get(conv, 0.0) if conv else 0.0))
    return sorted(out)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_vectorised_paths_equal_the_naive_rules(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    names = ["message.delivered", "message.opened", "message.clicked", "message.sent"]
    names += ["purchase", "journey.converted", "signed_up"]
    name = rng.choice(names, size=n, p=[0.35, 0.15, 0.1, 0.1, 0.1, 0.1, 0.1])
    days = rng.integers(0, 120 * 4, size=n) / 4  # quarter days: same-instant events happen
    data = pd.DataFrame(
        {
            "seq": rng.permutation(n),
            "customer_id": rng.choice([f"c{i}" for i in range(60)], size=n),
            "name": name,
            "occurred_at": [T0 + timedelta(days=float(d)) for d in days],
            "journey_id": J,
            "step_id": "s",
            "variant": None,
            "channel": rng.choice(["email", "sms", "push", None], size=n, p=[0.4, 0.35, 0.2, 0.05]),
            "intent_id": rng.integers(0, 900, size=n),
            "value": np.round(rng.random(n) * 100, 2),
        }
    )
    data.loc[~data["name"].str.startswith("message."), ["channel", "intent_id"]] = None
    lookback = timedelta(days=10)
    paths = build_paths(data, lookback=lookback)
    ages = paths.touches.groupby("path_id")["age"].agg(tuple)
    keys = paths.touches.groupby("path_id")["key"].agg(tuple)
    got = sorted(
        (keys[pid], ages[pid], float(o["conversions"]), float(o["revenue"]))
        for pid, o in paths.outcomes.iterrows()
    )
    expected = naive_paths(data, lookback)
    assert len(got) > 100
    assert [g[:3] for g in got] == [e[:3] for e in expected]
    assert [g[3] for g in got] == pytest.approx([e[3] for e in expected])


def test_aggregated_paths_read_back_to_the_same_attribution() -> None:
    data = rows()
    data += [
        touch("c5", 1, "sms", 20),
        touch("c5", 2, "email", 21),
        ev("c5", "purchase", 3, value=9.0),
    ]
    paths = build_paths(frame(data))
    compact = aggregate_paths(paths)
    assert compact.to_dict("records") == [
        {
            "path": "email",
            "total_conversions": 0.0,
            "total_conversion_value": 0.0,
            "total_null": 1.0,
        },
        {
            "path": "email > sms > email",
            "total_conversions": 1.0,
            "total_conversion_value": 50.0,
            "total_null": 0.0,
        },
        {
            "path": "sms",
            "total_conversions": 1.0,
            "total_conversion_value": 20.0,
            "total_null": 1.0,
        },
        {
            "path": "sms > email",
            "total_conversions": 1.0,
            "total_conversion_value": 9.0,
            "total_null": 0.0,
        },
    ]
    models = ["first_touch", "last_touch", "linear", "position_based", "markov", "shapley"]
    pd.testing.assert_frame_equal(
        attribution_table(paths_from_table(compact), models=models),
        attribution_table(paths, models=models),
    )
    assert aggregate_paths(build_paths(empty_events())).empty
