"""Analytics as queries over the event table (the demo's journey report for now)."""
