"""Customer batches: source columns → the ``customers`` suite frame → profile rows.

Emails are normalised with ``identity.normalize.normalize_email`` and phones to E.164 with the
source's ``default_region``; where that fails the suite frame keeps the raw text (so the suite
names the bad value) and the row is refused even if the suite's pattern lets it through — we never
store an address we could not normalise. Consents read ``true/false/yes/no/y/n/1/0`` in any case;
an empty consent cell leaves the stored flag as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from prefect_journeys.identity.normalize import normalize_email, normalize_phone
from prefect_journeys.identity.resolve import ProfileRow
from prefect_journeys.sources import values
from prefect_journeys.sources.model import CustomerSource
from prefect_journeys.sources.prepared import Prepared, Refusals, duplicates, unparseable
from prefect_journeys.sources.readers import RawBatch
from prefect_journeys.sources.watermark import Window

SUITE_COLUMNS = (
    "id",
    "email",
    "phone",
    "timezone",
    "locale",
    "email_consent",
    "sms_consent",
    "whatsapp_consent",
)
TEXT_FIELDS = ("first_name", "last_name", "timezone", "locale")
CONSENTS = ("email_consent", "sms_consent", "whatsapp_consent")
MAX_LENGTH = {
    "id": 200,
    "first_name": 200,
    "last_name": 200,
    "timezone": 64,
    "locale": 32,
    "anonymous_id": 320,
}


@dataclass
class CustomerColumns:
    """Converted columns, indexed by batch position (kept rows only)."""

    ids: pd.Series
    fields: dict[str, pd.Series]  # mapped Customer fields, store-ready
    unnormalised: dict[str, pd.Series]  # email/phone: present but could not be normalised
    attributes: dict[str, pd.Series]
    email_verified: pd.Series
    phone_verified: pd.Series
    anonymous_ids: pd.Series | None


def _flag(
    source: CustomerSource, frame: pd.DataFrame, value: bool | str
) -> tuple[pd.Series, pd.Series]:
    if isinstance(value, bool):
        flag = pd.Series(value, index=frame.index)
        return flag, pd.Series(False, index=frame.index)
    parsed, bad = values.booleans(frame[value])
    return parsed.map(lambda v: v is True).astype(bool), bad


def prepare(source: CustomerSource, batch: RawBatch, window: Window) -> Prepared:
    """Map, convert and de-duplicate one batch; the suite frame holds the rows left to check."""
    frame = batch.frame.loc[window.keep]
    mapping = source.columns.mapped()
    refused = Refusals()
    if source.watermark is not None:
        column = source.watermark.column
        refused.add(
            window.bad,
            "watermark: not a time or number",
            column,
            unparseable(batch.frame[column], "a time or number", "watermark"),
        )
    ids = values.keys(frame[mapping["id"]])
    fields: dict[str, pd.Series] = {}
    suite: dict[str, Any] = {"id": ids}
    unnormalised: dict[str, pd.Series] = {}
    if "email" in mapping:
        raw = values.texts(frame[mapping["email"]])
        normal = raw.map(normalize_email, na_action="ignore").astype(object)
        fields["email"] = normal.where(normal.notna(), None)
        suite["email"] = normal.where(normal.notna(), raw)
        unnormalised["email"] = raw.notna() & normal.isna()
    if "phone" in mapping:
        raw = values.texts(frame[mapping["phone"]])
        region = source.default_region
        normal = raw.map(lambda v: normalize_phone(v, region), na_action="ignore").astype(object)
        fields["phone"] = normal.where(normal.notna(), None)
        suite["phone"] = normal.where(normal.notna(), raw)
        unnormalised["phone"] = raw.notna() & normal.isna()
    for name in TEXT_FIELDS:
        if name in mapping:
            fields[name] = values.texts(frame[mapping[name]])
            if name in SUITE_COLUMNS:
                suite[name] = fields[name]
    for name in CONSENTS:
        if name in mapping:
            parsed, _bad = values.booleans(frame[mapping[name]])
            suite[name] = parsed  # the suite names values that are not booleans
            fields[name] = parsed
    anonymous = values.keys(frame[mapping["anonymous_id"]]) if "anonymous_id" in mapping else None
    lengths: dict[str, pd.Series | None] = {"anonymous_id": anonymous, "id": ids, **fields}
    for name, limit in MAX_LENGTH.items():
        checked = lengths.get(name)
        if checked is not None:
            long = values.too_long(checked, limit)
            refused.add(long, f"{name}: longer than {limit} characters", name)
    attributes: dict[str, pd.Series] = {}
    for name, spec in source.attributes.items():
        converted, bad = values.typed(frame[spec.column], spec.type, source.timestamp_timezone)
        attributes[name] = converted
        refused.add(bad, f"attributes.{name}: not {values.TYPE_WORDS[spec.type]}", spec.column)
    email_verified, bad_ev = _flag(source, frame, source.email_verified)
    phone_verified, bad_pv = _flag(source, frame, source.phone_verified)
    for flag_bad, name in ((bad_ev, "email_verified"), (bad_pv, "phone_verified")):
        refused.add(flag_bad, f"{name}: not a boolean", name)
    columns = CustomerColumns(
        ids, fields, unnormalised, attributes, email_verified, phone_verified, anonymous
    )
    order = window.order.loc[frame.index] if window.order is not None else None
    ignore = set()  # with a watermark, versions are ordered by it, not compared on it
    if source.watermark is not None:
        ignore.add(source.watermark.column)
    candidates = ids[[p not in refused for p in ids.index]] if len(refused) else ids
    collapsed, superseded, conflicts = duplicates(
        batch, candidates, "id", order.loc[candidates.index] if order is not None else None, ignore
    )
    refused.add_positions(conflicts, "id: appears in the batch with different values", "id")
    dropped = collapsed | superseded
    positions = [int(p) for p in frame.index if int(p) not in refused and int(p) not in dropped]
    empty = [None] * len(positions)
    suite_frame = pd.DataFrame(
        {
            c: (suite[c].loc[positions].to_numpy(dtype=object) if c in suite else empty)
            for c in SUITE_COLUMNS
        },
        columns=list(SUITE_COLUMNS),
    )
    keys = dict(zip(ids.index.tolist(), ids.tolist(), strict=True))
    return Prepared(
        batch=batch,
        positions=positions,
        frame=suite_frame,
        refused=refused,
        keys=keys,
        customers=keys,
        skipped=int((~window.keep).sum()),
        collapsed=len(collapsed),
        superseded=len(superseded),
        watermark=window.mark,
        payload=columns,
    )


def unnormalised_reasons(prepared: Prepared) -> dict[int, list[str]]:
    """Rows whose email or phone passed the suite but could not be normalised."""
    columns: CustomerColumns = prepared.payload
    found: dict[int, list[str]] = {}
    for name, mask in columns.unnormalised.items():
        what = "not a valid address" if name == "email" else "not a valid phone number"
        for position in mask[mask].index:
            found.setdefault(int(position), []).append(f"{name}: {what}")
    return found


def profile_rows(prepared: Prepared, positions: list[int]) -> list[ProfileRow]:
    """Profile rows for the accepted positions (store-ready values only; an empty consent cell
    is left out, so the stored flag stays)."""
    columns: CustomerColumns = prepared.payload
    ids = columns.ids.loc[positions].tolist()
    names = list(columns.fields)
    cells = [columns.fields[name].loc[positions].tolist() for name in names]
    consent = [name in CONSENTS for name in names]
    attribute_names = list(columns.attributes)
    attribute_cells = [columns.attributes[n].loc[positions].tolist() for n in attribute_names]
    email_verified = columns.email_verified.loc[positions].tolist()
    phone_verified = columns.phone_verified.loc[positions].tolist()
    anonymous = (
        columns.anonymous_ids.loc[positions].tolist()
        if columns.anonymous_ids is not None
        else [None] * len(positions)
    )
    refs = [prepared.ref(p) for p in positions]
    rows: list[ProfileRow] = []
    for i, external_id in enumerate(ids):
        fields = {
            name: column[i]
            for name, column, flag in zip(names, cells, consent, strict=True)
            if not flag or isinstance(column[i], bool)
        }
        rows.append(
            ProfileRow(
                external_id=external_id,
                fields=fields,
                attributes=dict(zip(attribute_names, (c[i] for c in attribute_cells), strict=True)),
                email_verified=bool(email_verified[i]) and fields.get("email") is not None,
                phone_verified=bool(phone_verified[i]) and fields.get("phone") is not None,
                anonymous_ids=(str(anonymous[i]),) if anonymous[i] else (),
                ref=refs[i],
            )
        )
    return rows


__all__ = ["SUITE_COLUMNS", "prepare", "profile_rows", "unnormalised_reasons"]
