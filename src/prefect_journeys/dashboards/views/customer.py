"""Customer: the single customer view (the data ``journeys customer`` prints), found by id,
email or phone: profile, identities, consents, a timeline of events, messages and journeys."""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd
import plotly.express as px
import streamlit as st

from prefect_journeys.dashboards import loaders
from prefect_journeys.dashboards.theme import channel_map
from prefect_journeys.dashboards.ui import chart, context, t, table

url, _ = context()
st.title(t("page.customer"))
key = st.text_input(t("customer.search"), key="customer_key").strip()
if not key:
    st.info(t("customer.prompt"))
    st.stop()
view = loaders.customer(url, key)
if view is None:
    st.warning(t("customer.not_found", customer=key))
    st.stop()

name = " ".join(x for x in (view.profile.get("first_name"), view.profile.get("last_name")) if x)
st.header(f"{view.id} {name}".strip())
st.caption(t("customer.found_by", how=view.matched_by))
profile = [{"field": k, "value": v} for k, v in view.profile.items()]
profile += [{"field": "created_at", "value": view.created_at}]
profile += [{"field": "tags", "value": ", ".join(view.tags)}] if view.tags else []
profile += [{"field": f"attribute {k}", "value": v} for k, v in sorted(view.attributes.items())]
table(pd.DataFrame(profile).astype({"value": str}), "profile", title=t("customer.profile"))
table(
    pd.DataFrame([asdict(i) for i in view.identities]), "identities", title=t("customer.identities")
)
table(pd.DataFrame([asdict(c) for c in view.consents]), "consents", title=t("customer.consents"))

events = pd.DataFrame([asdict(e) for e in view.events])
if not events.empty:
    st.subheader(t("customer.timeline"))
    shown = events.assign(channel=events["channel"].fillna("(none)"))
    chart(
        px.scatter(
            shown,
            x="occurred_at",
            y="name",
            color="channel",
            color_discrete_map=channel_map(shown["channel"].unique()),
            hover_data=["journey_id", "step_id", "value"],
            labels={"occurred_at": t("common.day"), "name": t("common.event")},
        ),
        "timeline",
    )
table(events, "events", title=t("customer.events"))
table(pd.DataFrame([asdict(m) for m in view.messages]), "messages", title=t("customer.messages"))
table(pd.DataFrame([asdict(j) for j in view.journeys]), "journeys", title=t("customer.journeys"))
