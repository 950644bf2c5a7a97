"""Data-quality figures (pure, over frames of the ``validations`` and ``quarantine`` tables).

* **validations by day** — per day and suite: runs, runs that passed (failed fraction within the
  suite's threshold), rows checked, rows failed, and the failed share = failed rows / rows.
* **quarantine reasons** — each quarantined row counts once per failed expectation it lists.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

VALIDATION_COLUMNS = ("suite", "target", "checked_at", "rows", "failed_rows", "passed")


def validations_by_day(validations: pd.DataFrame) -> pd.DataFrame:
    """``day, suite, runs, passed, rows, failed_rows, failed_share`` rows."""
    missing = [c for c in VALIDATION_COLUMNS if c not in validations.columns]
    if missing:
        raise ValueError(f"validations frame lacks column(s): {', '.join(missing)}")
    columns = ["day", "suite", "runs", "passed", "rows", "failed_rows", "failed_share"]
    if validations.empty:
        return pd.DataFrame(columns=columns)
    frame = validations.assign(
        day=pd.to_datetime(validations["checked_at"]).dt.floor("D"),
        passed=validations["passed"].astype(bool).astype("int64"),
    )
    out = (
        frame.groupby(["day", "suite"])
        .agg(
            runs=("suite", "size"),
            passed=("passed", "sum"),
            rows=("rows", "sum"),
            failed_rows=("failed_rows", "sum"),
        )
        .reset_index()
    )
    out["failed_share"] = out["failed_rows"] / out["rows"].astype("float64").replace(0, np.nan)
    return out[columns]


def quarantine_reasons(quarantine: pd.DataFrame) -> pd.DataFrame:
    """``reason, kind, rows``: quarantined rows per failed expectation, most frequent first."""
    if "reasons" not in quarantine.columns or "kind" not in quarantine.columns:
        raise ValueError("quarantine frame needs the columns kind and reasons")
    if quarantine.empty:
        return pd.DataFrame(columns=["reason", "kind", "rows"])
    exploded = quarantine[["kind", "reasons"]].explode("reasons").dropna(subset=["reasons"])
    exploded = exploded.assign(reason=exploded["reasons"].astype(str))
    return (
        exploded.groupby(["reason", "kind"])
        .size()
        .rename("rows")
        .reset_index()
        .sort_values(["rows", "reason"], ascending=[False, True])
        .reset_index(drop=True)
    )


__all__ = ["quarantine_reasons", "validations_by_day"]
