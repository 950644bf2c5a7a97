"""The Streamlit dashboard (funnels, experiments, attribution, the customer view).

Empty in this version; analytics.report already computes the demo's figures.
"""
