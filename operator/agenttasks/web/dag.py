"""A task's dependency graph as inline SVG: its ancestors (dependsOn, transitively) on the
left, its dependents on the right. Layered layout: a node's column is the longest chain of
dependencies before it; rows follow the mean row of its dependencies. Cycles (which the
operator reports as DependencyCycle) are drawn, as arcs below the nodes."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup

from agenttasks.core.dependencies import dependents_of

from .templating import render

NODE_W, NODE_H = 176, 42
GAP_X, GAP_Y, PAD = 56, 14, 12
ARC_DROP = 28  # how far below the nodes a backward (cycle) edge dips
LABEL_CHARS = 22
MISSING = "Missing"


@dataclass(frozen=True)
class PlacedNode:
    name: str
    column: int
    row: int
    x: int
    y: int
    phase: str
    exists: bool
    current: bool


@dataclass(frozen=True)
class PlacedEdge:
    source: str  # the dependency
    target: str  # the task that depends on it
    path: str
    backward: bool


@dataclass(frozen=True)
class Layout:
    nodes: tuple[PlacedNode, ...]
    edges: tuple[PlacedEdge, ...]
    width: int
    height: int
    truncated: bool


def neighbourhood(name: str, depends: Mapping[str, Sequence[str]], limit: int = 80
                  ) -> tuple[dict[str, tuple[str, ...]], bool]:
    """The tasks ``name`` depends on and those depending on it, transitively, each with its
    dependsOn restricted to the result. At most ``limit`` nodes; True when cut short."""
    dependents = dependents_of(depends)
    chosen: list[str] = [name]
    seen = {name}
    truncated = False
    for step in (depends, dependents):
        frontier = [name]
        while frontier:
            following: list[str] = []
            for node in frontier:
                for other in sorted(step.get(node, ())):
                    if other in seen:
                        continue
                    if len(chosen) >= limit:
                        truncated = True
                        continue
                    seen.add(other)
                    chosen.append(other)
                    following.append(other)
            frontier = following
    graph = {n: tuple(d for d in depends.get(n, ()) if d in seen) for n in chosen}
    return graph, truncated


def columns(graph: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Longest chain of dependencies before each node; edges closing a cycle are ignored."""
    depth: dict[str, int] = {}
    on_path: set[str] = set()

    def visit(node: str) -> int:
        if node in depth:
            return depth[node]
        on_path.add(node)
        deps = [d for d in graph.get(node, ()) if d in graph and d not in on_path]
        result = 1 + max((visit(d) for d in sorted(deps)), default=-1)
        on_path.discard(node)
        depth[node] = result
        return result

    for node in sorted(graph):
        visit(node)
    return depth


def rows(graph: Mapping[str, Sequence[str]], column: Mapping[str, int]) -> dict[str, int]:
    """Each node's row within its column: by the mean row of its dependencies placed to its
    left (fewer crossings), then by name."""
    row: dict[str, int] = {}
    for col in range(max(column.values(), default=-1) + 1):
        members = [n for n in graph if column[n] == col]

        def weight(node: str) -> tuple[float, str]:
            placed = [row[d] for d in graph.get(node, ()) if d in row]
            return (sum(placed) / len(placed) if placed else 0.0, node)

        for index, node in enumerate(sorted(members, key=weight)):
            row[node] = index
    return row


def layout(name: str, depends: Mapping[str, Sequence[str]], phases: Mapping[str, str],
           limit: int = 80) -> Layout:
    """Places ``name``'s neighbourhood. ``depends`` maps every known task to its dependsOn;
    a dependency missing from it is drawn as Missing."""
    graph, truncated = neighbourhood(name, depends, limit)
    column = columns(graph)
    row = rows(graph, column)
    nodes = tuple(
        PlacedNode(name=n, column=column[n], row=row[n], x=PAD + column[n] * (NODE_W + GAP_X),
                   y=PAD + row[n] * (NODE_H + GAP_Y), phase=phases.get(n, MISSING),
                   exists=n in depends, current=n == name)
        for n in sorted(graph, key=lambda n: (column[n], row[n])))
    at = {n.name: n for n in nodes}
    edges = tuple(_edge(at[dep], at[node]) for node in graph for dep in sorted(graph[node]))
    width = PAD * 2 + (max((n.column for n in nodes), default=0) + 1) * (NODE_W + GAP_X) - GAP_X
    tallest = max((n.row for n in nodes), default=0) + 1
    height = PAD * 2 + tallest * (NODE_H + GAP_Y) - GAP_Y
    if any(e.backward for e in edges):
        height += ARC_DROP
    return Layout(nodes, edges, width, height, truncated)


def _edge(source: PlacedNode, target: PlacedNode) -> PlacedEdge:
    if target.column > source.column:
        x1, y1 = source.x + NODE_W, source.y + NODE_H // 2
        x2, y2 = target.x, target.y + NODE_H // 2
        bend = max(GAP_X // 2, (x2 - x1) // 2)
        path = f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"
        return PlacedEdge(source.name, target.name, path, False)
    # Same or earlier column: only an edge that closes a cycle. Arc below both nodes.
    x1, y1 = source.x + NODE_W // 2, source.y + NODE_H
    x2, y2 = target.x + NODE_W // 2 + 8, target.y + NODE_H
    low = max(y1, y2) + ARC_DROP
    path = f"M{x1},{y1} C{x1},{low} {x2},{low} {x2},{y2}"
    return PlacedEdge(source.name, target.name, path, True)


def _label(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 1] + "\u2026"


def _css_word(text: str) -> str:
    return re.sub(r"[^A-Za-z]", "", text) or MISSING


@dataclass(frozen=True)
class DrawnNode:
    """A placed node with what the SVG shows of it."""

    node: PlacedNode
    label: str
    title: str
    css_phase: str
    href: str


def drawn(node: PlacedNode, link: Callable[[str], str],
          display_names: Mapping[str, str]) -> DrawnNode:
    """The node's label is its display name when it has one (else its name), shortened; the
    tooltip keeps both in full."""
    display = display_names.get(node.name, "")
    title = f"{display} ({node.name})" if display else node.name
    return DrawnNode(node=node, label=_label(display or node.name),
                     title=f"{title}: {node.phase}", css_phase=_css_word(node.phase),
                     href=link(node.name) if node.exists and not node.current else "")


def render_svg(graph: Layout, link: Callable[[str], str], title: str,
               display_names: Mapping[str, str] | None = None) -> Markup:
    """The layout as an inline SVG document fragment, from templates/dag.svg (escaped)."""
    names = display_names or {}
    return render("dag.svg", graph=graph, title=title, node_w=NODE_W, node_h=NODE_H,
                  nodes=[drawn(n, link, names) for n in graph.nodes])
