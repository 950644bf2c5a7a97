"""Journeys as code: the language (model), loading with line numbers, checks, templates, plans."""
