"""Small helpers the pages share: labels in the chosen locale, the current selection, tables
with a CSV download, number formats and the empty-store guidance. No data loading here."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from prefect_journeys.dashboards.filters import Filters
from prefect_journeys.dashboards.i18n import DEFAULT_LOCALE, tr
from prefect_journeys.dashboards.kpis import Kpi
from prefect_journeys.dashboards.store import StoreState, display_url

LOCALE_KEY = "locale"
FILTERS_KEY = "filters"
URL_KEY = "store_url"
BAD_WHEN_UP = ("unsubscribe_rate", "bounce_rate", "spam_rate")


def locale() -> str:
    return str(st.session_state.get(LOCALE_KEY, DEFAULT_LOCALE))


def t(key: str, **values: object) -> str:
    """The label ``key`` in the sidebar's locale."""
    return tr(key, locale(), **values)


def context() -> tuple[str, Filters]:
    """The store URL and the sidebar's selection (set by the entry file before a page runs).

    Without a selection (the store is missing or empty: the entry file showed guidance instead)
    the page stops here, before loading anything."""
    selection = st.session_state.get(FILTERS_KEY)
    if selection is None:
        st.stop()
    return str(st.session_state[URL_KEY]), selection


def _cell(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in sorted(value.items()))
    return value


def table(frame: pd.DataFrame, name: str, *, title: str | None = None) -> None:
    """``frame`` as a table with an explicit CSV download button (key ``download-<name>``)."""
    if title:
        st.subheader(title)
    shown = frame.copy()
    for column in shown.columns:
        if shown[column].dtype == object:
            shown[column] = shown[column].map(_cell)
    if shown.empty:
        st.caption(t("guide.no_rows"))
    else:
        st.dataframe(shown, hide_index=True, width="stretch")
    st.download_button(
        t("common.download") + f" · {name}.csv",
        data=shown.to_csv(index=False).encode("utf-8"),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=f"download-{name}",
        on_click="ignore",
    )


def chart(figure: Any, key: str) -> None:
    """A Plotly figure, full width, with our margins."""
    figure.update_layout(margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend_title_text="")
    st.plotly_chart(figure, width="stretch", key=key)


def format_value(kpi: Kpi) -> str:
    if kpi.value is None:
        return "—"
    if kpi.kind == "rate":
        return f"{kpi.value * 100:.1f}%"
    if kpi.kind == "money":
        return f"{kpi.value:,.2f}"
    return f"{int(kpi.value):,}"


def format_delta(kpi: Kpi) -> str | None:
    delta = kpi.delta
    if delta is None:
        return None
    if kpi.kind == "rate":
        return f"{delta * 100:+.1f} pp"
    if kpi.kind == "money":
        return f"{delta:+,.2f}"
    return f"{int(delta):+,}"


def guidance(state: StoreState) -> None:
    """What to do when the store is missing or empty (instead of any figure)."""
    where = display_url(state.url)
    key = "guide.missing" if state.state == "missing" else "guide.empty"
    st.warning(t(key, where=where))
    st.markdown(t("guide.how"))
    if state.detail:
        st.caption(state.detail)


__all__ = [
    "FILTERS_KEY",
    "LOCALE_KEY",
    "URL_KEY",
    "chart",
    "context",
    "format_delta",
    "format_value",
    "guidance",
    "locale",
    "t",
    "table",
]
