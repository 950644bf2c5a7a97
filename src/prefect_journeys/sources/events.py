"""Event batches: source columns → the ``events`` suite frame → event rows for the store.

Each stored event gets a deterministic ``source_id`` so a re-run (or an overlapping watermark)
never stores it twice: ``<source>:<event id>`` when the source has an event id column, else
``<source>:order:<order id>`` for purchases, else ``<source>:h:<hash>`` of (customer key,
anonymous id, name, timestamp, properties). Purchases (rows named ``purchase.event``) carry their
amount as ``value`` and ``order_id``, ``currency`` and ``amount`` in their properties.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from prefect_journeys.sources import values
from prefect_journeys.sources.model import EventSource
from prefect_journeys.sources.prepared import Prepared, Refusals, duplicates, unparseable
from prefect_journeys.sources.readers import RawBatch
from prefect_journeys.sources.watermark import Window

SUITE_COLUMNS = ("customer_key", "name", "timestamp", "amount", "currency", "order_id")
SOURCE_ID_MAX = 300


@dataclass
class EventColumns:
    """Converted columns, indexed by batch position (kept rows only)."""

    customers: pd.Series  # external customer keys (None when the row has only an anonymous id)
    anonymous: pd.Series
    previous: pd.Series
    names: pd.Series
    times: pd.Series  # datetime64[ns], naive UTC
    event_ids: pd.Series
    purchase: pd.Series  # bool
    amounts: pd.Series  # float, NaN when absent
    currencies: pd.Series
    orders: pd.Series
    properties: dict[str, pd.Series]


def _none(index: pd.Index) -> pd.Series:
    return pd.Series([None] * len(index), index=index, dtype=object)


def prepare(source: EventSource, batch: RawBatch, window: Window) -> Prepared:
    """Map, convert and de-duplicate one batch; the suite frame holds the rows left to check."""
    frame = batch.frame.loc[window.keep]
    index = frame.index
    cols = source.columns
    refused = Refusals()
    if source.watermark is not None and source.watermark.column != cols.timestamp:
        column = source.watermark.column
        refused.add(
            window.bad,
            "watermark: not a time or number",
            column,
            unparseable(batch.frame[column], "a time or number", "watermark"),
        )
    customers = values.keys(frame[cols.customer]) if cols.customer else _none(index)
    anonymous = values.keys(frame[cols.anonymous_id]) if cols.anonymous_id else _none(index)
    previous = values.keys(frame[cols.previous_id]) if cols.previous_id else _none(index)
    if cols.name:
        names = values.texts(frame[cols.name])
    else:
        names = pd.Series([source.event_name] * len(index), index=index, dtype=object)
    times, bad_times = values.times(frame[cols.timestamp], source.timestamp_timezone)
    refused.add(
        bad_times,
        "timestamp: not a time (ISO 8601)",
        "timestamp",
        unparseable(frame[cols.timestamp], "a time (ISO 8601)", "timestamp"),
    )
    event_ids = values.keys(frame[cols.id]) if cols.id else _none(index)
    purchase = pd.Series(False, index=index)
    amounts = pd.Series(np.nan, index=index, dtype="float64")
    currencies = _none(index)
    orders = _none(index)
    spec = source.purchase
    if spec is not None:
        purchase = (names == spec.event).fillna(False).astype(bool)
        amounts, bad_amounts = values.numbers(frame[spec.amount])
        refused.add(
            bad_amounts,
            "amount: not a number",
            "amount",
            unparseable(frame[spec.amount], "an amount", "amount"),
        )
        if spec.currency:
            text = values.texts(frame[spec.currency])
            currencies = text.str.upper().astype(object).where(text.notna(), None)
        if spec.order_id:
            orders = values.keys(frame[spec.order_id])
    properties: dict[str, pd.Series] = {}
    for name, prop in source.properties.items():
        converted, bad = values.typed(frame[prop.column], prop.type, source.timestamp_timezone)
        properties[name] = converted
        refused.add(bad, f"properties.{name}: not {values.TYPE_WORDS[prop.type]}", prop.column)
    for what, values_, limit in (
        ("name", names, 120),
        ("customer_key", customers, 200),
        ("anonymous_id", anonymous, 320),
        ("previous_id", previous, 200),
    ):
        long = values.too_long(values_, limit)
        refused.add(long, f"{what}: longer than {limit} characters", what)
    columns = EventColumns(
        customers,
        anonymous,
        previous,
        names,
        times,
        event_ids,
        purchase,
        amounts,
        currencies,
        orders,
        properties,
    )
    dedupe = event_ids if cols.id else orders.where(purchase, None)
    candidates = dedupe[[p not in refused for p in dedupe.index]] if len(refused) else dedupe
    what = "event id" if cols.id else "order id"
    collapsed, _superseded, conflicts = duplicates(batch, candidates, what)
    column = "id" if cols.id else "order_id"
    refused.add_positions(conflicts, f"{what}: appears in the batch with different values", column)
    positions = [int(p) for p in index if int(p) not in refused and int(p) not in collapsed]
    key_of = customers.where(customers.notna(), anonymous)
    suite_frame = pd.DataFrame(
        {
            "customer_key": key_of.loc[positions].to_numpy(dtype=object),
            "name": names.loc[positions].to_numpy(dtype=object),
            "timestamp": times.loc[positions].to_numpy(dtype="datetime64[ns]"),
            "amount": amounts.loc[positions].to_numpy(dtype="float64"),
            "currency": currencies.loc[positions].to_numpy(dtype=object),
            "order_id": orders.loc[positions].to_numpy(dtype=object),
        }
    )
    ref_keys = event_ids.where(event_ids.notna(), orders) if source.kind == "sql" else key_of
    return Prepared(
        batch=batch,
        positions=positions,
        frame=suite_frame,
        refused=refused,
        keys=dict(zip(index.tolist(), ref_keys.tolist(), strict=True)),
        customers=dict(zip(index.tolist(), key_of.tolist(), strict=True)),
        skipped=int((~window.keep).sum()),
        collapsed=len(collapsed),
        watermark=window.mark,
        payload=columns,
    )


def customer_keys(prepared: Prepared, positions: list[int]) -> tuple[set[str], set[str]]:
    """(external customer keys, anonymous ids of rows without a customer key)."""
    columns: EventColumns = prepared.payload
    customers = columns.customers.loc[positions]
    anonymous = columns.anonymous.loc[positions]
    external = {k for k in customers.tolist() if k is not None}
    anonymous_only = {
        a for a, c in zip(anonymous.tolist(), customers.tolist(), strict=True) if c is None and a
    }
    return external, anonymous_only


def alias_pairs(prepared: Prepared, positions: list[int]) -> list[tuple[str, str]]:
    """Distinct (earlier id, customer key) pairs: rows with ``previous_id``, and rows that carry
    both an anonymous id and a customer key (the visitor identified themselves)."""
    columns: EventColumns = prepared.payload
    customers = columns.customers.loc[positions].tolist()
    pairs: dict[tuple[str, str], None] = {}
    for other in (
        columns.previous.loc[positions].tolist(),
        columns.anonymous.loc[positions].tolist(),
    ):
        for earlier, key in zip(other, customers, strict=True):
            if earlier and key and earlier != key:
                pairs[(earlier, key)] = None
    return list(pairs)


def _hash_id(source_id: str, parts: tuple[Any, ...]) -> str:
    digest = hashlib.sha1(json.dumps(parts, default=str, sort_keys=True).encode()).hexdigest()
    return f"{source_id}:h:{digest}"


def _bounded(source_id: str, text: str) -> str:
    if len(text) <= SOURCE_ID_MAX:
        return text
    return f"{source_id}:x:{hashlib.sha1(text.encode()).hexdigest()}"


@dataclass
class EventRows:
    """Events ready for the store, as columns (``properties`` are dicts)."""

    source_ids: list[str]
    customer_ids: list[str]
    names: list[str]
    occurred_at: list[Any]
    properties: list[dict[str, Any]]
    values: list[float | None]

    def __len__(self) -> int:
        return len(self.source_ids)

    def dicts(self) -> list[dict[str, Any]]:
        return [
            {
                "source_id": s,
                "customer_id": c,
                "name": n,
                "occurred_at": t,
                "properties": p,
                "value": v,
            }
            for s, c, n, t, p, v in zip(
                self.source_ids,
                self.customer_ids,
                self.names,
                self.occurred_at,
                self.properties,
                self.values,
                strict=True,
            )
        ]


def _properties(c: EventColumns, positions: list[int], purchase: pd.Series) -> list[dict[str, Any]]:
    """Each row's properties; purchases add ``order_id``, ``currency`` and ``amount``."""
    count = len(positions)
    names = list(c.properties)
    cells = [c.properties[n].loc[positions].tolist() for n in names]
    if len(names) == 1:
        (name,), (column,) = names, cells
        base: list[dict[str, Any]] = [{name: v} for v in column]
    elif names:
        base = [dict(zip(names, row, strict=True)) for row in zip(*cells, strict=True)]
    else:
        base = [{} for _ in range(count)]
    if purchase.any():
        amounts = c.amounts.loc[positions].tolist()
        orders = c.orders.loc[positions].tolist()
        currencies = c.currencies.loc[positions].tolist()
        for i in np.flatnonzero(purchase.to_numpy()).tolist():
            amount = amounts[i]
            base[i] = {
                **base[i],
                "order_id": orders[i],
                "currency": currencies[i],
                "amount": None if amount != amount else float(amount),
            }
    return base


