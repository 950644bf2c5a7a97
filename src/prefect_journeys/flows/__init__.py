"""Prefect flows: run_journey (one tick of one journey) and simulate-journeys."""
