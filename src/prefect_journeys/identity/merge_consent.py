"""Consent when two profiles merge: never wider than either profile's own choice.

Both consent histories move to the survivor. For every channel and topic, the merged decision is
*granted only if no profile's current decision is a withdrawal* (a decision is the latest record
for the topic or ``*``, else the channel flag). A profile made only for a key (an anonymous id,
an email seen in an event: :func:`~prefect_journeys.identity.keys.generated_id`) with no record
for a channel and the flag off was never asked: it has no say on that channel, so folding such a
profile into a customer does not withdraw the customer's consent.

Where the merged history would otherwise grant — the latest record is a grant from one profile
while the other had withdrawn — a withdrawal record is appended (source ``merge``); the channel
flags are set to the merged channel-wide decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from prefect_journeys.identity.types import CONSENT_FLAGS, CONSENTS

ALL = "*"
Latest = dict[tuple[str, str], tuple[int, bool]]  # (channel, topic) → (record id, granted)


def _latest(conn: Connection, customer_id: str) -> Latest:
    out: Latest = {}
    query = select(CONSENTS.c.id, CONSENTS.c.channel, CONSENTS.c.topic, CONSENTS.c.granted).where(
        CONSENTS.c.customer_id == customer_id
    )
    for record_id, channel, topic, granted in conn.execute(query):
        key = (channel, topic)
        if key not in out or record_id > out[key][0]:
            out[key] = (int(record_id), bool(granted))
    return out


class _Side:
    """One profile's current consent: its latest records and its flags."""

    def __init__(self, latest: Latest, flags: Mapping[str, bool], generated: bool) -> None:
        self.latest = latest
        self.flags = flags
        self.generated = generated

    def decision(self, channel: str, topic: str) -> bool | None:
        """Its decision for channel/topic; None when it was never asked about the channel."""
        best = max(
            (r for r in (self.latest.get((channel, topic)), self.latest.get((channel, ALL))) if r),
            default=None,
        )
        if best is not None:
            return best[1]
        flag = bool(self.flags[channel])
        has_records = any(c == channel for c, _ in self.latest)
        if self.generated and not flag and not has_records:
            return None
        return flag


def merge_consents(
    conn: Connection,
    survivor: tuple[str, Mapping[str, Any], bool],
    loser: tuple[str, Mapping[str, Any], bool],
    now: datetime,
) -> tuple[dict[str, bool], int, int]:
    """Move the loser's records to the survivor, append the withdrawals the rule needs.

    ``survivor``/``loser``: (id, customers row, made only for a key). Returns the merged channel
    flags (column → value), the number of records moved and of withdrawal records appended.
    """
    sides = []
    for customer_id, row, generated in (survivor, loser):
        flags = {channel: bool(row[flag]) for flag, channel in CONSENT_FLAGS.items()}
        sides.append(_Side(_latest(conn, customer_id), flags, generated))
    combined: Latest = {}
    for side in sides:
        for key, record in side.latest.items():
            if key not in combined or record[0] > combined[key][0]:
                combined[key] = record
    moved = conn.execute(
        update(CONSENTS).where(CONSENTS.c.customer_id == loser[0]).values(customer_id=survivor[0])
    ).rowcount
    appended: list[dict[str, Any]] = []
    next_id = max((r[0] for r in combined.values()), default=0) + 1
    merged_flags: dict[str, bool] = {}
    for flag, channel in CONSENT_FLAGS.items():
        topics = sorted({t for c, t in combined if c == channel and t != ALL})
        for topic in (ALL, *topics):
            opinions = [d for d in (s.decision(channel, topic) for s in sides) if d is not None]
            want = all(opinions) if opinions else False
            if topic == ALL:
                merged_flags[flag] = want
            records = [
                r for r in (combined.get((channel, topic)), combined.get((channel, ALL))) if r
            ]
            current = max(records)[1] if records else merged_flags[flag]
            if current and not want:
                combined[(channel, topic)] = (next_id, False)
                next_id += 1
                appended.append(
                    {
                        "customer_id": survivor[0],
                        "channel": channel,
                        "topic": topic,
                        "granted": False,
                        "recorded_at": now,
                        "source": "merge",
                        "actor": None,
                        "text": f"merge of {loser[0]} into {survivor[0]}: a withdrawal is kept",
                    }
                )
    if appended:
        conn.execute(insert(CONSENTS), appended)
    return merged_flags, int(moved or 0), len(appended)


__all__ = ["merge_consents"]