def event_rows(
    source: EventSource,
    prepared: Prepared,
    positions: list[int],
    profile_of: dict[str, str],
    anonymous_profile_of: dict[str, str],
) -> EventRows:
    """Store-ready events (``customer_id`` resolved) for the accepted positions; rows whose key
    did not resolve are left out (after ``resolve_keys(create=True)`` there are none)."""
    c: EventColumns = prepared.payload
    customers = c.customers.loc[positions]
    owner = customers.map(profile_of)
    if anonymous_profile_of:
        owner = owner.where(owner.notna(), c.anonymous.loc[positions].map(anonymous_profile_of))
    purchase = c.purchase.loc[positions].reset_index(drop=True)
    properties = _properties(c, positions, purchase)
    amounts = c.amounts.loc[positions]
    values = [
        None if (not p or a != a) else float(a)
        for p, a in zip(purchase.tolist(), amounts.tolist(), strict=True)
    ]
    names = c.names.loc[positions]
    stamps = c.times.loc[positions]
    ids = _source_ids(source, c, positions, purchase, names, stamps, properties)
    keep = owner.notna().to_numpy()
    rows = EventRows(
        ids,
        owner.tolist(),
        names.tolist(),
        stamps.dt.to_pydatetime().tolist(),
        properties,
        values,
    )
    if keep.all():
        return rows
    picked = np.flatnonzero(keep).tolist()
    return EventRows(
        [rows.source_ids[i] for i in picked],
        [rows.customer_ids[i] for i in picked],
        [rows.names[i] for i in picked],
        [rows.occurred_at[i] for i in picked],
        [rows.properties[i] for i in picked],
        [rows.values[i] for i in picked],
    )


