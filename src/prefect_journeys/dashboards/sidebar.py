"""The sidebar: language, store, and the filters every page reads (journey, period, channel,
variant). Widget keys start with ``f_`` so tests can set them."""

from __future__ import annotations

from datetime import date

import streamlit as st

from prefect_journeys.dashboards import loaders
from prefect_journeys.dashboards.filters import Filters, default_period
from prefect_journeys.dashboards.i18n import LOCALES, env_locale
from prefect_journeys.dashboards.ui import FILTERS_KEY, LOCALE_KEY, t

LOCALE_NAMES = {"en": "English", "zh-CN": "简体中文"}


def language() -> str:
    """The locale selector (default ``$JOURNEYS_LOCALE``); the choice is kept in the session."""
    default = env_locale()
    choice = st.sidebar.selectbox(
        t("app.locale"),  # in the current language: no CJK glyphs needed in an English page
        LOCALES,
        index=LOCALES.index(default),
        format_func=lambda code: LOCALE_NAMES.get(code, code),
        key=LOCALE_KEY,
    )
    return str(choice)


def _pick(label: str, options: list[str], key: str) -> str | None:
    choice = st.sidebar.selectbox(
        label,
        [None, *options],
        format_func=lambda v: t("filter.all") if v is None else str(v),
        key=key,
    )
    return None if choice is None else str(choice)


def filters(url: str) -> Filters:
    """Draw the filters and return the selection (also stored in the session for the pages)."""
    st.sidebar.header(t("filter.header"))
    options = loaders.choices(url)
    first, last = loaders.bounds(url)
    journey = _pick(t("filter.journey"), options["journey_id"], "f_journey")
    start, end = default_period(last)
    low = min(first or start, start)
    picked = st.sidebar.date_input(
        t("filter.period"), value=(start, end), min_value=low, max_value=end, key="f_period"
    )
    days = [d for d in (picked if isinstance(picked, tuple | list) else [picked]) if d]
    if days and isinstance(days[0], date):
        start = days[0]
        end = days[-1] if len(days) > 1 else days[0]
    channel = _pick(t("filter.channel"), options["channel"], "f_channel")
    variant = _pick(t("filter.variant"), options["variant"], "f_variant")
    if st.sidebar.button("↻", help="reload the figures", key="f_refresh"):
        loaders.clear()
    selection = Filters(start, end, journey, channel, variant)
    st.session_state[FILTERS_KEY] = selection
    return selection


__all__ = ["filters", "language"]
