"""Turning source cells into our values, a column at a time (pandas, no per-row SQL).

Each parser returns the converted column and a mask of the cells it could not convert (present
but unparseable); a missing cell is ``None``/``NaT``/``NaN`` and never "bad". Timestamps are ISO
8601 (``2026-03-02T09:30:00Z``, ``2026-03-02 09:30``, ``2026-03-02``); a timestamp without an
offset is in the source's ``timestamp_timezone`` (default UTC). We do not guess day/month orders:
``03/02/2026`` is rejected, not read one way or the other.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

# How a value of each attribute/property ``type`` is described in a refusal ("not <...>").
TYPE_WORDS = {
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "datetime": "a time (ISO 8601)",
    "text": "text",
    "auto": "a value",
}
TRUE_WORDS = frozenset({"true", "yes", "y", "1", "t"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "f"})
_WORDS = {**dict.fromkeys(TRUE_WORDS, True), **dict.fromkeys(FALSE_WORDS, False)}
_OFFSET = re.compile(r"(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$")


def _objects(series: pd.Series, values: list[Any]) -> pd.Series:
    return pd.Series(values, index=series.index, dtype=object)


def _cells(series: pd.Series) -> list[Any]:
    """The cells as Python values, missing ones (None/NaN/NaT/pd.NA) as None."""
    missing = series.isna().tolist()
    return [None if m else v for v, m in zip(series.tolist(), missing, strict=True)]


def present(series: pd.Series) -> pd.Series:
    """Cells holding a value (not None/NaN/NaT, not blank text)."""
    mask = series.notna()
    if is_text(series):
        mask &= series.str.strip().fillna("") != ""
    elif not (
        pd.api.types.is_numeric_dtype(series.dtype)
        or pd.api.types.is_datetime64_any_dtype(series.dtype)
    ):
        mask &= series.map(lambda v: not (isinstance(v, str) and not v.strip()))
    return mask.astype(bool)


def is_text(series: pd.Series) -> bool:
    """Every present cell is a ``str`` (pandas/Arrow string columns, CSV cells)."""
    if series.dtype != object and pd.api.types.is_string_dtype(series.dtype):
        return True
    return series.dtype == object and pd.api.types.infer_dtype(series, skipna=True) in (
        "string",
        "empty",
    )


def _text_column(series: pd.Series) -> pd.Series:
    """A text column trimmed, blank → None, as an object column (vectorised)."""
    stripped = series.str.strip()
    keep = stripped.notna() & (stripped != "")
    return stripped.astype(object).where(keep, None)


def keys(series: pd.Series) -> pd.Series:
    """Identifiers as trimmed text (``123`` and ``"123"`` are the same key); missing → None."""
    if is_text(series):
        return _text_column(series)
    if pd.api.types.is_integer_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return series.astype(str).astype(object)
    return _objects(series, [None if v is None else _key(v) for v in _cells(series)])


def too_long(series: pd.Series, limit: int) -> pd.Series:
    """Text cells longer than ``limit`` characters (a mapped column's store limit)."""
    if is_text(series):
        return (series.str.len() > limit).fillna(False).astype(bool)
    return series.map(lambda v: isinstance(v, str) and len(v) > limit).astype(bool)


def _key(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace") or None
    if isinstance(value, np.integer):
        return str(int(value))
    if isinstance(value, np.floating):
        return _key(float(value))
    return str(value)


def texts(series: pd.Series) -> pd.Series:
    """Text cells trimmed; numbers and others as their text; missing → None."""
    return keys(series)


def times(series: pd.Series, timezone: str = "UTC") -> tuple[pd.Series, pd.Series]:
    """Naive-UTC ``datetime64[ns]`` and the mask of cells that are not times."""
    given = series.notna()
    kind = series.dtype
    if isinstance(kind, pd.DatetimeTZDtype):
        out = series.dt.tz_convert("UTC").dt.tz_localize(None)
    elif pd.api.types.is_datetime64_dtype(kind):
        out = _localize(series, timezone)
    elif not pd.api.types.is_numeric_dtype(kind) and not pd.api.types.is_bool_dtype(kind):
        out = _object_times(_objects(series, _cells(series)), timezone)
    else:  # numbers, booleans: not a time (epoch numbers are ambiguous: seconds? ms?)
        out = pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns]")
    out = out.astype("datetime64[ns]")
    return out, given & out.isna()


def _localize(series: pd.Series, timezone: str) -> pd.Series:
    if timezone == "UTC":
        return series
    local = series.dt.tz_localize(ZoneInfo(timezone), ambiguous="NaT", nonexistent="NaT")
    return local.dt.tz_convert("UTC").dt.tz_localize(None)


def _object_times(series: pd.Series, timezone: str) -> pd.Series:
    out = pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns]")
    values = series[series.notna()]
    if values.empty:
        return out
    is_text = values.map(lambda v: isinstance(v, str)).astype(bool)
    text = values[is_text].astype(str).str.strip()
    if not text.empty:
        aware = text.str.contains(_OFFSET)
        if aware.any():
            parsed = pd.to_datetime(text[aware], format="ISO8601", utc=True, errors="coerce")
            out.loc[parsed.index] = parsed.dt.tz_localize(None)
        naive = text[~aware]
        if not naive.empty:
            parsed = pd.to_datetime(naive, format="ISO8601", errors="coerce")
            out.loc[parsed.index] = _localize(parsed, timezone)
    others = values[~is_text]
    if not others.empty:
        out.loc[others.index] = others.map(lambda v: _python_time(v, timezone))
    return out


