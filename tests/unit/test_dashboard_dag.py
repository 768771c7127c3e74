"""The dependency graph's layout and SVG (pure functions)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from agenttasks.web.dag import (
    GAP_X,
    GAP_Y,
    NODE_H,
    NODE_W,
    PAD,
    columns,
    layout,
    neighbourhood,
    render_svg,
    rows,
)

# extract -> (clean, enrich) -> report -> publish; "other" is unrelated.
PIPELINE = {"extract": (), "clean": ("extract",), "enrich": ("extract",),
            "report": ("clean", "enrich"), "publish": ("report",), "other": ()}
SVG = "{http://www.w3.org/2000/svg}"


def test_neighbourhood_has_ancestors_and_descendants_only() -> None:
    graph, truncated = neighbourhood("clean", PIPELINE)
    assert set(graph) == {"clean", "extract", "report", "publish"}
    assert not truncated
    assert graph["report"] == ("clean",)  # enrich is not in clean's neighbourhood
    full, _ = neighbourhood("report", PIPELINE)
    assert set(full) == {"extract", "clean", "enrich", "report", "publish"}


def test_neighbourhood_is_capped() -> None:
    chain = {f"t{i}": (f"t{i - 1}",) if i else () for i in range(200)}
    graph, truncated = neighbourhood("t100", chain, limit=10)
    assert len(graph) == 10 and truncated
    assert "t100" in graph


def test_columns_are_the_longest_chain_before_a_node() -> None:
    graph, _ = neighbourhood("report", PIPELINE)
    assert columns(graph) == {"extract": 0, "clean": 1, "enrich": 1, "report": 2, "publish": 3}
    # a shortcut edge does not pull a node left
    assert columns({"a": (), "b": ("a",), "c": ("a", "b")}) == {"a": 0, "b": 1, "c": 2}


def test_columns_survive_cycles() -> None:
    cols = columns({"a": ("c",), "b": ("a",), "c": ("b",)})
    assert sorted(cols.values()) == [0, 1, 2]


def test_rows_follow_dependencies() -> None:
    graph = {"x": (), "y": (), "a": ("y",), "b": ("x",)}
    cols = columns(graph)
    placed = rows(graph, cols)
    assert placed["x"] == 0 and placed["y"] == 1
    assert placed["b"] == 0 and placed["a"] == 1  # b sits next to x, a next to y


def test_layout_positions_and_size() -> None:
    phases = {"extract": "Completed", "clean": "InProgress", "enrich": "Pending",
              "report": "Pending", "publish": "Pending"}
    placed = layout("report", PIPELINE, phases)
    at = {n.name: n for n in placed.nodes}
    assert at["extract"].x == PAD and at["report"].x == PAD + 2 * (NODE_W + GAP_X)
    assert at["report"].current and not at["clean"].current
    assert at["extract"].phase == "Completed"
    assert placed.width == PAD * 2 + 4 * NODE_W + 3 * GAP_X
    assert placed.height == PAD * 2 + 2 * NODE_H + GAP_Y  # clean and enrich share a column
    assert {(e.source, e.target) for e in placed.edges} == {
        ("extract", "clean"), ("extract", "enrich"), ("clean", "report"),
        ("enrich", "report"), ("report", "publish")}
    assert not any(e.backward for e in placed.edges)
    # edges go from the dependency's right side to the dependent's left side
    edge = next(e for e in placed.edges if e.target == "publish")
    assert edge.path.startswith(f"M{at['report'].x + NODE_W},")
    assert edge.path.endswith(f"{at['publish'].x},{at['publish'].y + NODE_H // 2}")


def test_missing_dependency_and_cycle_are_drawn() -> None:
    placed = layout("a", {"a": ("ghost", "b"), "b": ("a",)}, {"a": "Failed", "b": "Pending"})
    at = {n.name: n for n in placed.nodes}
    assert at["ghost"].phase == "Missing" and not at["ghost"].exists
    assert any(e.backward for e in placed.edges)


def test_svg_is_well_formed_escaped_and_links_other_tasks() -> None:
    depends = {"a<b": (), "t": ("a<b",)}
    placed = layout("t", depends, {"a<b": "Completed", "t": 'Pending"><script>'})
    svg = render_svg(placed, lambda n: f"/tasks/ns/{n}", 'graph of "t"')
    assert "<script>" not in svg
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.get("aria-label") == 'graph of "t"'
    groups = {g.get("data-task"): g for g in root.iter(f"{SVG}g")}
    assert set(groups) == {"a<b", "t"}
    assert "current" in (groups["t"].get("class") or "")
    links = [a.get("href") for a in root.iter(f"{SVG}a")]
    assert links == ["/tasks/ns/a<b"]  # the current task links nowhere
    assert "phase-Completed" in (groups["a<b"].get("class") or "")
    assert "phase-Pendingscript" in (groups["t"].get("class") or "")  # letters only
    assert len(list(root.iter(f"{SVG}path"))) == 2  # one edge plus the arrow head


def test_long_names_are_shortened_in_labels_but_kept_in_titles() -> None:
    name = "a-very-long-task-name-that-does-not-fit"
    svg = render_svg(layout(name, {name: ()}, {name: "Pending"}), str, "g")
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts[0] is not None and texts[0].endswith("\u2026") and len(texts[0]) == 22
    assert [t.text for t in root.iter(f"{SVG}title")] == [f"{name}: Pending"]


def test_labels_are_display_names_when_there_are_some() -> None:
    depends = {"extract": (), "report": ("extract",)}
    placed = layout("report", depends, {"extract": "Completed", "report": "Pending"})
    svg = render_svg(placed, str, "g", {"extract": "Extract <the> rows"})
    root = ET.fromstring(svg)
    groups = {g.get("data-task"): g for g in root.iter(f"{SVG}g")}
    texts = [t.text for t in groups["extract"].iter(f"{SVG}text")]
    assert texts == ["Extract <the> rows", "Completed"]
    assert [t.text for t in groups["extract"].iter(f"{SVG}title")] == [
        "Extract <the> rows (extract): Completed"]
    assert [t.text for t in groups["report"].iter(f"{SVG}text")] == ["report", "Pending"]
