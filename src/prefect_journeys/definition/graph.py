"""The step graph: which step leads where, what is reachable, processing order, wait-free loops.

Nodes are step ids; ``exit`` and targets that name no step are not nodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

Graph = Mapping[str, Sequence[str]]


def reachable(graph: Graph, start: str) -> set[str]:
    """Every step reachable from ``start`` (``start`` included)."""
    if start not in graph:
        return set()
    seen = {start}
    stack = [start]
    while stack:
        for target in graph[stack.pop()]:
            if target in graph and target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


def reverse_postorder(graph: Graph, start: str) -> list[str]:
    """Reverse postorder of a depth-first walk from ``start``, children in listed order.

    Ignoring back edges, for every edge A→B between reached steps A comes before B.
    """
    if start not in graph:
        return []
    post: list[str] = []
    seen = {start}
    stack: list[tuple[str, int]] = [(start, 0)]
    while stack:
        node, index = stack[-1]
        targets = [t for t in graph[node] if t in graph]
        if index < len(targets):
            stack[-1] = (node, index + 1)
            child = targets[index]
            if child not in seen:
                seen.add(child)
                stack.append((child, 0))
        else:
            stack.pop()
            post.append(node)
    post.reverse()
    return post


def loops_without(graph: Graph, pausing: Iterable[str]) -> list[list[str]]:
    """Cycles made only of steps that are not in ``pausing``, one list of steps per loop.

    Each list holds the steps of one strongly connected group, in graph (insertion) order.
    """
    stops = set(pausing)
    sub = {n: [t for t in ts if t in graph and t not in stops] for n, ts in graph.items()}
    sub = {n: ts for n, ts in sub.items() if n not in stops}
    reach = {n: _reach_from_children(sub, n) for n in sub}
    loops: list[list[str]] = []
    placed: set[str] = set()
    for node in sub:
        if node in placed or node not in reach[node]:
            continue
        group = [m for m in sub if m in reach[node] and node in reach[m]]
        placed.update(group)
        loops.append(group)
    return loops


def _reach_from_children(graph: Graph, node: str) -> set[str]:
    seen: set[str] = set()
    stack = list(graph[node])
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(graph[current])
    return seen
