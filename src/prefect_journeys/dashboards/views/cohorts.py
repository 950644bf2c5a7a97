"""Cohorts & CLV: monthly first-purchase cohorts and their retention, repeat rate, order value,
revenue per journey, churn (rate and Kaplan–Meier survival) and customer lifetime value from
the BG/NBD and Gamma-Gamma models (or why they cannot be fitted)."""

from __future__ import annotations

import math

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from prefect_journeys.dashboards import insights, loaders
from prefect_journeys.dashboards.ui import chart, context, t, table

url, f = context()
st.title(t("page.cohorts"))
churn_days = st.number_input(
    t("coh.churn_days"), min_value=1, max_value=730, value=90, step=1, key="coh-churn-days"
)
data = loaders.cohorts(url, f.end, float(churn_days))
st.caption(t("coh.scope", end=f.end))
if data.orders == 0:
    st.info(t("coh.none", end=f.end))
    st.stop()

cards = st.columns(5)
cards[0].metric(t("coh.orders"), f"{data.orders:,}", border=True)
cards[1].metric(t("coh.repeat_rate"), f"{data.repeat_rate * 100:.1f}%", border=True)
cards[2].metric(t("coh.aov"), f"{data.average_order_value:,.2f}", border=True)
cards[3].metric(
    t("coh.churn_rate"),
    f"{data.churn.rate * 100:.1f}%",
    help=t(
        "coh.churn_help",
        churned=data.churn.churned,
        customers=data.churn.customers,
        days=float(churn_days),
    ),
    border=True,
)
median = data.median_survival
cards[4].metric(
    t("coh.median_survival"), "—" if math.isinf(median) else f"{median:,.1f}", border=True
)

st.subheader(t("coh.retention"))
grid = insights.heatmap(data.retention.rates)
heat = px.imshow(
    grid,
    text_auto=".0%",
    color_continuous_scale="Teal",
    zmin=0,
    zmax=1,
    aspect="auto",
    labels={"x": t("coh.offset"), "y": t("coh.cohort"), "color": t("coh.retained")},
)
heat.update_xaxes(type="category")
heat.update_yaxes(type="category")
chart(heat, "retention-heatmap")
curve = data.retention.curve.reset_index()
line = px.line(
    curve,
    x="offset",
    y="retention",
    markers=True,
    title=t("coh.curve"),
    labels={"offset": t("coh.offset"), "retention": t("coh.retention")},
)
line.update_yaxes(tickformat=".0%", range=[0, 1.05])
chart(line, "retention-curve")
table(grid.rename(columns=str).reset_index(), "retention", title=t("coh.retention"))

table(
    data.revenue_per_journey.reset_index(),
    "revenue-per-journey",
    title=t("coh.revenue_per_journey"),
)

survival = data.survival.reset_index()
km = go.Figure(
    [
        go.Scatter(
            x=survival["timeline"],
            y=survival["upper"],
            line={"shape": "hv", "width": 0},
            showlegend=False,
            hoverinfo="skip",
        ),
        go.Scatter(
            x=survival["timeline"],
            y=survival["lower"],
            line={"shape": "hv", "width": 0},
            fill="tonexty",
            fillcolor="rgba(44,165,141,0.2)",
            name="95%",
        ),
        go.Scatter(
            x=survival["timeline"],
            y=survival["survival"],
            line={"shape": "hv", "color": "#2CA58D"},
            name=t("coh.survival_axis"),
        ),
    ]
)
km.update_layout(
    title=t("coh.survival"),
    xaxis={"title": t("coh.days")},
    yaxis={"title": t("coh.survival_axis"), "range": [0, 1.05], "tickformat": ".0%"},
)
chart(km, "churn-survival")

st.subheader(t("coh.clv"))
if data.clv is None:
    st.info(t("coh.clv_refused", reason=data.clv_refusal))
else:
    st.markdown(
        f"**{t('coh.params')}:** "
        + " · ".join(f"{name} = {value:.4g}" for name, value in data.clv_params.items())
    )
    left, right = st.columns(2)
    with left:
        chart(
            px.histogram(data.clv, x="clv", nbins=30, title=t("coh.clv_hist")),
            "clv-histogram",
        )
    with right:
        chart(
            px.histogram(
                data.clv, x="probability_alive", nbins=20, range_x=[0, 1], title=t("coh.alive_hist")
            ),
            "alive-histogram",
        )
    table(insights.top_customers(data.clv), "top-clv", title=t("coh.top"))
