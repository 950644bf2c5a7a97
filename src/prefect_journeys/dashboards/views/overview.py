"""Overview: KPI cards (value, delta vs the previous period, daily sparkline), the customer-health
cards (NPS, churn rate, mean predicted CLV), messages sent per day by channel, and the KPI and
daily tables."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from prefect_journeys.dashboards import loaders
from prefect_journeys.dashboards.theme import channel_map
from prefect_journeys.dashboards.ui import (
    BAD_WHEN_UP,
    chart,
    context,
    format_delta,
    format_value,
    t,
    table,
)

url, f = context()
data = loaders.overview(url, f.start, f.end, f.journey, f.channel, f.variant)
st.title(t("page.overview"))
st.caption(f"{f.start} – {f.end} · " + t("overview.vs_previous", days=f.days))

columns = st.columns(5)
for index, kpi in enumerate(data.kpis):
    with columns[index % 5]:
        st.metric(
            t(f"kpi.{kpi.key}"),
            format_value(kpi),
            delta=format_delta(kpi),
            delta_color="inverse" if kpi.key in BAD_WHEN_UP else "normal",
            chart_data=[0.0 if v is None else v for v in kpi.trend],
            chart_type="area",
            border=True,
        )

health = loaders.health(url, f.start, f.end, f.journey)
columns = st.columns(5)
columns[0].metric(
    t("kpi.nps"),
    "—" if health.nps is None else f"{health.nps:+.1f}",
    help=t("overview.nps_help", replies=health.nps_replies),
    border=True,
)
columns[1].metric(
    t("kpi.churn_rate"),
    f"{health.churn.rate * 100:.1f}%",
    help=t("overview.churn_help", churned=health.churn.churned, customers=health.churn.customers),
    border=True,
)
columns[2].metric(
    t("kpi.mean_clv"),
    "—" if health.mean_clv is None else f"{health.mean_clv:,.2f}",
    help=t("overview.clv_help")
    if health.clv_refusal is None
    else t("overview.clv_refused", reason=health.clv_refusal),
    border=True,
)

if not data.sent_by_channel.empty:
    figure = px.bar(
        data.sent_by_channel,
        x="day",
        y="sent",
        color="channel",
        color_discrete_map=channel_map(data.sent_by_channel["channel"].unique()),
        title=t("overview.sent_by_channel"),
        labels={"day": t("common.day"), "sent": t("kpi.sent"), "channel": t("common.channel")},
    )
    chart(figure, "sent-by-channel")

kpi_rows = pd.DataFrame(
    [
        {
            "kpi": kpi.key,
            "label": t(f"kpi.{kpi.key}"),
            "value": kpi.value,
            "previous": kpi.previous,
            "delta": kpi.delta,
        }
        for kpi in data.kpis
    ]
)
table(kpi_rows, "kpis", title=t("overview.table"))
table(data.daily.reset_index(), "daily", title=t("overview.trend"))
