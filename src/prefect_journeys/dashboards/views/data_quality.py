"""Data quality: Great Expectations validation runs over time (failed-row share per suite and
day) and the rows kept in quarantine, with their reasons."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from prefect_journeys.dashboards import loaders
from prefect_journeys.dashboards.ui import chart, context, t, table

url, _ = context()
data = loaders.data_quality(url)
st.title(t("page.data_quality"))
st.caption(f"{data.start} – {data.end} · " + t("dq.window"))

if data.by_day.empty:
    st.info(t("dq.none"))
else:
    figure = px.bar(
        data.by_day.assign(day=data.by_day["day"].dt.strftime("%Y-%m-%d")),  # one bar group a day
        x="day",
        y="failed_share",
        color="suite",
        barmode="group",
        title=t("dq.failed_share"),
        labels={"day": t("common.day"), "failed_share": t("dq.failed_share")},
    )
    figure.update_xaxes(type="category")
    figure.update_yaxes(tickformat=".0%", rangemode="tozero")
    chart(figure, "failed-share")
table(data.by_day, "validations-by-day", title=t("dq.failed_share"))
table(data.runs, "validations", title=t("dq.validations"))
if not data.reasons.empty:
    chart(
        px.bar(
            data.reasons,
            x="rows",
            y="reason",
            color="kind",
            orientation="h",
            title=t("dq.reasons"),
            labels={"rows": t("common.count"), "reason": t("common.reason")},
        ),
        "quarantine-reasons",
    )
table(data.reasons, "quarantine-reasons", title=t("dq.reasons"))
table(data.quarantine, "quarantine", title=t("dq.quarantine"))
