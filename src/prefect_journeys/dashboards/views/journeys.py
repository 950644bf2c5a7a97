"""Journeys: the journey map (step graph with per-step counts and stage colours), the stage
funnel, the per-step and per-variant tables of ``analytics.report.journey_report`` (whole
history); then, for the period, channel and variant chosen: step statistics, the stage funnel,
time to convert, friction (largest drop-offs), targets vs actuals and the journey's NPS."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from prefect_journeys.dashboards import insights, loaders
from prefect_journeys.dashboards.journey_map import journey_dot
from prefect_journeys.dashboards.store import project_root
from prefect_journeys.dashboards.theme import stage_color
from prefect_journeys.dashboards.ui import chart, context, t, table

url, f = context()
st.title(t("page.journeys"))
definitions = loaders.project_journeys(str(project_root()))
known = sorted(set(loaders.choices(url)["journey_id"]) | set(definitions))
journey_id = f.journey or (known[0] if known else None)
if journey_id is None:
    st.info(t("journeys.pick"))
    st.stop()
if f.journey is None:
    st.caption(t("journeys.first"))
definition = definitions.get(journey_id)
steps = stages = None
holdouts: tuple[str, ...] = ("holdout",)
if definition is not None:
    steps = tuple(step.id for step in definition.steps)
    used = {step.stage for step in definition.steps if step.stage}
    stages = tuple(s for s in definition.settings.stages if s in used)
    stages += tuple(sorted(used - set(stages)))
    splits = [s for s in definition.steps if getattr(s, "kind", None) == "split"]
    holdouts = (
        tuple(sorted({v.variant for s in splits for v in s.split if v.is_holdout})) or holdouts
    )
report = loaders.journey_figures(url, journey_id, steps, stages, holdouts)

st.header(f"{journey_id}" + (f" — {definition.name}" if definition and definition.name else ""))
st.markdown(t("journeys.totals", **report["totals"]))
st.caption(t("journeys.all_time"))

st.subheader(t("journeys.map"))
if definition is not None:
    counts = {row["step_id"]: row for row in report["steps"]}
    st.graphviz_chart(journey_dot(definition, counts), width="stretch")
else:
    st.info(t("journeys.no_definition", journey=journey_id))

funnel = pd.DataFrame(report["funnel"])
if not funnel.empty:
    figure = go.Figure(
        go.Funnel(
            y=funnel["stage"],
            x=funnel["enrollments"],
            marker={"color": [stage_color(s) for s in funnel["stage"]]},
            textinfo="value+percent initial",
        )
    )
    figure.update_layout(title=t("journeys.funnel"), height=160 + 70 * len(funnel))
    chart(figure, "stage-funnel")
table(funnel, f"funnel-{journey_id}", title=t("journeys.funnel"))
table(pd.DataFrame(report["steps"]), f"steps-{journey_id}", title=t("journeys.steps"))
table(pd.DataFrame(report["variants"]), f"variants-{journey_id}", title=t("journeys.variants"))

# ----------------------------------------------------------------------------- the period's figures
selection = "".join(f" · {v}" for v in (f.channel, f.variant) if v)
st.header(t("journeys.period_stats", start=f.start, end=f.end, selection=selection))
targets = definition.targets if definition is not None else None
stats = loaders.journey_stats(
    url,
    journey_id,
    f.start,
    f.end,
    f.channel,
    f.variant,
    stages,
    None if targets is None else targets.model_dump_json(),
)
if not stats.funnel.empty:
    period_funnel = go.Figure(
        go.Funnel(
            y=stats.funnel["stage"],
            x=stats.funnel["enrollments"],
            marker={"color": [stage_color(s) for s in stats.funnel["stage"]]},
            textinfo="value+percent initial",
        )
    )
    period_funnel.update_layout(
        title=t("journeys.stage_funnel_period"), height=160 + 70 * len(stats.funnel)
    )
    chart(period_funnel, "stage-funnel-period")
table(stats.steps, f"step-stats-{journey_id}", title=t("journeys.steps"))

st.subheader(t("journeys.ttc"))
ttc = stats.time_to_convert
ttc_row = ttc.iloc[0] if len(ttc) else None
cards = st.columns(3)
cards[0].metric(t("journeys.ttc_count"), 0 if ttc_row is None else int(ttc_row["conversions"]))
cards[1].metric(
    t("journeys.ttc_median"),
    "—" if ttc_row is None else insights.duration(ttc_row["median_seconds"]),
)
cards[2].metric(
    t("journeys.ttc_p90"), "—" if ttc_row is None else insights.duration(ttc_row["p90_seconds"])
)

table(stats.drop_off.head(5), f"friction-{journey_id}", title=t("journeys.friction"))
if stats.gaps is None:
    st.subheader(t("journeys.gaps"))
    st.caption(t("journeys.no_targets"))
else:
    table(stats.gaps, f"gaps-{journey_id}", title=t("journeys.gaps"))

st.subheader(t("journeys.nps"))
score = insights.first_finite(stats.nps["nps"])
if score is None:
    st.caption(t("journeys.nps_none"))
else:
    st.metric(t("kpi.nps"), f"{score:+.1f}", border=True)
table(stats.nps, f"nps-{journey_id}")