def _source_ids(
    source: EventSource,
    c: EventColumns,
    positions: list[int],
    purchase: pd.Series,
    names: pd.Series,
    stamps: pd.Series,
    properties: list[dict[str, Any]],
) -> list[str]:
    """``<source>:<event id>``, else ``<source>:order:<order id>`` for purchases, else a hash."""
    event_ids = c.event_ids.loc[positions].reset_index(drop=True)
    orders = c.orders.loc[positions].reset_index(drop=True)
    out = pd.Series([None] * len(positions), dtype=object)
    given = event_ids.notna()
    out[given] = f"{source.id}:" + event_ids[given].astype(str)
    by_order = ~given & purchase & orders.notna()
    out[by_order] = f"{source.id}:order:" + orders[by_order].astype(str)
    ids: list[Any] = out.tolist()
    missing = [i for i, v in enumerate(ids) if v is None]
    if missing:
        customers = c.customers.loc[positions].tolist()
        anonymous = c.anonymous.loc[positions].tolist()
        name_list = names.tolist()
        iso = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").tolist()
        for i in missing:
            ids[i] = _hash_id(
                source.id, (customers[i], anonymous[i], name_list[i], iso[i], properties[i])
            )
    return [v if len(v) <= SOURCE_ID_MAX else _bounded(source.id, v) for v in ids]


__all__ = ["SUITE_COLUMNS", "EventRows", "alias_pairs", "customer_keys", "event_rows", "prepare"]
