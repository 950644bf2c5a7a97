"""Conditions and segments: as data (rules) and as SQL run inside the store (sql)."""
