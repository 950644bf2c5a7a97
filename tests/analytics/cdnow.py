"""The CDNOW transaction logs shipped inside the ``lifetimes`` package, as event frames.

``CDNOW_master.txt``: every purchase of the 23,570 customers who first bought at CDNOW in the
first quarter of 1997, until June 1998 (customer, date, number of CDs, dollars).
``CDNOW_sample.txt``: the 1/10 sample (2,357 customers) behind the published BG/NBD summary
(Fader, Hardie & Lee 2005), with the sample's own customer ids 1..2357.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd
import pytest

CALIBRATION_END = pd.Timestamp("1997-09-30")


def _read(name: str, columns: list[str]) -> pd.DataFrame:
    pytest.importorskip("lifetimes")  # the reference extra ships the data
    path = resources.files("lifetimes") / "datasets" / name
    with resources.as_file(path) as file:
        skip = 1 if name == "CDNOW_master.txt" else 0
        return pd.read_csv(
            file, sep=r"\s+", header=None, names=columns, skiprows=skip, dtype={"date": str}
        )


def transactions(sample: bool) -> pd.DataFrame:
    """``customer_id`` (str), ``occurred_at``, ``value`` rows, in file order."""
    if sample:
        raw = _read("CDNOW_sample.txt", ["master_id", "customer_id", "date", "cds", "value"])
    else:
        raw = _read("CDNOW_master.txt", ["customer_id", "date", "cds", "value"])
    return pd.DataFrame(
        {
            "customer_id": raw["customer_id"].astype(str),
            "occurred_at": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "value": raw["value"].astype(float),
        }
    )


def purchase_events(sample: bool) -> pd.DataFrame:
    """The transactions as ``purchase`` events of the events table, one order id each."""
    tx = transactions(sample)
    return pd.DataFrame(
        {
            "seq": range(1, len(tx) + 1),
            "customer_id": tx["customer_id"],
            "name": "purchase",
            "occurred_at": tx["occurred_at"],
            "value": tx["value"],
            "properties": [{"order_id": f"o{i}"} for i in range(len(tx))],
        }
    )
