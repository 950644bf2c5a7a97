"""Experiments: for each journey of the project with a split, the variants' conversion rates with
their intervals, the lift over the holdout, corrected p-values, the probability to be best, the
verdict in the chosen locale and, for bandit splits, how the traffic allocation moved."""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from prefect_journeys.dashboards import insights, loaders
from prefect_journeys.dashboards.store import project_root
from prefect_journeys.dashboards.ui import chart, context, locale, t, table

url, f = context()
st.title(t("page.experiments"))
definitions = loaders.project_journeys(str(project_root()))
splits = {
    journey_id: [s for s in journey.steps if getattr(s, "kind", None) == "split"]
    for journey_id, journey in sorted(definitions.items())
}
splits = {journey_id: steps for journey_id, steps in splits.items() if steps}
if not splits:
    st.info(t("exp.none"))
    st.stop()
choices = list(splits)
default = choices.index(f.journey) if f.journey in splits else 0
journey_id = st.selectbox(t("exp.journey"), choices, index=default, key="exp-journey")
steps = splits[journey_id]
for step in steps:
    st.caption(
        t(
            "exp.mode",
            step=step.id,
            mode=step.mode,
            variants=", ".join(f"{v.variant} {v.weight}%" for v in step.split),
        )
    )
holdouts = tuple(sorted({v.variant for s in steps for v in s.split if v.is_holdout})) or (
    "holdout",
)
data = loaders.experiment(url, journey_id, holdouts)
if data.table.empty:
    st.info(t("exp.no_data", journey=journey_id))
    st.stop()

st.subheader(t("exp.verdict"))
verdict = data.verdict.text(locale()).replace("\n", "\n\n")  # type: ignore[arg-type]
if data.verdict.status == "winner":
    st.success(verdict)
else:
    st.info(verdict)

bars = insights.error_bars(data.table)
figure = go.Figure(
    go.Bar(
        x=bars["variant"],
        y=bars["rate"],
        error_y={"type": "data", "array": bars["above"], "arrayminus": bars["below"]},
        marker={"color": ["#C7C7C7" if h else "#4C78A8" for h in bars["holdout"]]},
        text=[f"{r * 100:.1f}%" for r in bars["rate"]],
        textposition="inside",
        insidetextanchor="start",
    )
)
figure.update_layout(
    title=t("exp.rates"),
    yaxis={"tickformat": ".0%", "title": t("exp.rate")},
    xaxis={"title": t("common.variant")},
)
chart(figure, "experiment-rates")
table(data.table, f"experiment-{journey_id}", title=t("exp.table"))

if any(step.mode == "bandit" for step in steps):
    st.subheader(t("exp.allocation"))
    if data.allocation.empty:
        st.info(t("exp.no_allocation"))
    else:
        moved = px.line(
            data.allocation,
            x="occurred_at",
            y="weight",
            color="variant",
            line_shape="hv",
            markers=True,
            labels={
                "occurred_at": t("common.day"),
                "weight": t("exp.share"),
                "variant": t("common.variant"),
            },
        )
        chart(moved, "experiment-allocation")
        table(data.allocation, f"allocation-{journey_id}")
