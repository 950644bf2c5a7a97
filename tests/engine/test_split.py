"""Split: md5 buckets of (journey, step, customer) give stable variants in the given proportions."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from helpers import customers, enrollments, intents, plan_of, run_at, variant_of, when
from sqlalchemy import Engine

JOURNEY = """
id: split_test
entry: {segment: {attribute: email_consent, op: "=", value: true}}
steps:
  - id: ab
    split:
      - {variant: a, weight: 50, next: send_a}
      - {variant: b, weight: 30, next: send_b}
      - {variant: holdout, weight: 20}
  - id: send_a
    send: {channel: email, template: hello}
  - id: send_b
    send: {channel: email, template: discount, data: {percent: 5}}
"""
WEIGHTS = [("a", 50), ("b", 30), ("holdout", 20)]
N = 2000


def test_split_proportions_and_determinism(engine: Engine, tmp_path: Path) -> None:
    plan = plan_of(tmp_path, JOURNEY)
    ids = [f"s{i:04d}" for i in range(N)]
    customers(engine, *ids)
    run_at(engine, plan, when(2, 9))
    got = {e["customer_id"]: e["variant"] for e in enrollments(engine)}
    # Exactly the Python md5 bucket: the same on both backends and on any re-run.
    assert got == {c: variant_of("split_test", "ab", c, WEIGHTS) for c in ids}
    counts = Counter(got.values())
    for variant, weight in WEIGHTS:
        assert abs(counts[variant] / N - weight / 100) < 0.035, counts
    sent = Counter(i["step_id"] for i in intents(engine, status="sent"))
    assert sent == {"send_a": counts["a"], "send_b": counts["b"]}
    variants = {i["customer_id"]: i["variant"] for i in intents(engine)}
    assert all(got[c] == v for c, v in variants.items())
    # Replaying the tick changes nothing.
    run_at(engine, plan, when(2, 9))
    assert {e["customer_id"]: e["variant"] for e in enrollments(engine)} == got
    assert len(intents(engine)) == counts["a"] + counts["b"]
