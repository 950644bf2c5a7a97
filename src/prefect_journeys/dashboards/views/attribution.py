"""Attribution: the period's conversions and revenue credited to channels, steps or messages by
every model side by side (first and last touch, linear, time decay, position based, Markov),
with the conversions no touch could explain."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from prefect_journeys.dashboards import loaders
from prefect_journeys.dashboards.theme import channel_map
from prefect_journeys.dashboards.ui import chart, context, t, table

KEYS = ("channel", "step", "message")

url, f = context()
st.title(t("page.attribution"))
left, middle, right = st.columns(3)
key = left.selectbox(t("attr.key"), KEYS, format_func=lambda k: t(f"attr.key.{k}"), key="attr-key")
lookback = middle.number_input(
    t("attr.lookback"), min_value=1, max_value=365, value=30, step=1, key="attr-lookback"
)
half_life = right.number_input(
    t("attr.half_life"), min_value=0.5, max_value=90.0, value=7.0, step=0.5, key="attr-half-life"
)
data = loaders.attribution(url, f.start, f.end, f.journey, key, float(lookback), float(half_life))
st.caption(
    t(
        "attr.scope",
        journey=f.journey or t("attr.all_journeys"),
        lookback=int(lookback),
    )
)
if data.unattributed_conversions:
    st.warning(
        t(
            "attr.unattributed",
            conversions=data.unattributed_conversions,
            revenue=data.unattributed_revenue,
            dimension=t(f"attr.key.{key}"),
        )
    )
if data.table.empty:
    st.info(t("attr.none"))
else:
    metric = st.radio(
        t("attr.metric"),
        ("conversions", "revenue"),
        format_func=lambda m: t(f"attr.{m}"),
        horizontal=True,
        key="attr-metric",
    )
    shown = data.table.assign(key=data.table["key"].astype(str))
    colours = channel_map(shown["key"].unique()) if key == "channel" else None
    figure = px.bar(
        shown,
        x="model",
        y=metric,
        color="key",
        barmode="group",
        color_discrete_map=colours,
        title=t("attr.chart"),
        labels={
            "model": t("common.model"),
            metric: t(f"attr.{metric}"),
            "key": t(f"attr.key.{key}"),
        },
    )
    chart(figure, "attribution-models")
table(data.table, f"attribution-{key}", title=t("attr.table"))
