"""Deliverability & compliance: bounces, drops, spam reports, failures, suppressions and
quiet-hour deferrals by channel and day; opt-outs (consent withdrawals); the suppression list."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from prefect_journeys.dashboards import loaders
from prefect_journeys.dashboards.theme import channel_map
from prefect_journeys.dashboards.ui import chart, context, t, table

url, f = context()
data = loaders.deliverability(url, f.start, f.end, f.journey, f.channel, f.variant)
st.title(t("page.deliverability"))
st.caption(f"{f.start} – {f.end}")
labels = {
    "day": t("common.day"),
    "messages": t("common.count"),
    "channel": t("common.channel"),
    "kind": t("common.event"),
}

if not data.problems.empty:
    colours = channel_map(data.problems["channel"].unique())
    by_kind = data.problems.groupby(["kind", "channel"], as_index=False)["messages"].sum()
    chart(
        px.bar(
            by_kind,
            x="kind",
            y="messages",
            color="channel",
            color_discrete_map=colours,
            title=t("deliv.by_channel"),
            labels=labels,
        ),
        "problems-by-channel",
    )
    chart(
        px.bar(
            data.problems,
            x="day",
            y="messages",
            color="kind",
            pattern_shape="channel",
            title=t("deliv.problems"),
            labels=labels,
        ),
        "problems-by-day",
    )
table(data.problems, "delivery-problems", title=t("deliv.problems"))
table(data.by_channel, "delivery-by-channel", title=t("deliv.by_channel"))
table(data.deferrals, "deferrals", title=t("deliv.deferrals"))
if not data.optouts.empty:
    chart(
        px.bar(
            data.optouts,
            x="day",
            y="optouts",
            color="channel",
            color_discrete_map=channel_map(data.optouts["channel"].unique()),
            title=t("deliv.optouts"),
            labels=labels,
        ),
        "optouts",
    )
table(data.optouts, "optouts", title=t("deliv.optouts"))
table(data.suppressions, "suppressions", title=t("deliv.suppressions"))
