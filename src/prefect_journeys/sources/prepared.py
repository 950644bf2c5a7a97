"""A batch after mapping, before the suite: the rows to check and the rows already refused.

Row problems found while mapping (an unparseable timestamp or amount, a key that appears twice in
the batch with different values) reject that row only: it is quarantined with the reason and
counted toward the source's threshold, like a row that fails the suite. One bad row must not
block a million good ones; a structurally broken file stops the sync instead (see readers).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from prefect_journeys.sources import values
from prefect_journeys.sources.readers import RawBatch
from prefect_journeys.sources.watermark import Watermark


@dataclass
class Refusals:
    """Rows refused while mapping: reasons per batch position (the quarantine's ``reasons``) and
    how many rows each kind of problem refused (``label``: no values, for reports)."""

    reasons: dict[int, list[str]] = field(default_factory=dict)
    labels: Counter[tuple[str, str | None]] = field(default_factory=Counter)

    def __contains__(self, position: object) -> bool:
        return position in self.reasons

    def __len__(self) -> int:
        return len(self.reasons)

    def add(
        self,
        mask: pd.Series,
        label: str,
        column: str | None,
        reason: str | Callable[[int], str] | None = None,
    ) -> None:
        """Refuse every position where ``mask`` is true; ``reason`` (text or a function of the
        position) defaults to ``label``."""
        hits = mask[mask].index
        for position in hits:
            text = reason(int(position)) if callable(reason) else (reason or label)
            self.reasons.setdefault(int(position), []).append(text)
        if len(hits):
            self.labels[(label, column)] += len(hits)

    def add_positions(self, found: dict[int, list[str]], label: str, column: str | None) -> None:
        for position, texts in found.items():
            self.reasons.setdefault(position, []).extend(texts)
        if found:
            self.labels[(label, column)] += len(found)


@dataclass
class Prepared:
    """``frame`` (the suite's columns, row i ↔ batch position ``positions[i]``), row problems by
    batch position, and what was left out on purpose."""

    batch: RawBatch
    positions: list[int]
    frame: pd.DataFrame
    refused: Refusals = field(default_factory=Refusals)
    keys: dict[int, str | None] = field(default_factory=dict)  # row key (SQL refs) per position
    customers: dict[int, str | None] = field(default_factory=dict)  # customer key per position
    skipped: int = 0  # below the watermark
    collapsed: int = 0  # identical copies of a row earlier in the batch
    superseded: int = 0  # older versions of a customer (by watermark) in the same batch
    watermark: Watermark | None = None
    payload: Any = None  # entity-specific converted columns (indexed by batch position)

    @property
    def considered(self) -> int:
        """Rows this batch decides about: checked plus refused."""
        return len(self.positions) + len(self.refused)

    def ref(self, position: int) -> str:
        return self.batch.ref(position, self.keys.get(position))


def cell_text(value: Any) -> str:
    """A raw cell for a reason text: short, quoted."""
    text = str(values.jsonable(value))
    return repr(text if len(text) <= 40 else text[:37] + "...")


def unparseable(raw: pd.Series, what: str, column: str) -> Callable[[int], str]:
    """A reason naming the cell that could not be read as ``what`` (for non-personal columns:
    timestamps, amounts, watermarks)."""

    def reason(position: int) -> str:
        return f"{column}: cannot read {cell_text(raw.loc[position])} as {what}"

    return reason


def source_row(frame: pd.DataFrame, position: int) -> dict[str, Any]:
    """The source row as JSON (for the quarantine table)."""
    return {str(k): values.jsonable(v) for k, v in frame.loc[position].items()}


def _content(frame: pd.DataFrame, position: int, ignore: set[str]) -> tuple[Any, ...]:
    return tuple(values.jsonable(v) for k, v in frame.loc[position].items() if k not in ignore)


def duplicates(
    batch: RawBatch,
    keys: pd.Series,
    what: str,
    order: pd.Series | None = None,
    ignore: set[str] | None = None,
) -> tuple[set[int], set[int], dict[int, list[str]]]:
    """Copies of a key within a batch: (collapsed, superseded, conflicting → reason).

    Identical copies collapse into the first. With ``order`` (the watermark), older versions
    are superseded by the newest; copies that still differ are a conflict: every copy is
    rejected, because we cannot know which one is right.
    """
    dup = keys.notna() & keys.duplicated(keep=False)
    collapsed: set[int] = set()
    superseded: set[int] = set()
    conflicts: dict[int, list[str]] = {}
    if not dup.any():
        return collapsed, superseded, conflicts
    skip = ignore or set()
    for key, group in keys[dup].groupby(keys[dup], sort=False):
        members = [int(p) for p in group.index]
        if order is not None:
            ranks = order.loc[members]
            if ranks.notna().any():
                newest = ranks.max()
                older = [p for p in members if ranks.loc[p] != newest]
                superseded.update(older)
                members = [p for p in members if p not in older]
        first, rest = members[0], members[1:]
        base = _content(batch.frame, first, skip)
        if all(_content(batch.frame, p, skip) == base for p in rest):
            collapsed.update(rest)
            continue
        where = ", ".join(batch.ref(p) for p in members)
        reason = f"{what} {key!r} appears {len(members)} times in the batch with different values ({where})"
        for position in members:
            conflicts[position] = [reason]
    return collapsed, superseded, conflicts


__all__ = ["Prepared", "Refusals", "cell_text", "duplicates", "source_row", "unparseable"]
