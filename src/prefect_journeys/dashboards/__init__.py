"""The Streamlit dashboard: ``journeys dashboard`` serves :func:`app_path` (see docs/dashboard.md).

``app.py`` is the entry file (navigation and sidebar); ``views/`` holds the pages (UI only);
``loaders`` does all data loading (cached); ``kpis``, ``delivery``, ``quality`` and
``journey_map`` are the pure computations the pages show; ``i18n`` and ``theme`` hold the labels
(en, zh-CN) and the colours per stage and channel.
"""

from __future__ import annotations

from pathlib import Path


def app_path() -> Path:
    """The entry file to pass to ``streamlit run``."""
    return Path(__file__).resolve().parent / "app.py"


__all__ = ["app_path"]
