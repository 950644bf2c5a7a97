"""One colour per lifecycle stage and per channel, used by every chart of the dashboard.

A stage or channel keeps its colour on every page, so a reader who learnt "retention is teal"
on the journey map finds it teal in the funnel too. Unknown (custom) stages and channels get a
stable colour from a fallback palette, chosen by a hash of the name (not by draw order).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

STAGE_COLORS: dict[str, str] = {
    "awareness": "#4C78A8",  # blue: first contact
    "consideration": "#F58518",  # orange: weighing it up
    "decision": "#E45756",  # red: the moment of purchase
    "retention": "#2CA58D",  # teal: staying
    "advocacy": "#9D6FD0",  # violet: recommending
}
CHANNEL_COLORS: dict[str, str] = {
    "email": "#1F77B4",
    "sms": "#FF7F0E",
    "whatsapp": "#25D366",
    "webhook": "#7F7F7F",
}
FALLBACK = ("#8C564B", "#BCBD22", "#17BECF", "#E377C2", "#AEC7E8", "#98DF8A", "#C5B0D5")
NONE_COLOR = "#C7C7C7"  # no stage / no channel


def _fallback(name: str) -> str:
    index = int(hashlib.md5(name.encode()).hexdigest()[:8], 16) % len(FALLBACK)
    return FALLBACK[index]


def stage_color(stage: str | None) -> str:
    """The colour of a lifecycle stage (grey for none)."""
    if not stage:
        return NONE_COLOR
    return STAGE_COLORS.get(stage, _fallback(stage))


def channel_color(channel: str | None) -> str:
    """The colour of a channel (grey for none)."""
    if not channel:
        return NONE_COLOR
    return CHANNEL_COLORS.get(channel, _fallback(channel))


def stage_map(stages: Iterable[str | None]) -> dict[str, str]:
    """``color_discrete_map`` for Plotly Express over these stages."""
    return {str(s): stage_color(s) for s in stages}


def channel_map(channels: Iterable[str | None]) -> dict[str, str]:
    """``color_discrete_map`` for Plotly Express over these channels."""
    return {str(c): channel_color(c) for c in channels}


__all__ = [
    "CHANNEL_COLORS",
    "STAGE_COLORS",
    "channel_color",
    "channel_map",
    "stage_color",
    "stage_map",
]