def _python_time(value: Any, timezone: str) -> Any:
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=ZoneInfo(timezone))
        try:
            return pd.Timestamp(value.astimezone(UTC).replace(tzinfo=None))
        except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
            return pd.NaT
    if isinstance(value, date):
        return _python_time(datetime(value.year, value.month, value.day), timezone)
    if isinstance(value, np.datetime64):
        return pd.Timestamp(value)
    return pd.NaT


def numbers(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Floats (``12.50``, ``1e3``; not ``12,50``) and the mask of cells that are not numbers."""
    given = present(series)
    if pd.api.types.is_bool_dtype(series.dtype):
        out = pd.Series(np.nan, index=series.index, dtype="float64")
    elif pd.api.types.is_numeric_dtype(series.dtype):
        out = series.astype("float64")
    elif is_text(series):
        out = pd.to_numeric(_text_column(series), errors="coerce").astype("float64")
    else:
        cleaned = _objects(series, [None if v is None else _number_cell(v) for v in _cells(series)])
        out = pd.to_numeric(cleaned, errors="coerce").astype("float64")
    out = out.where(np.isfinite(out), np.nan)
    return out, given & out.isna()


def _number_cell(value: Any) -> Any:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, Decimal):
        return float(value)
    return value


def booleans(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """True/False from ``true/false/yes/no/y/n/1/0/t/f`` (any case) and real booleans; other
    values stay as they are (the suite names them) and are flagged in the mask."""
    if is_text(series):
        text = _text_column(series)
        words = text.str.lower()
        out = words.map(_WORDS).astype(object)
        unknown = text.notna() & out.isna()
        out = out.where(~unknown, text).where(text.notna(), None)
        return out, unknown.astype(bool)
    out = _objects(series, [None if v is None else _boolean(v) for v in _cells(series)])
    bad = out.map(lambda v: v is not None and not isinstance(v, bool)).astype(bool)
    return out, bad


def _boolean(value: Any) -> Any:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer) and value in (0, 1):
        return bool(value)
    if isinstance(value, float) and value in (0.0, 1.0):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        return value if word else None
    return value


def integers(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Whole numbers (as Python ints in an object column) and the mask of cells that are not."""
    floats, bad = numbers(series)
    values = [None if math.isnan(v) or not v.is_integer() else int(v) for v in floats.tolist()]
    bad = bad | (floats.notna() & pd.Series([v is None for v in values], index=series.index))
    return _objects(series, values), bad


def jsonable(value: Any) -> Any:
    """A cell as a JSON value: numpy scalars → Python, NaN/NaT → None, times → ISO text."""
    if value is None:
        return None
    if isinstance(value, str | bool):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, int):
        return value
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, Decimal):
        return jsonable(float(value))
    if value is pd.NaT:
        return None
    if isinstance(value, datetime | pd.Timestamp):
        if isinstance(value, pd.Timestamp) and pd.isna(value):
            return None
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v) for v in value]
    return str(value)


def typed(series: pd.Series, kind: str, timezone: str) -> tuple[pd.Series, pd.Series]:
    """A column converted to an attribute/property ``type`` (JSON-ready values) and its bad mask."""
    if kind == "text":
        return texts(series), pd.Series(False, index=series.index)
    if kind == "number":
        values, bad = numbers(series)
        return _objects(series, [None if math.isnan(v) else v for v in values.tolist()]), bad
    if kind == "integer":
        return integers(series)
    if kind == "boolean":
        values, bad = booleans(series)
        return _objects(series, [None if b else v for v, b in zip(values, bad, strict=True)]), bad
    if kind == "datetime":
        values, bad = times(series, timezone)
        iso = [None if pd.isna(v) else v.isoformat() for v in values.tolist()]
        return _objects(series, iso), bad
    fine = pd.Series(False, index=series.index)
    if is_text(series):
        return series.astype(object).where(series.notna(), None), fine
    kind_ = series.dtype
    if pd.api.types.is_float_dtype(kind_):
        return _objects(series, [None if v != v else v for v in series.tolist()]), fine
    exact = pd.api.types.is_integer_dtype(kind_) or pd.api.types.is_bool_dtype(kind_)
    if exact and not series.isna().any():
        return _objects(series, series.tolist()), fine
    return _objects(series, [jsonable(v) for v in _cells(series)]), fine


__all__ = [
    "TYPE_WORDS",
    "booleans",
    "integers",
    "is_text",
    "jsonable",
    "keys",
    "numbers",
    "present",
    "texts",
    "times",
    "too_long",
    "typed",
]
