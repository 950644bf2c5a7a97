"""The dashboard's pages: scripts run by ``st.navigation`` (UI only; data from ``loaders``).

Not named ``pages/``: Streamlit treats a ``pages/`` folder next to the entry file as a legacy
multi-page app, which breaks reruns under ``st.navigation`` (a second run renders nothing).
"""
