"""The journey map: a journey's step graph as Graphviz DOT, with per-step counts and stage colours.

Each step is a box filled with its stage's colour (grey without a stage) labelled with its id,
its kind (and channel for sends) and, when counts are given, how many customers entered it and
how many messages it sent. Edges follow the definition: ``next``, split variants (labelled with
the variant and weight), branch cases (``when`` / ``else``), ``wait_for`` outcomes (``event`` /
``timeout``). A step with nowhere to go ends the journey (the ``end`` node); ``exit`` targets go
to the ``exit`` node.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prefect_journeys.dashboards.theme import stage_color
from prefect_journeys.definition.model import Journey

END, EXIT = "__end__", "__exit__"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _edges(step: Any) -> list[tuple[str, str | None]]:
    """(target, label) pairs of one step, ``exit`` and dead ends mapped to the end nodes."""
    kind = getattr(step, "kind", "")
    pairs: list[tuple[str | None, str | None]]
    if kind == "split":
        pairs = [(v.next, f"{v.variant} {v.weight}%") for v in step.split]
    elif kind == "branch":
        pairs = [(c.next, "when") for c in step.cases] + [(step.otherwise, "else")]
    elif kind == "wait_for":
        pairs = [(step.on_event, "event"), (step.on_timeout, "timeout")]
    elif kind == "exit":
        return [(EXIT, None)]
    else:
        pairs = [(getattr(step, "next", None), None)]
    out: list[tuple[str, str | None]] = []
    for target, label in pairs:
        if target == "exit":
            out.append((EXIT, label))
        elif target is None:
            out.append((END, label))
        else:
            out.append((target, label))
    return out


def _label(step: Any, counts: Mapping[str, Any] | None) -> str:
    kind = getattr(step, "kind", "")
    detail = f"{kind} · {step.send.channel}" if kind == "send" else kind
    lines = [str(step.id), detail]
    if counts is not None:
        figures = f"entered {int(counts.get('entered', 0))}"
        if kind == "send":
            figures += f" · sent {int(counts.get('sent', 0))}"
        lines.append(figures)
    return "\\n".join(line.replace("\\", "/").replace('"', "'") for line in lines)


def journey_dot(
    journey: Journey, step_counts: Mapping[str, Mapping[str, Any]] | None = None
) -> str:
    """DOT source of the journey map; ``step_counts`` maps step id → ``{"entered", "sent", ...}``
    (the rows of :func:`prefect_journeys.analytics.report.step_counts`)."""
    lines = [
        "digraph journey {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="sans-serif", fontsize=11];',
        '  edge [fontname="sans-serif", fontsize=9];',
    ]
    used_ends: set[str] = set()
    for step in journey.steps:
        counts = step_counts.get(step.id, {}) if step_counts is not None else None
        fill = stage_color(step.stage)
        font = "white" if step.stage else "black"
        lines.append(
            f'  {_quote(step.id)} [label="{_label(step, counts)}", fillcolor="{fill}",'
            f' fontcolor="{font}"];'
        )
        for target, label in _edges(step):
            if target in (END, EXIT):
                used_ends.add(target)
            attrs = f" [label={_quote(label)}]" if label else ""
            lines.append(f"  {_quote(step.id)} -> {_quote(target)}{attrs};")
    for node, text in ((END, "end"), (EXIT, "exit")):
        if node in used_ends:
            lines.append(f'  {_quote(node)} [label="{text}", shape=oval, style=dashed];')
    lines.append("}")
    return "\n".join(lines)


__all__ = ["journey_dot"]
