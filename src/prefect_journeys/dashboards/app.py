"""The dashboard's entry file (``streamlit run``): sidebar, navigation and the page to show.

Run it with ``journeys dashboard``. The store comes from ``$JOURNEYS_DATABASE_URL`` (see
:mod:`prefect_journeys.dashboards.store`); a missing or empty store shows guidance on every page.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from prefect_journeys.dashboards import loaders, sidebar
from prefect_journeys.dashboards.store import display_url, store_url
from prefect_journeys.dashboards.ui import FILTERS_KEY, URL_KEY, guidance, t

VIEWS = Path(__file__).resolve().parent / "views"
PAGE_FILES = (
    ("overview", "page.overview", ":material/dashboard:"),
    ("journeys", "page.journeys", ":material/account_tree:"),
    ("experiments", "page.experiments", ":material/science:"),
    ("attribution", "page.attribution", ":material/call_split:"),
    ("cohorts", "page.cohorts", ":material/groups:"),
    ("deliverability", "page.deliverability", ":material/mark_email_read:"),
    ("data_quality", "page.data_quality", ":material/rule:"),
    ("customer", "page.customer", ":material/person_search:"),
)


def main() -> None:
    st.set_page_config(page_title="Customer journeys", layout="wide")
    sidebar.language()
    url = store_url()
    st.session_state[URL_KEY] = url
    pages = [  # the first page is the default one, served at the root
        st.Page(
            VIEWS / f"{name}.py",
            title=t(label),
            icon=icon,
            url_path=None if i == 0 else name,
            default=i == 0,
        )
        for i, (name, label, icon) in enumerate(PAGE_FILES)
    ]
    page = st.navigation(pages)
    state = loaders.state(url)
    st.sidebar.caption(f"{t('app.store')}: {display_url(url)}")
    if not state.ready:
        st.session_state.pop(FILTERS_KEY, None)
        st.title(page.title)
        guidance(state)
        return
    sidebar.filters(url)
    page.run()


main()
